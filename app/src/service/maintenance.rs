//! Staleness and liveness: lapsed leases, internal jobs of dead processes, process heartbeats; and
//! forgetting what would otherwise pile up for ever: spent sign-ins, old audit records, old exports.

use uuid::Uuid;

use super::{Engine, Result};

/// A process that has not beaten for this long is taken for dead.
pub const PROCESS_TIMEOUT_SECONDS: i32 = 30;

/// What a sweep changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub lapsed_leases: u64,
    pub orphaned_internal_jobs: u64,
}

impl Engine {
    /// Record this server process as alive; returns the engine bound to it.
    pub async fn register_process(&self) -> Result<Engine> {
        let id = Uuid::now_v7();
        sqlx::query("insert into engine_process (id) values ($1)")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(self.with_process(id))
    }

    /// This process is still alive.
    pub async fn beat(&self) -> Result<()> {
        if let Some(id) = self.process_id {
            sqlx::query("update engine_process set heartbeat_at = now() where id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// This process is stopping cleanly: forget it (its running internal jobs become `unknown` now).
    pub async fn deregister_process(&self) -> Result<()> {
        if let Some(id) = self.process_id {
            sqlx::query("update engine_process set heartbeat_at = 'epoch' where id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            self.sweep().await?;
        }
        Ok(())
    }

    /// Jobs whose lease lapsed, and internal jobs whose process died, become `unknown` with their
    /// running steps. Safe to run from every process at once.
    pub async fn sweep(&self) -> Result<Swept> {
        let mut tx = self.pool.begin().await?;
        let lapsed: Vec<Uuid> = sqlx::query_scalar(
            "update job set status = 'unknown', last_updated = now()
              where id in (select id from job where status = 'started' and lease_expires_at < now()
                           order by lease_expires_at limit 1000 for update skip locked)
             returning id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let orphaned: Vec<Uuid> = sqlx::query_scalar(
            "update job set status = 'unknown', last_updated = now()
              where id in (select j.id from job j left join engine_process p on p.id = j.process_id
                            where j.status = 'started' and j.process_id is not null
                              and (p.id is null or p.heartbeat_at < now() - make_interval(secs => $1))
                            limit 1000 for update of j skip locked)
             returning id",
        )
        .bind(PROCESS_TIMEOUT_SECONDS)
        .fetch_all(&mut *tx)
        .await?;
        let all: Vec<Uuid> = lapsed.iter().chain(orphaned.iter()).copied().collect();
        if !all.is_empty() {
            sqlx::query(
                "update step set status = 'unknown' where job_id = any($1) and status = 'started'",
            )
            .bind(&all)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("delete from engine_process where heartbeat_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if !all.is_empty() {
            self.changed();
        }
        Ok(Swept {
            lapsed_leases: lapsed.len() as u64,
            orphaned_internal_jobs: orphaned.len() as u64,
        })
    }
}

/// Rows one statement of a clean-up deletes at most, so a first pass over years of them never holds
/// one long transaction.
const FORGET_BATCH: i64 = 10_000;

/// A spent bearer token or UI session (expired or revoked) is kept this long before it is deleted:
/// long enough that one used just after it lapsed is still told why it was refused.
const SPENT_CREDENTIAL_GRACE_HOURS: i32 = 24;

impl Engine {
    /// Delete bearer tokens and UI sessions a day past their expiry or revocation. Every sign-in
    /// through the token endpoint (each run of an oVirt SDK script) makes one; without this they
    /// stayed for ever. API tokens stay: they are listed, revoked ones too, for their administrators.
    pub async fn forget_spent_credentials(&self) -> Result<u64> {
        self.forget_in_batches(
            "delete from access_token where id in (
                 select id from access_token
                  where kind in ('bearer', 'session')
                    and (expires_at < now() - make_interval(hours => $1)
                         or revoked_at < now() - make_interval(hours => $1))
                  limit $2)",
            SPENT_CREDENTIAL_GRACE_HOURS,
        )
        .await
    }

    /// Delete audit records older than `keep`.
    pub async fn forget_old_audit_records(&self, keep: chrono::Duration) -> Result<u64> {
        self.forget_in_batches(
            "delete from audit_event where id in (
                 select id from audit_event where at < now() - make_interval(hours => $1)
                  order by at limit $2)",
            hours(keep),
        )
        .await
    }

    /// Delete exports older than `keep`, their files with them. A file already gone is no matter; one
    /// that cannot be removed is logged, and its record goes all the same (nothing offers it then).
    pub async fn forget_old_exports(&self, keep: chrono::Duration) -> Result<u64> {
        let mut forgotten = 0;
        loop {
            let paths: Vec<String> = sqlx::query_scalar(
                "delete from export_file where id in (
                     select id from export_file where created_at < now() - make_interval(hours => $1)
                      limit $2)
                 returning path",
            )
            .bind(hours(keep))
            .bind(FORGET_BATCH)
            .fetch_all(&self.pool)
            .await?;
            let deleted = paths.len();
            // Unlinking a large file takes the file system a while: off the async workers.
            let removed = tokio::task::spawn_blocking(move || {
                for path in &paths {
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!(path, error = %e, "removing an old export's file failed")
                        }
                    }
                }
            })
            .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "removing old exports' files failed");
            }
            forgotten += deleted as u64;
            if (deleted as i64) < FORGET_BATCH {
                return Ok(forgotten);
            }
        }
    }

    /// Run a `delete` taking an hours figure (`$1`) and a batch size (`$2`) until it deletes fewer
    /// than a batch.
    async fn forget_in_batches(&self, delete: &'static str, hours: i32) -> Result<u64> {
        let mut forgotten = 0;
        loop {
            let deleted = sqlx::query(delete)
                .bind(hours)
                .bind(FORGET_BATCH)
                .execute(&self.pool)
                .await?
                .rows_affected();
            forgotten += deleted;
            if (deleted as i64) < FORGET_BATCH {
                return Ok(forgotten);
            }
        }
    }
}

/// A duration in whole hours, as the clean-ups count them (at least one).
fn hours(keep: chrono::Duration) -> i32 {
    keep.num_hours().clamp(1, i64::from(i32::MAX)) as i32
}
