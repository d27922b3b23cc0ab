//! Wire types shared by the REST API, the server functions and the UI.

mod input;
mod job;
pub mod limits;
mod tree;

pub use input::*;
pub use job::*;
pub use tree::*;
