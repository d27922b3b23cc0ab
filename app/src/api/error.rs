//! The server functions' error: the service's refusals, in words a person understands.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The server is up but its database is not answering: try again shortly.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// The request did not reach the server or its answer was unreadable.
    #[error("the server could not be reached ({0})")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<crate::service::ServiceError> for AppError {
    fn from(e: crate::service::ServiceError) -> AppError {
        use crate::service::ServiceError as S;
        let text = e.to_string();
        match e {
            S::Invalid(_) | S::IdempotencyMismatch(_) => AppError::Invalid(text),
            S::NotFound(_) => AppError::NotFound(text),
            S::Conflict { .. } => AppError::Conflict(text),
            S::Unauthorized(_) => AppError::Unauthorized(text),
            S::Forbidden(_) => AppError::Forbidden(text),
            S::TooManyRequests(_) => AppError::TooManyRequests(text),
            S::Unavailable(_) => AppError::Unavailable(
                "the server cannot reach its database right now; try again in a moment".into(),
            ),
            S::Internal(cause) => {
                tracing::error!(%cause, "internal error in a server function");
                AppError::Internal("something went wrong on the server; it has been logged".into())
            }
        }
    }
}

impl AppError {
    /// The session is gone: the UI should show the sign-in page.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, AppError::Unauthorized(_))
    }
}
