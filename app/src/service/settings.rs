//! Retention settings: read by anyone who sees tasks, changed and put back by MANAGE_TASKS (audited),
//! stored in one row every server process reads before each retention pass.

use chrono::{DateTime, Utc};

use super::audit::{self, Origin, Record};
use super::{Caller, Engine, Result, ServiceError};
use crate::domain::{ActionGroup, Retention, RetentionInput, RetentionSource};

type StoredRow = (i32, i32, i32, DateTime<Utc>, String);

impl Engine {
    /// The retention settings in force: the stored ones, or this process's configuration.
    pub async fn retention(&self, caller: &Caller) -> Result<Retention> {
        if !caller.can(ActionGroup::ManageTasks) {
            caller.require(ActionGroup::ViewTasks)?;
        }
        self.retention_in_force().await
    }

    /// What the retention pass uses (the engine's own read, for no caller).
    pub async fn retention_in_force(&self) -> Result<Retention> {
        let row: Option<StoredRow> = sqlx::query_as(
            "select finished_minutes, unsuccessful_minutes, interval_seconds, updated_at, updated_by
               from retention_setting",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some((finished, unsuccessful, interval, at, by)) => Retention {
                finished_minutes: finished,
                unsuccessful_minutes: unsuccessful,
                interval_seconds: interval,
                source: RetentionSource::Stored,
                updated_at: Some(at),
                updated_by: Some(by),
            },
            None => {
                let d = self.retention_defaults;
                Retention {
                    finished_minutes: d.finished_minutes,
                    unsuccessful_minutes: d.unsuccessful_minutes,
                    interval_seconds: d.interval_seconds,
                    source: RetentionSource::Configuration,
                    updated_at: None,
                    updated_by: None,
                }
            }
        })
    }

    /// Store new retention settings for every process (MANAGE_TASKS); the next pass uses them, and
    /// this process's pass is rescheduled by the new interval at once.
    pub async fn set_retention(
        &self,
        caller: &Caller,
        origin: &Origin,
        input: RetentionInput,
    ) -> Result<Retention> {
        caller.require(ActionGroup::ManageTasks)?;
        input
            .check()
            .map_err(|(field, message)| ServiceError::invalid(field, message))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into retention_setting
                 (finished_minutes, unsuccessful_minutes, interval_seconds, updated_by)
             values ($1, $2, $3, $4)
             on conflict (singleton) do update set
                 finished_minutes = excluded.finished_minutes,
                 unsuccessful_minutes = excluded.unsuccessful_minutes,
                 interval_seconds = excluded.interval_seconds,
                 updated_at = now(),
                 updated_by = excluded.updated_by",
        )
        .bind(input.finished_minutes)
        .bind(input.unsuccessful_minutes)
        .bind(input.interval_seconds)
        .bind(&caller.username)
        .execute(&mut *tx)
        .await?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "retention_changed",
                target: None,
                success: true,
                detail: Some(describe(&input)),
            },
        )
        .await?;
        tx.commit().await?;
        self.retention_changed.notify_one();
        self.retention_in_force().await
    }

    /// Forget the stored settings: every process goes back to its own configuration (MANAGE_TASKS).
    pub async fn reset_retention(&self, caller: &Caller, origin: &Origin) -> Result<Retention> {
        caller.require(ActionGroup::ManageTasks)?;
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("delete from retention_setting")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed > 0 {
            let d = self.retention_defaults;
            audit::write(
                &mut *tx,
                origin,
                Record {
                    actor: Some(caller),
                    action: "retention_reset",
                    target: None,
                    success: true,
                    detail: Some(format!("back to the configuration: {}", describe(&d))),
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.retention_changed.notify_one();
        self.retention_in_force().await
    }

    /// Rung when this process changed the settings (the retention loop reschedules its pass).
    pub fn retention_changed(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.retention_changed.clone()
    }

    /// This process's configured settings, used while none are stored.
    pub fn with_retention_defaults(mut self, defaults: RetentionInput) -> Engine {
        self.retention_defaults = defaults;
        self
    }
}

fn describe(r: &RetentionInput) -> String {
    format!(
        "finished jobs kept {} min, failed or aborted {} min, a pass every {} s",
        r.finished_minutes, r.unsuccessful_minutes, r.interval_seconds
    )
}
