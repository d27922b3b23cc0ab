//! Steps: add (under the job or a step), end, progress, get, list.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::change_batch::{Change, ChangeRunning};
use super::group_commit::Outcome;
use super::idempotency::{self, Claim, IdempotencyKey};
use super::jobs::{close_running_steps, lock_job, set_job_ended, touch_job};
use super::rows::{self, StepRow, STEP_COLUMNS};
use super::{Caller, Engine, Result, ServiceError};
use crate::domain::limits::{MAX_STEPS_PER_JOB, MAX_STEP_DEPTH};
use crate::domain::{
    build_tree, end_status, flatten, ActionGroup, Description, EndStep, NewStep, ParentType,
    Progress, Status, Step, StepList, StepType,
};

/// Where a new step goes.
pub(super) enum Parent {
    Job,
    Step(Uuid),
}

fn resolve_parent(job_id: Uuid, input: &NewStep) -> Result<Parent> {
    // A parent step named as oVirt names it (`parent_step: {id}`) or as a step shows it
    // (`parent_step_id`, which a client reading steps back is likely to send): the names must agree.
    let named = match (input.parent_step, input.parent_step_id) {
        (Some(p), Some(id)) if p.id != id => {
            return Err(ServiceError::invalid(
                "parent_step_id",
                "names a different parent than `parent_step`",
            ))
        }
        (Some(p), _) => Some(("parent_step", p.id)),
        (None, Some(id)) => Some(("parent_step_id", id)),
        (None, None) => None,
    };
    if let Some((field, id)) = named {
        if input.parent_id.is_some_and(|p| p != id) {
            return Err(ServiceError::invalid(
                field,
                "names a different parent than `parent_id`",
            ));
        }
        return Ok(Parent::Step(id));
    }
    match (input.parent_type, input.parent_id) {
        (None, None) | (Some(ParentType::Job), None) => Ok(Parent::Job),
        (Some(ParentType::Job), Some(id)) if id == job_id => Ok(Parent::Job),
        (Some(ParentType::Job), Some(id)) => Err(ServiceError::invalid(
            "parent_id",
            format!("parent job {id} is not the job {job_id} in the path"),
        )),
        (None, Some(id)) if id == job_id => Ok(Parent::Job),
        (None, Some(id)) | (Some(ParentType::Step), Some(id)) => Ok(Parent::Step(id)),
        (Some(ParentType::Step), None) => Err(ServiceError::invalid(
            "parent_id",
            "is required when parent_type is `step`",
        )),
    }
}

async fn fetch_step(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
    step_id: Uuid,
) -> Result<Step> {
    let row: Option<StepRow> = sqlx::query_as(&format!(
        "select {STEP_COLUMNS} from step s where s.id = $1 and s.job_id = $2"
    ))
    .bind(step_id)
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| step_not_found(job_id, step_id))?
        .try_into()
}

/// A step read under its job's lock, with how many children it has ever had (`child_count` only
/// grows: a step with none has no sub-steps to end first).
pub(super) struct Held {
    step: Step,
    children: i32,
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    job_status: String,
    job_owner: Uuid,
    child_count: i32,
    #[sqlx(flatten)]
    step: StepRow,
}

/// Lock the job as [`lock_job`] does and read one of its steps, in one round trip. Returns the
/// job's status and the step.
async fn lock_job_and_step(
    tx: &mut Transaction<'_, Postgres>,
    caller: &Caller,
    job_id: Uuid,
    step_id: Uuid,
) -> Result<(Status, Held)> {
    let row: Option<HeldRow> = sqlx::query_as(&format!(
        "select j.status as job_status, j.owner as job_owner, s.child_count, {STEP_COLUMNS}
           from job j join step s on s.job_id = j.id
          where j.id = $1 and s.id = $2
            for update of j"
    ))
    .bind(job_id)
    .bind(step_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        // No such job, not the caller's to change, or no such step in it: say which, in that order.
        lock_job(tx, caller, job_id).await?;
        return Err(step_not_found(job_id, step_id));
    };
    caller.may_change_job(job_id, row.job_owner)?;
    let held = Held {
        step: row.step.try_into()?,
        children: row.child_count,
    };
    Ok((rows::status(&row.job_status)?, held))
}

/// One statement that applies `set` (an update's `set` list; `$1` is the step's id, `$2` the job's,
/// further values from `$3`) to the step and renews the job's lease, answering the step's row as it
/// now is.
fn update_step_touching_job(set: &str) -> String {
    format!(
        "with s as (update step set {set} where id = $1 and job_id = $2 returning *),
              j as (update job set last_updated = now(),
                                   lease_expires_at = now() + make_interval(secs => timeout_seconds)
                     where id = $2)
         select {STEP_COLUMNS} from s"
    )
}

/// The children of the recursive CTE `sub`'s current row. A bounded lateral subquery so that the
/// planner always walks the parent index row by row: a plain join on stale statistics may choose to
/// read the whole step table instead.
const CHILDREN_OF_SUB: &str = "select k.* from step k where k.parent_step_id = sub.id limit 100000";

fn step_not_found(job_id: Uuid, step_id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("step {step_id} not found in job {job_id}"))
}

/// Ids of the running steps anywhere below `step_id`.
async fn running_descendants(
    tx: &mut Transaction<'_, Postgres>,
    step_id: Uuid,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(&format!(
        "with recursive sub as (
             select c.* from step c where c.parent_step_id = $1
             union all
             select c.* from sub cross join lateral ({CHILDREN_OF_SUB}) c
         )
         select id from sub where status = 'started' order by id"
    ))
    .bind(step_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// Why a step may not be added, in the words both ways of adding one (alone here, or in the group
/// commit of `step_batch`) answer with.
pub(super) mod refusal {
    use uuid::Uuid;

    use crate::domain::limits::{MAX_STEPS_PER_JOB, MAX_STEP_DEPTH};
    use crate::domain::{NewStep, Status};
    use crate::service::ServiceError;

    /// The field that named the parent step.
    pub fn parent_field(input: &NewStep) -> &'static str {
        if input.parent_step.is_some() {
            "parent_step.id"
        } else if input.parent_step_id.is_some() {
            "parent_step_id"
        } else {
            "parent_id"
        }
    }

    pub fn job_ended(job_id: Uuid, status: Status) -> ServiceError {
        ServiceError::conflict(format!(
            "job {job_id} has ended ({status}); steps cannot be added to it"
        ))
    }

    pub fn job_full(job_id: Uuid) -> ServiceError {
        ServiceError::conflict(format!(
            "job {job_id} already has {MAX_STEPS_PER_JOB} steps, the most a job may hold"
        ))
    }

    pub fn parent_missing(parent_id: Uuid) -> ServiceError {
        ServiceError::NotFound(format!("parent step {parent_id} not found"))
    }

    pub fn parent_elsewhere(field: &str, parent_id: Uuid) -> ServiceError {
        ServiceError::invalid(
            field,
            format!("parent step {parent_id} belongs to another job"),
        )
    }

    pub fn parent_ended(parent_id: Uuid, status: Status) -> ServiceError {
        ServiceError::conflict(format!(
            "parent step {parent_id} has ended ({status}); steps cannot be added under it"
        ))
    }

    pub fn too_deep(field: &str) -> ServiceError {
        ServiceError::invalid(
            field,
            format!("steps may nest at most {MAX_STEP_DEPTH} deep"),
        )
    }
}

/// Add one step in a transaction of its own.
pub(super) async fn add_step_alone(
    pool: &PgPool,
    caller: &Caller,
    job_id: Uuid,
    parent: Parent,
    input: NewStep,
    idempotency_key: Option<IdempotencyKey>,
) -> Result<Step> {
    let mut tx = pool.begin().await?;
    if let Some(key) = &idempotency_key {
        if let Claim::Replay(step) = idempotency::claim::<Step>(&mut tx, caller, key).await? {
            tx.commit().await?;
            return Ok(step);
        }
    }
    let job_status = lock_job(&mut tx, caller, job_id).await?;
    if job_status.is_terminal() {
        return Err(refusal::job_ended(job_id, job_status));
    }
    let step_count: i32 = sqlx::query_scalar("select step_count from job where id = $1")
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await?;
    if step_count >= MAX_STEPS_PER_JOB {
        return Err(refusal::job_full(job_id));
    }
    let (parent_step_id, depth, number) = match parent {
        Parent::Job => {
            let number: i32 = sqlx::query_scalar(
                "update job set root_count = root_count + 1, step_count = step_count + 1
                  where id = $1 returning root_count - 1",
            )
            .bind(job_id)
            .fetch_one(&mut *tx)
            .await?;
            (None, 1, number)
        }
        Parent::Step(parent_id) => {
            let field = refusal::parent_field(&input);
            let parent: Option<(Uuid, String, i32)> =
                sqlx::query_as("select job_id, status, depth from step where id = $1")
                    .bind(parent_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((parent_job, parent_status, parent_depth)) = parent else {
                return Err(refusal::parent_missing(parent_id));
            };
            if parent_job != job_id {
                return Err(refusal::parent_elsewhere(field, parent_id));
            }
            let parent_status = rows::status(&parent_status)?;
            if parent_status.is_terminal() {
                return Err(refusal::parent_ended(parent_id, parent_status));
            }
            if parent_depth >= MAX_STEP_DEPTH {
                return Err(refusal::too_deep(field));
            }
            let number: i32 = sqlx::query_scalar(
                "update step set child_count = child_count + 1 where id = $1
                 returning child_count - 1",
            )
            .bind(parent_id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("update job set step_count = step_count + 1 where id = $1")
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
            (Some(parent_id), parent_depth + 1, number)
        }
    };
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into step (id, job_id, parent_step_id, number, depth, step_type, description, status, is_external, progress)
         values ($1, $2, $3, $4, $5, $6, $7, 'started', $8, $9)",
    )
    .bind(id)
    .bind(job_id)
    .bind(parent_step_id)
    .bind(number)
    .bind(depth)
    .bind(input.step_type.as_str())
    .bind(input.description.as_str())
    .bind(!input.internal)
    .bind(input.progress.map(Progress::value))
    .execute(&mut *tx)
    .await?;
    touch_job(&mut tx, job_id).await?;
    // A step recorded as already ended goes through the same rules as ending it.
    let step = match input.status {
        None | Some(Status::Started) => fetch_step(&mut tx, job_id, id).await?,
        Some(Status::Unknown) => {
            return Err(ServiceError::invalid(
                "status",
                "a new step may be `started`, `finished`, `failed` or `aborted`",
            ))
        }
        Some(end) => {
            let step = fetch_step(&mut tx, job_id, id).await?;
            let held = Held { step, children: 0 };
            end_step_in(
                &mut tx, job_id, job_status, held, end, false, None, true, None,
            )
            .await?
        }
    };
    if let Some(key) = &idempotency_key {
        idempotency::record(&mut tx, caller, key, &step).await?;
    }
    tx.commit().await?;
    Ok(step)
}

impl Engine {
    /// Add a step under the job or under one of its running steps. A running step without an
    /// `Idempotency-Key` (the common case) joins concurrent ones in a shared transaction
    /// (see `step_batch`); the others are written alone. Both apply the same rules.
    pub async fn add_step(
        &self,
        caller: &Caller,
        job_id: Uuid,
        input: NewStep,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Step> {
        let parent = resolve_parent(job_id, &input)?;
        let running = matches!(input.status, None | Some(Status::Started));
        if input.progress.is_some() && !running {
            return Err(ServiceError::invalid(
                "progress",
                "only a running step takes progress; leave it out of an ended one",
            ));
        }
        // The shared call writes running steps without progress, the common add.
        let step = if idempotency_key.is_none() && running && input.progress.is_none() {
            match self
                .step_batcher
                .submit(&self.pool, caller, job_id, (parent, input))
                .await?
            {
                Outcome::Written(step) => step,
                Outcome::Alone((parent, input)) => {
                    add_step_alone(&self.pool, caller, job_id, parent, input, None).await?
                }
            }
        } else {
            add_step_alone(&self.pool, caller, job_id, parent, input, idempotency_key).await?
        };
        self.changed();
        Ok(step)
    }

    /// End a step (SPEC §1).
    pub async fn end_step(
        &self,
        caller: &Caller,
        job_id: Uuid,
        step_id: Uuid,
        input: EndStep,
    ) -> Result<Step> {
        let status = end_status(input.status, input.succeeded, None)
            .map_err(|(f, m)| ServiceError::invalid(f, m))?;
        let fails_job = status == Status::Failed && input.fail_job.unwrap_or(true);
        // The common case (no `force`, not failing the job) joins concurrent ones in a shared call
        // (see `change_batch`), which hands back whatever it does not end so: then it ends alone.
        // An end saying how it went is rarer still, and ends alone too.
        let step = if !(input.force || fails_job || input.result.is_some()) {
            let end = ChangeRunning {
                step_id,
                change: Change::End {
                    status,
                    step_type: input.step_type,
                },
            };
            match self
                .change_batcher
                .submit(&self.pool, caller, job_id, end)
                .await?
            {
                Outcome::Written(step) => Some(step),
                Outcome::Alone(_) => None,
            }
        } else {
            None
        };
        let step = match step {
            Some(step) => step,
            None => end_step_alone(&self.pool, caller, job_id, step_id, status, input).await?,
        };
        self.changed();
        Ok(step)
    }

    /// Set a running step's own progress. The common case (a running step without sub-steps) joins
    /// concurrent ends and reports in a shared call (see `change_batch`), which hands back whatever
    /// it does not change so: then it is written alone.
    pub async fn set_progress(
        &self,
        caller: &Caller,
        job_id: Uuid,
        step_id: Uuid,
        progress: Progress,
    ) -> Result<Step> {
        let report = ChangeRunning {
            step_id,
            change: Change::Progress(progress),
        };
        let step = match self
            .change_batcher
            .submit(&self.pool, caller, job_id, report)
            .await?
        {
            Outcome::Written(step) => step,
            Outcome::Alone(_) => {
                set_progress_alone(&self.pool, caller, job_id, step_id, progress).await?
            }
        };
        self.changed();
        Ok(step)
    }

    pub async fn get_step(&self, caller: &Caller, job_id: Uuid, step_id: Uuid) -> Result<Step> {
        caller.require(ActionGroup::ViewTasks)?;
        let mut tx = self.pool.begin().await?;
        let step = fetch_step(&mut tx, job_id, step_id).await?;
        tx.commit().await?;
        Ok(step)
    }

    /// The job's steps: flat (parent before children, siblings by number) or nested.
    pub async fn list_steps(&self, caller: &Caller, job_id: Uuid, tree: bool) -> Result<StepList> {
        caller.require(ActionGroup::ViewTasks)?;
        let mut tx = self.pool.begin().await?;
        let exists: Option<i32> = sqlx::query_scalar("select 1 from job where id = $1")
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(super::jobs::job_not_found(job_id));
        }
        let rows: Vec<StepRow> = sqlx::query_as(&format!(
            "select {STEP_COLUMNS} from step s where s.job_id = $1"
        ))
        .bind(job_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let nested = build_tree(rows::steps(rows)?);
        Ok(if tree {
            StepList::Tree { items: nested }
        } else {
            StepList::Flat {
                items: flatten(nested),
            }
        })
    }
}

/// Set a step's own progress in a transaction of its own: a running step's, else a refusal.
async fn set_progress_alone(
    pool: &PgPool,
    caller: &Caller,
    job_id: Uuid,
    step_id: Uuid,
    progress: Progress,
) -> Result<Step> {
    let mut tx = pool.begin().await?;
    let (_, held) = lock_job_and_step(&mut tx, caller, job_id, step_id).await?;
    if held.step.status.is_terminal() {
        return Err(ServiceError::conflict(format!(
            "step {step_id} has ended ({}); its progress is final",
            held.step.status
        )));
    }
    let row: StepRow = sqlx::query_as(&update_step_touching_job("progress = $3"))
        .bind(step_id)
        .bind(job_id)
        .bind(progress.value())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    row.try_into()
}

/// End a step in a transaction of its own (SPEC §1).
async fn end_step_alone(
    pool: &PgPool,
    caller: &Caller,
    job_id: Uuid,
    step_id: Uuid,
    status: Status,
    input: EndStep,
) -> Result<Step> {
    let mut tx = pool.begin().await?;
    let (job_status, held) = lock_job_and_step(&mut tx, caller, job_id, step_id).await?;
    let step = end_step_in(
        &mut tx,
        job_id,
        job_status,
        held,
        status,
        input.force,
        input.step_type,
        input.fail_job.unwrap_or(true),
        input.result.as_ref().map(Description::as_str),
    )
    .await?;
    tx.commit().await?;
    Ok(step)
}

/// End a step read under its job's lock (`job_status` is the job's status then); answers the step
/// as it now is, rolled up.
#[allow(clippy::too_many_arguments)]
async fn end_step_in(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
    job_status: Status,
    held: Held,
    status: Status,
    force: bool,
    step_type: Option<StepType>,
    fail_job: bool,
    result: Option<&str>,
) -> Result<Step> {
    let Held { step, children } = held;
    let step_id = step.id;
    let new_type = step_type.unwrap_or(step.step_type);
    if step.status.is_terminal() {
        if step.status == status && new_type == step.step_type {
            return Ok(step); // a safe retry
        }
        if !force {
            return Err(ServiceError::conflict(format!(
                "step {step_id} has already ended as {}; end it with force=true to change that",
                step.status
            )));
        }
        // An administrator's correction: the status changes, the end time stays (below, an ended
        // step keeps its `end_time`).
    } else if children > 0 {
        let running = running_descendants(tx, step_id).await?;
        if !running.is_empty() {
            if !force {
                let list = running
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ServiceError::Conflict {
                    message: format!(
                        "step {step_id} has {} running sub-step(s): {list}; end them first or use force=true to abort them",
                        running.len()
                    ),
                    ids: running,
                });
            }
            sqlx::query(
                "update step set status = 'aborted', end_time = now()
                  where id = any($1) and status = 'started'",
            )
            .bind(&running)
            .execute(&mut **tx)
            .await?;
        }
    }
    let row: StepRow = sqlx::query_as(&update_step_touching_job(
        "status = $3, step_type = $4, end_time = coalesce(end_time, now()),
         result = coalesce($5, result)",
    ))
    .bind(step_id)
    .bind(job_id)
    .bind(status.as_str())
    .bind(new_type.as_str())
    .bind(result)
    .fetch_one(&mut **tx)
    .await?;
    // "When one step fails the whole job fails." Its running steps close; this one has ended.
    if status == Status::Failed && fail_job && !job_status.is_terminal() {
        close_running_steps(tx, job_id, Status::Failed).await?;
        set_job_ended(tx, job_id, Status::Failed).await?;
    }
    row.try_into()
}
