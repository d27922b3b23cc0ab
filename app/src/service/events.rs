//! The event journal: sequencing committed events, reading them, and forgetting old ones.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::auth_cache::CredentialChanges;
use super::{Caller, Engine, Result};
use crate::domain::{ActionGroup, Event, EventFilter, Job, Step};

/// The advisory lock that makes one numbering run at a time across every process: the sequencer's,
/// and the step trigger's when a writer numbers its own events (the migration
/// `writers_number_their_step_events` repeats this number; change both or neither).
const SEQUENCER_LOCK: i64 = 7_203_461_002;

/// The channel that wakes every process when new events are numbered.
pub const EVENTS_CHANNEL: &str = "stepwise_events";

type EventRow = (i64, DateTime<Utc>, String, Uuid, bool, serde_json::Value);

fn event((seq, at, kind, job_id, is_external, data): EventRow) -> Event {
    let data = as_the_api_writes_it(&kind, data);
    Event {
        seq,
        at,
        kind,
        job_id,
        is_external,
        data,
    }
}

/// The journal's payload, written by the database's triggers, in the spelling the REST API gives the
/// same job or step: times as `…31.627080Z` rather than PostgreSQL's `…31.62708+00:00`, a top-level
/// step's `parent_step_id` as `null`. A client can then compare an event's fields with what it read.
/// A payload that is not a job or step as the API knows it (`job.purged` carries only the id) is
/// passed on as it is.
fn as_the_api_writes_it(kind: &str, data: serde_json::Value) -> serde_json::Value {
    use serde::Deserialize;
    let spelled = match kind {
        "job.created" | "job.updated" => Job::deserialize(&data)
            .ok()
            .and_then(|job| serde_json::to_value(job).ok()),
        "step.created" | "step.updated" => Step::deserialize(&data)
            .ok()
            .and_then(|step| serde_json::to_value(step).ok()),
        _ => None,
    };
    spelled.unwrap_or(data)
}

impl Engine {
    /// Number the committed events that have no `seq` yet, in the order they were written. Runs under
    /// a transaction-wide advisory lock, so numbering transactions commit one after another and a
    /// reader following `seq` never sees a lower number appear later. Returns the highest number
    /// given, if any.
    pub async fn sequence_events(&self) -> Result<Option<i64>> {
        // One statement, committed on its own (see the migration `sequence_events_in_one_call`):
        // look, lock, number at most 10,000 events, notify.
        Ok(sqlx::query_scalar("select sequence_events($1, 10000, $2)")
            .bind(SEQUENCER_LOCK)
            .bind(EVENTS_CHANNEL)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Tell every process's hub that events up to the current head are numbered: for events their
    /// writer numbered itself (the group commit of new steps), which the sequencer never sees.
    pub async fn announce_events(&self) -> Result<()> {
        sqlx::query("select pg_notify($1, last::text) from event_counter")
            .bind(EVENTS_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Did this process's writers number events of their own since the last call?
    pub fn take_self_numbered(&self) -> bool {
        self.step_batcher.take_numbered()
    }

    /// The highest event number so far (0 when none).
    pub async fn event_head(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("select last from event_counter")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The lowest event number still kept (None when the journal is empty).
    pub async fn event_tail(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("select min(seq) from event where seq is not null")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Numbered events after `after`, in order, unfiltered: what the process-wide hub broadcasts.
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "select seq, at, kind, job_id, is_external, data from event
              where seq > $1 order by seq limit $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(event).collect())
    }

    /// Events after `after` matching `filter`, for one subscriber (needs VIEW_TASKS). Returns the
    /// events and the highest number examined, so a caller can move on past non-matching ones.
    pub async fn replay_events(
        &self,
        caller: &Caller,
        after: i64,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<(Vec<Event>, i64)> {
        caller.require(ActionGroup::ViewTasks)?;
        let window: Vec<EventRow> = sqlx::query_as(
            "select seq, at, kind, job_id, is_external, data from event
              where seq > $1 and ($2::uuid is null or job_id = $2)
                and ($3::boolean is null or is_external = $3)
              order by seq limit $4",
        )
        .bind(after)
        .bind(filter.job_id)
        .bind(filter.external)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let examined = window.last().map(|r| r.0).unwrap_or(after);
        Ok((window.into_iter().map(event).collect(), examined))
    }

    /// May this caller subscribe to events at all?
    pub fn authorize_events(&self, caller: &Caller) -> Result<()> {
        caller.require(ActionGroup::ViewTasks)
    }

    /// Who follows the event stream with `secret` (a bearer token, API token or UI session), as
    /// they now are — or why they may no longer: the credential expired or was revoked, the user
    /// was disabled (`Unauthorized`), `VIEW_TASKS` was taken away (`Forbidden`). An open
    /// stream asks this again now and then and after [`Engine::credential_changes`], and ends on a
    /// refusal.
    pub async fn events_follower(&self, secret: &str) -> Result<Caller> {
        let caller = self.authenticate_token(secret).await?;
        self.authorize_events(&caller)?;
        Ok(caller)
    }

    /// Wakes the holder of `secret` after each change made through this process that may concern
    /// it: its own sign-out, any API token revoked, a user disabled, roles changed.
    pub fn credential_changes(&self, secret: &str) -> CredentialChanges {
        use sha2::{Digest, Sha256};
        self.auth_cache
            .changes(Sha256::digest(secret.as_bytes()).to_vec())
    }

    /// Forget events older than `retention` (and idempotency keys past their window).
    pub async fn purge_journal(&self, retention: chrono::Duration) -> Result<u64> {
        let purged = sqlx::query(
            // The first event young enough to keep, found by walking the sequence from the oldest
            // (`at` grows with `seq`, give or take a commit's duration); everything before it goes.
            "delete from event where seq < (
                 select coalesce(
                     (select seq from event where seq is not null
                         and at >= now() - make_interval(secs => $1) order by seq limit 1),
                     (select last + 1 from event_counter)))",
        )
        .bind(retention.num_seconds() as f64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "delete from idempotency_key where created_at < now() - make_interval(hours => $1)",
        )
        .bind(crate::domain::limits::IDEMPOTENCY_WINDOW_HOURS as i32)
        .execute(&self.pool)
        .await?;
        Ok(purged)
    }
}
