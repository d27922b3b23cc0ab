//! The server's background loops: process heartbeat, the staleness sweep, retention.

use std::time::Duration;

use app::service::commands::CommandRunner;
use app::service::Engine;
use tokio::sync::watch;

/// How the loops are paced (tests shorten them).
#[derive(Clone, Debug)]
pub struct Pacing {
    pub heartbeat: Duration,
    pub sweep: Duration,
    pub retention_interval: Duration,
    pub retention_finished_minutes: i64,
    pub retention_unsuccessful_minutes: i64,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            heartbeat: Duration::from_secs(10),
            sweep: Duration::from_secs(5),
            retention_interval: Duration::from_secs(600),
            retention_finished_minutes: 10,
            retention_unsuccessful_minutes: 60,
        }
    }
}

/// The advisory lock that lets one process at a time run a retention pass.
const RETENTION_LOCK: i64 = 7_203_461_003;

pub fn spawn(
    engine: Engine,
    runner: CommandRunner,
    pacing: Pacing,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(pacing.heartbeat);
        let mut sweep = tokio::time::interval(pacing.sweep);
        let mut retention = tokio::time::interval(pacing.retention_interval);
        retention.tick().await; // not at start-up
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if let Err(e) = engine.deregister_process().await {
                        tracing::warn!(error = %e, "deregistering the process failed");
                    }
                    return;
                }
                _ = beat.tick() => {
                    if let Err(e) = engine.beat().await {
                        tracing::warn!(error = %e, "process heartbeat failed");
                    }
                }
                _ = sweep.tick() => match engine.sweep().await {
                    Ok(s) if s.lapsed_leases + s.orphaned_internal_jobs > 0 => {
                        tracing::info!(lapsed = s.lapsed_leases, orphaned = s.orphaned_internal_jobs, "jobs became unknown");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "staleness sweep failed"),
                },
                _ = retention.tick() => {
                    if let Err(e) = retention_pass(&engine, &runner, &pacing).await {
                        tracing::warn!(error = %e, "retention pass failed");
                    }
                }
            }
        }
    });
}

/// One auto-clear pass, by one process at a time.
async fn retention_pass(
    engine: &Engine,
    runner: &CommandRunner,
    pacing: &Pacing,
) -> anyhow::Result<()> {
    let mut conn = engine.pool().acquire().await?;
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(());
    }
    let outcome = runner
        .run_retention(
            pacing.retention_finished_minutes,
            pacing.retention_unsuccessful_minutes,
        )
        .await;
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(RETENTION_LOCK)
        .execute(&mut *conn)
        .await?;
    outcome.map_err(|e| anyhow::anyhow!("{e}"))
}
