//! Staleness and liveness: lapsed leases, internal jobs of dead processes, process heartbeats.

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
