//! The event journal: sequencing committed events, reading them, and forgetting old ones.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Caller, Engine, Result};
use crate::domain::{ActionGroup, Event, EventFilter};

/// The advisory lock that makes one sequencer run at a time across every process.
const SEQUENCER_LOCK: i64 = 7_203_461_002;

/// The channel that wakes every process when new events are numbered.
pub const EVENTS_CHANNEL: &str = "stepwise_events";

type EventRow = (i64, DateTime<Utc>, String, Uuid, bool, serde_json::Value);

fn event((seq, at, kind, job_id, is_external, data): EventRow) -> Event {
    Event {
        seq,
        at,
        kind,
        job_id,
        is_external,
        data,
    }
}

impl Engine {
    /// Number the committed events that have no `seq` yet, in the order they were written. Runs under
    /// a transaction-wide advisory lock, so numbering transactions commit one after another and a
    /// reader following `seq` never sees a lower number appear later. Returns the highest number
    /// given, if any.
    pub async fn sequence_events(&self) -> Result<Option<i64>> {
        let pending: Option<i64> =
            sqlx::query_scalar("select id from event where seq is null limit 1")
                .fetch_optional(&self.pool)
                .await?;
        if pending.is_none() {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(SEQUENCER_LOCK)
            .execute(&mut *tx)
            .await?;
        // Walk the unnumbered-events index in order. A bitmap scan (the planner's choice when its
        // estimate runs high) visits every entry of an event numbered since the last vacuum, and
        // never marks them dead, so each pass would cost more than the last.
        sqlx::query("set local enable_bitmapscan = off")
            .execute(&mut *tx)
            .await?;
        let head: Option<i64> = sqlx::query_scalar(
            "with pending as (select id, row_number() over (order by id) as n
                                from event where seq is null order by id limit 10000),
                  counter as (update event_counter set last = last + (select count(*) from pending)
                              returning last - (select count(*) from pending) as base)
             update event e set seq = counter.base + pending.n
               from pending, counter where e.id = pending.id
             returning e.seq",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .max();
        if let Some(head) = head {
            sqlx::query("select pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(head.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(head)
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
