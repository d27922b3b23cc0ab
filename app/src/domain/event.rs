//! Live events: every change to a job or step, numbered by `seq`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One journal entry. `data` is the job (`job.*`) or step (`step.*`) as it is after the change, in the
/// same shape and spelling as the REST API returns it (times as `…31.627080Z`), a job without `steps`.
/// Only a job's own changes make job events, each with the job's progress then; a step's progress
/// comes in its own events, as a read gives it (its own, else its sub-steps' roll-up): a change
/// below moves each step above it that shows a roll-up, with an event of its own. `job.purged`
/// carries only the id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `job.created`, `job.updated`, `job.purged`, `step.created` or `step.updated`.
    pub kind: String,
    pub job_id: Uuid,
    pub is_external: bool,
    pub data: serde_json::Value,
}

/// Which events a subscriber wants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    pub job_id: Option<Uuid>,
    pub external: Option<bool>,
}

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        self.job_id.is_none_or(|j| j == e.job_id)
            && self.external.is_none_or(|x| x == e.is_external)
    }
}
