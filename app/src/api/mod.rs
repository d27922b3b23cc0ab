//! The UI's server functions, under `/sfn`: thin — find the caller, call the service, map the error.
//! Authorisation happens in the service layer, exactly as for the REST routes.

mod admin;
mod error;
mod jobs;
mod session;

pub use admin::*;
pub use error::AppError;
pub use jobs::*;
pub use session::*;

/// What the server puts in every server function's context (server only).
#[cfg(feature = "ssr")]
pub mod context {
    use crate::service::{Caller, Engine, Origin};

    #[derive(Clone)]
    pub struct RequestContext {
        pub engine: Engine,
        /// The signed-in user, from the session cookie.
        pub caller: Option<Caller>,
        /// The session cookie's secret, for sign-out.
        pub session_secret: Option<String>,
        pub origin: Origin,
        /// Mark cookies `Secure` (the request came over TLS).
        pub secure: bool,
        /// Lifetime of a UI session.
        pub session_ttl: chrono::Duration,
        /// How long events, audit records and exports are kept.
        pub kept_for: crate::domain::KeptFor,
        /// The internal commands' runner.
        pub commands: crate::service::commands::CommandRunner,
        /// Room a large read took, kept by the server until the answer has been sent.
        pub room: crate::service::step_room::RoomSlot,
    }

    pub fn request() -> Result<RequestContext, super::AppError> {
        leptos::prelude::use_context::<RequestContext>()
            .ok_or_else(|| super::AppError::Internal("the server is not ready".into()))
    }

    /// The signed-in caller, or a 401.
    pub fn caller() -> Result<(Engine, Caller), super::AppError> {
        let ctx = request()?;
        let caller = ctx.caller.ok_or(super::AppError::Unauthorized(
            "your session has ended; sign in again".into(),
        ))?;
        Ok((ctx.engine, caller))
    }
}
