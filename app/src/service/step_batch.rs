//! The group commit of new running steps (see `group_commit`): one call of the database function
//! `add_started_steps` (migration `add_started_steps_in_one_call`) locks the jobs, places each
//! request, writes the steps and counters and commits. Each request gets its own answer, checked by
//! the same rules in the same order as [`add_step_alone`](super::steps) checks them.

use std::future::Future;

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use super::group_commit::{GroupWrite, Pending};
use super::rows::{self, StepRow};
use super::steps::{refusal, Parent};
use super::{Result, ServiceError};
use crate::domain::limits::{MAX_STEPS_PER_JOB, MAX_STEP_DEPTH};
use crate::domain::{ActionGroup, NewStep, Status, Step};

/// Whether the call numbers its own steps' events (the step trigger's numbering
/// branch, see the migration `writers_number_their_step_events`). Off: with it on, the staleness
/// sweep was seen to stall for seconds in about one test run of four
/// (`commands::a_lapsed_lease_makes_the_job_and_its_running_steps_unknown`), cause not yet found;
/// and on measures no faster (2026-11-27: the trigger keeps the sequencer's lock until its commit is
/// durable, so the two workers' commits take turns).
const NUMBER_OWN_EVENTS: bool = false;

/// Adding a running step: where it goes and what it is.
pub(super) struct AddStarted;

impl GroupWrite for AddStarted {
    type Request = (Parent, NewStep);
    const NUMBERS_OWN_EVENTS: bool = NUMBER_OWN_EVENTS;

    fn write<'a>(
        pool: &'a PgPool,
        batch: &'a [Pending<Self::Request>],
    ) -> impl Future<Output = std::result::Result<Vec<Result<Option<Step>>>, sqlx::Error>> + Send + 'a
    {
        write_batch(pool, batch)
    }
}

/// One call for the whole batch: `add_started_steps` (migration `add_started_steps_in_one_call`)
/// locks the jobs, places every request by the rules of `add_step_alone`, writes the steps and
/// counters, and, called outside an explicit transaction, commits: one round trip. `Err` only when
/// the call itself failed; each request's answer (a step or why it was refused) is in the `Ok`.
async fn write_batch(
    pool: &PgPool,
    batch: &[Pending<(Parent, NewStep)>],
) -> std::result::Result<Vec<Result<Option<Step>>>, sqlx::Error> {
    let n = batch.len();
    let (mut job, mut parent, mut user) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut any, mut own, mut id) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut step_type, mut description, mut external) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in batch {
        job.push(p.job_id);
        let (p_parent, input) = &p.request;
        parent.push(match *p_parent {
            Parent::Step(id) => Some(id),
            Parent::Job => None,
        });
        user.push(p.caller.user_id);
        // The two ways `Caller::may_change_job` allows a change.
        any.push(p.caller.can(ActionGroup::ManageTasks));
        own.push(p.caller.can(ActionGroup::InjectExternalTasks));
        id.push(Uuid::now_v7());
        step_type.push(input.step_type.as_str());
        description.push(input.description.as_str());
        external.push(!input.internal);
    }
    let rows: Vec<PgRow> = sqlx::query(
        "select outcome, state, owner, id, job_id, parent_step_id, number, step_type, description,
                status, is_external, progress, start_time, end_time, result
           from add_started_steps($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&job)
    .bind(&parent)
    .bind(&user)
    .bind(&any)
    .bind(&own)
    .bind(&id)
    .bind(&step_type)
    .bind(&description)
    .bind(&external)
    .bind(MAX_STEPS_PER_JOB)
    .bind(MAX_STEP_DEPTH)
    .bind(NUMBER_OWN_EVENTS)
    // On the pool, outside a transaction: the statement commits at its end, and the answer ends
    // only with the database's ready-for-query that follows the commit.
    .fetch_all(pool)
    .await?;
    Ok(batch
        .iter()
        .zip(rows)
        .map(|(p, row)| answer(p, &row))
        .collect())
}

/// A request's answer from its row: the step, or the refusal `add_step_alone` gives for the same
/// reason, with the same message.
fn answer(p: &Pending<(Parent, NewStep)>, row: &PgRow) -> Result<Option<Step>> {
    let outcome: String = row.try_get("outcome")?;
    let job_id = p.job_id;
    let (parent, input) = &p.request;
    let field = refusal::parent_field(input);
    let parent_id = match *parent {
        Parent::Step(id) => id,
        Parent::Job => Uuid::nil(),
    };
    let state = || -> Result<Status> {
        let state: Option<String> = row.try_get("state")?;
        rows::status(state.as_deref().unwrap_or_default())
    };
    match outcome.as_str() {
        "created" => Ok(Some(StepRow::from_row(row)?.try_into()?)),
        "job_missing" => Err(super::jobs::job_not_found(job_id)),
        "forbidden" => {
            let owner: Option<Uuid> = row.try_get("owner")?;
            let owner = owner.unwrap_or_default();
            p.caller.may_change_job(job_id, owner)?;
            Err(ServiceError::Internal(
                "a change the caller may make was refused".into(),
            ))
        }
        "job_ended" => Err(refusal::job_ended(job_id, state()?)),
        "job_full" => Err(refusal::job_full(job_id)),
        "parent_missing" => Err(refusal::parent_missing(parent_id)),
        "parent_elsewhere" => Err(refusal::parent_elsewhere(field, parent_id)),
        "parent_ended" => Err(refusal::parent_ended(parent_id, state()?)),
        "too_deep" => Err(refusal::too_deep(field)),
        other => Err(ServiceError::Internal(format!(
            "add_started_steps answered {other}"
        ))),
    }
}
