//! Wire types shared by the REST API, the server functions and the UI.

mod access;
mod input;
mod job;
pub mod limits;
mod tree;

pub use access::*;
pub use input::*;
pub use job::*;
pub use tree::*;
