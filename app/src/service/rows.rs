//! Rows as the store holds them, and their conversion to wire types.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ServiceError;
use crate::domain::{Job, Status, Step, StepType};

/// The columns of a job row joined with its owner (`j` and `u`). A running job's progress is the
/// mean over its top-level steps of their values (100 for an ended one, else its own progress, else
/// its sub-steps' roll-up, else 0), once any is informative, in whole numbers as the detail's tree
/// divides: from the sums the job row keeps (migrations `job_progress_kept_on_the_job` and
/// `step_progress_rolled_up_on_write`), not by reading the steps. A job's events take their progress
/// by the same rule (migration `job_events_carry_progress`): change both or neither.
pub const JOB_COLUMNS: &str = "j.id, j.description, j.status, j.is_external, j.auto_cleared, \
     j.owner, u.username as owner_name, j.correlation_id, j.start_time, j.end_time, j.last_updated, j.result, j.timeout_seconds, \
     case when j.status = 'finished' then 100::smallint \
          when j.status in ('failed', 'aborted') then null \
          when j.root_informative > 0 and j.root_count > 0 then (j.root_score / j.root_count)::smallint end as progress";

/// The columns of a step row (`s`, the whole row). Its progress is the one the API shows: its own,
/// else, unless it failed or was aborted, its sub-steps' roll-up once one of them tells, from the sums the row keeps (migration
/// `step_progress_rolled_up_on_write`), so a step reads as its whole subtree's roll-up without
/// reading the subtree. Its events take their progress from the same function (migration
/// `step_events_carry_shown_progress`).
pub const STEP_COLUMNS: &str = "s.id, s.job_id, s.parent_step_id, s.number, s.step_type, \
     s.description, s.status, s.is_external, \
     step_shown_progress(s.status, s.progress, s.kids_score, s.kids_informative, \
                         s.child_count) as progress, \
     s.start_time, s.end_time, s.result";

#[derive(sqlx::FromRow)]
pub struct JobRow {
    id: Uuid,
    description: String,
    status: String,
    is_external: bool,
    auto_cleared: bool,
    owner: Uuid,
    owner_name: String,
    correlation_id: Option<String>,
    start_time: DateTime<Utc>,
    end_time: Option<DateTime<Utc>>,
    last_updated: DateTime<Utc>,
    result: Option<String>,
    timeout_seconds: Option<i32>,
    progress: Option<i16>,
}

impl TryFrom<JobRow> for Job {
    type Error = ServiceError;
    fn try_from(r: JobRow) -> Result<Job, ServiceError> {
        Ok(Job {
            id: r.id,
            description: r.description,
            status: status(&r.status)?,
            is_external: r.is_external,
            auto_cleared: r.auto_cleared,
            owner: r.owner,
            owner_name: r.owner_name,
            correlation_id: r.correlation_id,
            start_time: r.start_time,
            end_time: r.end_time,
            last_updated: r.last_updated,
            result: r.result,
            timeout_seconds: r.timeout_seconds,
            progress: r.progress,
            steps: None,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct StepRow {
    id: Uuid,
    job_id: Uuid,
    parent_step_id: Option<Uuid>,
    number: i32,
    step_type: String,
    description: String,
    status: String,
    is_external: bool,
    progress: Option<i16>,
    start_time: DateTime<Utc>,
    end_time: Option<DateTime<Utc>>,
    result: Option<String>,
}

impl StepRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<StepRow> for Step {
    type Error = ServiceError;
    fn try_from(r: StepRow) -> Result<Step, ServiceError> {
        Ok(Step {
            id: r.id,
            job_id: r.job_id,
            parent_step_id: r.parent_step_id,
            number: r.number,
            step_type: StepType::parse(&r.step_type)
                .ok_or_else(|| ServiceError::Internal(format!("bad step type {}", r.step_type)))?,
            description: r.description,
            status: status(&r.status)?,
            is_external: r.is_external,
            progress: r.progress,
            start_time: r.start_time,
            end_time: r.end_time,
            result: r.result,
        })
    }
}

pub fn status(s: &str) -> Result<Status, ServiceError> {
    Status::parse(s).ok_or_else(|| ServiceError::Internal(format!("bad status {s}")))
}

pub fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, ServiceError> {
    rows.into_iter().map(Job::try_from).collect()
}

pub fn steps(rows: Vec<StepRow>) -> Result<Vec<Step>, ServiceError> {
    rows.into_iter().map(Step::try_from).collect()
}
