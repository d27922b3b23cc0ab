//! Wire types shared by the REST API, the server functions and the UI.

mod access;
mod event;
mod input;
mod job;
pub mod limits;
mod settings;
mod tree;
pub mod wording;

pub use access::*;
pub use event::*;
pub use input::*;
pub use job::*;
pub use settings::*;
pub use tree::*;
