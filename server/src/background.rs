//! The server's background loops: process heartbeat, the staleness sweep, retention, and the
//! housekeeping that forgets old events, spent sign-ins, old audit records and old exports.

use std::time::Duration;

use app::domain::{RetentionInput, RetentionSource};
use app::service::commands::CommandRunner;
use app::service::Engine;
use tokio::sync::watch;
use tokio::time::Instant;

/// How the loops are paced (tests shorten them). The retention figures are this process's
/// configuration, in force while none are stored (`PUT /api/settings/retention`).
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

impl Pacing {
    /// The configured retention figures, as the settings API shows them (a sub-second interval, as
    /// tests use, shows as 1 s; the loop keeps its own precise interval).
    pub fn retention_defaults(&self) -> RetentionInput {
        let whole = |n: i64| i32::try_from(n.max(0)).unwrap_or(i32::MAX);
        RetentionInput {
            finished_minutes: whole(self.retention_finished_minutes),
            unsuccessful_minutes: whole(self.retention_unsuccessful_minutes),
            interval_seconds: whole(self.retention_interval.as_secs() as i64).max(1),
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
        // Not at start-up. After a change of the settings, the new interval counts from the change:
        // at once when it came through this process, else at this process's next sweep tick, which
        // reads the stored settings and reschedules when they are not the ones it scheduled by.
        let retention_changed = engine.retention_changed();
        let (interval, mut scheduled_by) = retention_interval(&engine, &pacing).await;
        let mut next_pass = Instant::now() + interval;
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
                _ = sweep.tick() => {
                    match engine.sweep().await {
                        Ok(s) if s.lapsed_leases + s.orphaned_internal_jobs > 0 => {
                            tracing::info!(lapsed = s.lapsed_leases, orphaned = s.orphaned_internal_jobs, "jobs became unknown");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "staleness sweep failed"),
                    }
                    // Another process may have changed the settings.
                    let (interval, now_by) = retention_interval(&engine, &pacing).await;
                    if now_by.is_some() && now_by != scheduled_by {
                        next_pass = Instant::now() + interval;
                        scheduled_by = now_by;
                    }
                }
                _ = tokio::time::sleep_until(next_pass) => {
                    if let Err(e) = retention_pass(&engine, &runner).await {
                        tracing::warn!(error = %e, "retention pass failed");
                    }
                    let (interval, by) = retention_interval(&engine, &pacing).await;
                    next_pass = Instant::now() + interval;
                    scheduled_by = by.or(scheduled_by);
                }
                _ = retention_changed.notified() => {
                    let (interval, by) = retention_interval(&engine, &pacing).await;
                    next_pass = Instant::now() + interval;
                    scheduled_by = by.or(scheduled_by);
                }
            }
        }
    });
}

/// Which settings a pass was scheduled by: the stored row's time of change (none while the
/// configuration is in force), and its interval.
type ScheduledBy = Option<(Option<chrono::DateTime<chrono::Utc>>, i32)>;

/// The wait before the next retention pass: the stored interval, else this process's own; with the
/// settings it was read from (`None` when they could not be read).
async fn retention_interval(engine: &Engine, pacing: &Pacing) -> (Duration, ScheduledBy) {
    match engine.retention_in_force().await {
        Ok(r) if r.source == RetentionSource::Stored => (
            Duration::from_secs(r.interval_seconds.max(1) as u64),
            Some((r.updated_at, r.interval_seconds)),
        ),
        Ok(r) => (pacing.retention_interval, Some((None, r.interval_seconds))),
        Err(e) => {
            tracing::warn!(error = %e, "reading the retention settings failed; using the configured interval");
            (pacing.retention_interval, None)
        }
    }
}

/// One auto-clear pass, by one process at a time, with the settings in force.
async fn retention_pass(engine: &Engine, runner: &CommandRunner) -> anyhow::Result<()> {
    let mut conn = engine.pool().acquire().await?;
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(());
    }
    let outcome = match engine.retention_in_force().await {
        Ok(settings) => runner
            .run_retention(
                i64::from(settings.finished_minutes),
                i64::from(settings.unsuccessful_minutes),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}")),
        Err(e) => Err(anyhow::anyhow!(
            "reading the retention settings failed: {e}"
        )),
    };
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(RETENTION_LOCK)
        .execute(&mut *conn)
        .await?;
    outcome
}

/// How long what piles up is kept (the flags `--event-retention-hours`, `--audit-retention-days`,
/// `--export-retention-hours`).
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    pub events: chrono::Duration,
    pub audit_records: chrono::Duration,
    pub exports: chrono::Duration,
}

/// Every 10 minutes (and once at start-up) forget what is past keeping: old events and idempotency
/// keys, bearer tokens and sessions a day past expiry or revocation, old audit records, old exports
/// with their files. Every process does it; the deletes are idempotent.
pub fn spawn_housekeeping(engine: Engine, keep: Keep, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => housekeeping(&engine, keep).await,
            }
        }
    });
}

async fn housekeeping(engine: &Engine, keep: Keep) {
    said("old events", engine.purge_journal(keep.events).await);
    said(
        "spent bearer tokens and sessions",
        engine.forget_spent_credentials().await,
    );
    said(
        "old audit records",
        engine.forget_old_audit_records(keep.audit_records).await,
    );
    said("old exports", engine.forget_old_exports(keep.exports).await);
}

/// Log what a clean-up forgot, or why it could not.
fn said(what: &str, outcome: app::service::Result<u64>) {
    match outcome {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "forgot {what}"),
        Err(e) => tracing::warn!(error = %e, "forgetting {what} failed"),
    }
}
