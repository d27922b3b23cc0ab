//! The service's error: what went wrong in terms a caller can act on. Mapped once to HTTP
//! (problem+json) and once to the UI's server-function errors.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A problem with one field of the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input: 400, naming the fields.
    #[error("{}", invalid_detail(.0))]
    Invalid(Vec<FieldError>),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the state forbids it: 409.
    #[error("{message}")]
    Conflict { message: String, ids: Vec<Uuid> },
    /// The same `Idempotency-Key` with a different request: 422.
    #[error("{0}")]
    IdempotencyMismatch(String),
    /// Not signed in, or the credentials are bad: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in but not allowed: 403.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed sign-ins: 429.
    #[error("{0}")]
    TooManyRequests(String),
    /// The database cannot take work right now (unreachable, restarting, out of connections, or the
    /// connection broke): 503, try again. The cause is logged, never shown.
    #[error("the database is not answering right now; try again in a moment")]
    Unavailable(String),
    /// A fault of ours; the cause is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

fn invalid_detail(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn conflict(message: impl Into<String>) -> ServiceError {
        ServiceError::Conflict {
            message: message.into(),
            ids: Vec::new(),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> ServiceError {
        // The database's words stay in the log.
        // A value no check named that the database cannot hold: text with a NUL character (22021),
        // a time out of its range (22008), a number out of range (22003). Only a caller's value can
        // get there, so it is the caller's 400, not our 500.
        if let sqlx::Error::Database(d) = &e {
            let message = match d.code().as_deref() {
                Some("22021") => Some("contains a character that cannot be stored (NUL)"),
                Some("22008") => Some("contains a time out of the supported range"),
                Some("22003") => Some("contains a number out of the supported range"),
                _ => None,
            };
            if let Some(message) = message {
                tracing::info!(error = %e, "refused a value the database cannot hold");
                return ServiceError::invalid("request", message);
            }
        }
        if database_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ServiceError::Unavailable(e.to_string());
        }
        tracing::error!(error = %e, "database error");
        ServiceError::Internal(e.to_string())
    }
}

/// Whether an error says the database cannot take work now, rather than that the request or our
/// code is wrong: no connection could be had in time, the connection broke, or the server is
/// starting, shutting down or out of resources (SQLSTATE classes 08, 53 and 57P).
pub(crate) fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        }),
        _ => false,
    }
}
