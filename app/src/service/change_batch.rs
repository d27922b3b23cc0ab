//! The group commit of changes to running steps (see `group_commit`): ends and progress reports. One
//! call of the database function `change_running_steps` (migration
//! `change_running_steps_in_one_call`) locks the jobs, ends or sets the progress of every requested
//! step that is running, has no sub-steps and is the caller's to change, renews those jobs' leases
//! and commits. It hands every other request back, and `end_step` / `set_progress` write it alone by
//! the full rules (a retry, a conflict, a missing step, sub-steps, a refusal in its own words), so
//! those rules are written once. Only ends without `force` that do not fail the job come here.

use std::future::Future;

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use super::group_commit::{GroupWrite, Pending};
use super::rows::StepRow;
use super::Result;
use crate::domain::{ActionGroup, Progress, Status, Step, StepType};

/// A change to one running step.
pub(super) struct ChangeRunning {
    pub(super) step_id: Uuid,
    pub(super) change: Change,
}

pub(super) enum Change {
    /// End it with this status, in this phase (`None`: the one it is in).
    End {
        status: Status,
        step_type: Option<StepType>,
    },
    /// Set its own progress.
    Progress(Progress),
}

impl GroupWrite for ChangeRunning {
    type Request = ChangeRunning;

    fn write<'a>(
        pool: &'a PgPool,
        batch: &'a [Pending<Self::Request>],
    ) -> impl Future<Output = std::result::Result<Vec<Result<Option<Step>>>, sqlx::Error>> + Send + 'a
    {
        write_batch(pool, batch)
    }
}

/// One call for the whole batch, outside an explicit transaction: it commits at its end, and the
/// answer ends only with the database's ready-for-query that follows the commit.
async fn write_batch(
    pool: &PgPool,
    batch: &[Pending<ChangeRunning>],
) -> std::result::Result<Vec<Result<Option<Step>>>, sqlx::Error> {
    let n = batch.len();
    let mut job = Vec::with_capacity(n);
    let mut step = Vec::with_capacity(n);
    let mut user = Vec::with_capacity(n);
    let mut any = Vec::with_capacity(n);
    let mut own = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut step_type = Vec::with_capacity(n);
    let mut progress = Vec::with_capacity(n);
    for p in batch {
        job.push(p.job_id);
        step.push(p.request.step_id);
        user.push(p.caller.user_id);
        // The two ways `Caller::may_change_job` allows a change.
        any.push(p.caller.can(ActionGroup::ManageTasks));
        own.push(p.caller.can(ActionGroup::InjectExternalTasks));
        let (s, t, v) = match &p.request.change {
            Change::End { status, step_type } => {
                (Some(status.as_str()), step_type.map(StepType::as_str), None)
            }
            Change::Progress(v) => (None, None, Some(v.value())),
        };
        status.push(s);
        step_type.push(t);
        progress.push(v);
    }
    let rows: Vec<PgRow> = sqlx::query(
        "select id, job_id, parent_step_id, number, step_type, description, status, is_external,
                progress, start_time, end_time, result
           from change_running_steps($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&job)
    .bind(&step)
    .bind(&user)
    .bind(&any)
    .bind(&own)
    .bind(&status)
    .bind(&step_type)
    .bind(&progress)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(answer).collect())
}

/// The changed step, or `None` for a request the call left to be written alone.
fn answer(row: &PgRow) -> Result<Option<Step>> {
    let id: Option<Uuid> = row.try_get("id")?;
    if id.is_none() {
        return Ok(None);
    }
    // A step without sub-steps: its own row is its rolled-up self.
    Ok(Some(StepRow::from_row(row)?.try_into()?))
}
