//! The one service layer: every rule of SPEC §1 and every query, behind the REST routes, the UI's
//! server functions and (later) the oVirt layer. Free of HTTP: callers pass who they are and what
//! they ask; each operation is one transaction.

mod admin;
mod audit;
mod auth_cache;
mod change_batch;
pub mod commands;
mod error;
pub mod events;
mod group_commit;
mod idempotency;
pub mod jobs;
pub mod maintenance;
mod rows;
mod settings;
mod step_batch;
pub mod step_room;
mod steps;
pub mod users;

pub use audit::Origin;
pub use auth_cache::CredentialChanges;
pub use commands::{steps_by_job, MAX_STEPS_PER_LOAD};
pub use error::{FieldError, ServiceError};
pub use idempotency::IdempotencyKey;
pub use jobs::Page;

use sqlx::PgPool;

use crate::domain::{ActionGroup, Me};
use uuid::Uuid;

/// Who is asking: an authenticated user and what their roles allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
    pub groups: Vec<ActionGroup>,
}

impl Caller {
    pub fn can(&self, group: ActionGroup) -> bool {
        self.groups.contains(&group)
    }

    /// The one authorisation check: every service operation calls it (or [`Caller::may_change_job`])
    /// first, so the REST routes, the UI's server functions and the oVirt layer enforce the same rules.
    pub fn require(&self, group: ActionGroup) -> Result<()> {
        if self.can(group) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs the {group} permission, which none of your roles grants"
            )))
        }
    }

    /// A caller changes the jobs it owns (with INJECT_EXTERNAL_TASKS), or any job with MANAGE_TASKS.
    pub fn may_change_job(&self, job_id: Uuid, owner: Uuid) -> Result<()> {
        if self.can(ActionGroup::ManageTasks) {
            return Ok(());
        }
        self.require(ActionGroup::InjectExternalTasks)?;
        if owner == self.user_id {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "job {job_id} belongs to another user; changing it needs the MANAGE_TASKS permission"
            )))
        }
    }

    /// The engine acting for itself, on behalf of `user` (an internal command's bookkeeping, after the
    /// invoking caller was authorised). Never built from a request.
    pub(crate) fn engine_for(user_id: Uuid, username: &str) -> Caller {
        Caller {
            user_id,
            username: username.to_owned(),
            groups: ActionGroup::ALL.to_vec(),
        }
    }

    pub fn me(&self) -> Me {
        Me {
            id: self.user_id,
            username: self.username.clone(),
            action_groups: self.groups.clone(),
        }
    }
}

/// The engine: a handle on the store, cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    pool: PgPool,
    /// This server process, for the liveness of its internal jobs (None: not registered).
    process_id: Option<Uuid>,
    /// New running steps of concurrent requests, written in shared calls.
    step_batcher: std::sync::Arc<group_commit::Batcher<step_batch::AddStarted>>,
    /// Ends and progress reports of running steps of concurrent requests, written in shared calls.
    change_batcher: std::sync::Arc<group_commit::Batcher<change_batch::ChangeRunning>>,
    /// Tokens checked within the last second.
    auth_cache: std::sync::Arc<auth_cache::AuthCache>,
    /// Rung after a change was committed: the event hub numbers the new events at once.
    changes: std::sync::Arc<tokio::sync::Notify>,
    /// Room in memory for large reads of whole jobs' steps.
    step_room: std::sync::Arc<step_room::StepRoom>,
    /// This process's configured retention, in force while none is stored.
    retention_defaults: crate::domain::RetentionInput,
    /// Rung after this process stored or reset the retention settings.
    retention_changed: std::sync::Arc<tokio::sync::Notify>,
}

impl Engine {
    pub fn new(pool: PgPool) -> Engine {
        Engine {
            pool,
            process_id: None,
            step_batcher: Default::default(),
            change_batcher: Default::default(),
            auth_cache: Default::default(),
            changes: Default::default(),
            step_room: Default::default(),
            retention_defaults: crate::domain::RetentionInput {
                finished_minutes: 10,
                unsuccessful_minutes: 60,
                interval_seconds: 600,
            },
            retention_changed: Default::default(),
        }
    }

    /// The engine of a registered server process (see [`Engine::register_process`]).
    pub fn with_process(&self, process_id: Uuid) -> Engine {
        Engine {
            pool: self.pool.clone(),
            process_id: Some(process_id),
            step_batcher: self.step_batcher.clone(),
            change_batcher: self.change_batcher.clone(),
            auth_cache: self.auth_cache.clone(),
            changes: self.changes.clone(),
            step_room: self.step_room.clone(),
            retention_defaults: self.retention_defaults,
            retention_changed: self.retention_changed.clone(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Rings after this process committed a change (and so journalled events); the event hub
    /// waits on it. One waiting signal stands for any number of changes.
    pub fn changes(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.changes.clone()
    }

    /// A change was committed.
    fn changed(&self) {
        self.changes.notify_one();
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
