//! The one service layer: every rule of SPEC §1 and every query, behind the REST routes, the UI's
//! server functions and (later) the oVirt layer. Free of HTTP: callers pass who they are and what
//! they ask; each operation is one transaction.

mod error;
mod idempotency;
mod jobs;
mod rows;
mod steps;
pub mod users;

pub use error::{FieldError, ServiceError};
pub use idempotency::IdempotencyKey;
pub use jobs::Page;

use sqlx::PgPool;
use uuid::Uuid;

/// Who is asking: an authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
}

/// The engine: a handle on the store, cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    pool: PgPool,
}

impl Engine {
    pub fn new(pool: PgPool) -> Engine {
        Engine { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The database's version string, proving a round trip.
    pub async fn database_version(&self) -> Result<String, ServiceError> {
        let version: String = sqlx::query_scalar("select split_part(version(), ' on ', 1)")
            .fetch_one(&self.pool)
            .await?;
        Ok(version)
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
