//! The audit log: sign-ins and failures, user, role and token changes, retention settings, bulk ends
//! and deletions of jobs — who, when, from where.

use sqlx::PgExecutor;

use super::{Caller, Result};

/// Where a request came from (the peer address), for the audit log and throttling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: Option<String>,
}

/// One audit record; `actor` is None for anonymous attempts.
pub struct Record<'a> {
    pub actor: Option<&'a Caller>,
    pub action: &'static str,
    pub target: Option<String>,
    pub success: bool,
    pub detail: Option<String>,
}

pub async fn write(db: impl PgExecutor<'_>, origin: &Origin, record: Record<'_>) -> Result<()> {
    sqlx::query(
        "insert into audit_event (actor, actor_name, action, target, address, success, detail)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(record.actor.map(|c| c.user_id))
    .bind(record.actor.map(|c| c.username.clone()))
    .bind(record.action)
    .bind(record.target)
    .bind(origin.address.as_deref())
    .bind(record.success)
    .bind(record.detail)
    .execute(db)
    .await?;
    Ok(())
}
