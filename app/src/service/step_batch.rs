//! Group commit for new steps. Concurrent "add a running step" requests queue here; a few workers
//! each take every request waiting and write them in one transaction of four statements (lock the
//! jobs, read the parents, write everything, commit) instead of one transaction of eight statements
//! per request. Each request gets its own answer, checked by the same rules in the same order as
//! [`add_step_alone`](super::steps) checks them; a request is answered only after its commit, so
//! every acknowledged step is durable. Should the shared transaction fail as a whole, each of its
//! requests runs again alone, so one request never fails for another's sake.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

use super::rows::{self, StepRow, STEP_COLUMNS};
use super::steps::{add_step_alone, Parent};
use super::{Caller, Result, ServiceError};
use crate::domain::limits::{MAX_STEPS_PER_JOB, MAX_STEP_DEPTH};
use crate::domain::{NewStep, Step};

/// Requests one shared transaction takes at most.
const MAX_BATCH: usize = 256;
/// Transactions in flight at once: while one commits, the next one gathers and writes.
const WORKERS: usize = 2;
/// Whether the shared transaction numbers its own steps' events (the step trigger's numbering
/// branch, see the migration `writers_number_their_step_events`). Off: with it on, the staleness
/// sweep was seen to stall for seconds in about one test run of four
/// (`commands::a_lapsed_lease_makes_the_job_and_its_running_steps_unknown`), cause not yet found.
const NUMBER_OWN_EVENTS: bool = false;
/// Requests waiting before senders wait too.
const QUEUE: usize = 4096;

struct Pending {
    caller: Caller,
    job_id: Uuid,
    parent: Parent,
    input: NewStep,
    reply: oneshot::Sender<Result<Step>>,
}

/// The queue; its workers start on first use and stop when the last engine holding it is dropped.
#[derive(Default)]
pub(super) struct StepBatcher {
    queue: OnceLock<mpsc::Sender<Pending>>,
    /// Set when a shared transaction numbered its events (see [`StepBatcher::take_numbered`]).
    numbered: Arc<AtomicBool>,
}

impl std::fmt::Debug for StepBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepBatcher")
            .field("started", &self.queue.get().is_some())
            .finish()
    }
}

impl StepBatcher {
    /// Add a running step through the shared transaction; answers once it has committed.
    pub(super) async fn add(
        &self,
        pool: &PgPool,
        caller: &Caller,
        job_id: Uuid,
        parent: Parent,
        input: NewStep,
    ) -> Result<Step> {
        let queue = self
            .queue
            .get_or_init(|| start(pool.clone(), self.numbered.clone()));
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            caller: caller.clone(),
            job_id,
            parent,
            input,
            reply,
        };
        if let Err(mpsc::error::SendError(p)) = queue.send(pending).await {
            // The workers are gone (the runtime is shutting down): write it alone.
            return add_step_alone(pool, &p.caller, p.job_id, p.parent, p.input, None).await;
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ServiceError::Internal("the step writer stopped".into())))
    }

    /// Whether a shared transaction committed events it numbered itself since the last call. The
    /// sequencer never sees those, so the event hub announces them to the other processes.
    pub(super) fn take_numbered(&self) -> bool {
        self.numbered.swap(false, Ordering::AcqRel)
    }
}

fn start(pool: PgPool, numbered: Arc<AtomicBool>) -> mpsc::Sender<Pending> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..WORKERS {
        tokio::spawn(work(pool.clone(), receiver.clone(), numbered.clone()));
    }
    sender
}

async fn work(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    numbered: Arc<AtomicBool>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = receiver.lock().await;
            if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // every sender is gone
            }
        }
        match write_batch(&pool, &batch).await {
            Ok(answers) => {
                if NUMBER_OWN_EVENTS && answers.iter().any(Result::is_ok) {
                    numbered.store(true, Ordering::Release);
                }
                for (p, answer) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, requests = batch.len(), "a shared step transaction failed; writing its steps one by one");
                for p in batch {
                    let answer =
                        add_step_alone(&pool, &p.caller, p.job_id, p.parent, p.input, None).await;
                    let _ = p.reply.send(answer);
                }
            }
        }
    }
}

struct JobState {
    status: String,
    owner: Uuid,
    step_count: i32,
    root_count: i32,
    touched: bool,
}

struct ParentState {
    job_id: Uuid,
    status: String,
    depth: i32,
    child_count: i32,
    touched: bool,
}

/// The columns of the new steps, one vector per column.
#[derive(Default)]
struct NewRows {
    id: Vec<Uuid>,
    job_id: Vec<Uuid>,
    parent: Vec<Option<Uuid>>,
    number: Vec<i32>,
    depth: Vec<i32>,
    step_type: Vec<&'static str>,
    description: Vec<String>,
    is_external: Vec<bool>,
}

/// One transaction for the whole batch. `Err` only when the transaction itself failed; the
/// answers to the single requests (a step or the reason it was refused) are in the `Ok`.
async fn write_batch(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Result<Step>>, sqlx::Error> {
    let mut job_ids: Vec<Uuid> = batch.iter().map(|p| p.job_id).collect();
    job_ids.sort_unstable();
    job_ids.dedup();
    let mut parent_ids: Vec<Uuid> = batch
        .iter()
        .filter_map(|p| match p.parent {
            Parent::Step(id) => Some(id),
            Parent::Job => None,
        })
        .collect();
    parent_ids.sort_unstable();
    parent_ids.dedup();

    // Generic plans: the statements are the same every time, only the arrays' lengths differ, and
    // PostgreSQL would otherwise plan them again at every execution. `stepwise.number_events` asks
    // the step trigger to number the new steps' events as it writes them (see the migration
    // `writers_number_their_step_events`).
    let mut tx = pool
        .begin_with(if NUMBER_OWN_EVENTS {
            "begin; set local plan_cache_mode = force_generic_plan; \
             set local stepwise.number_events = on"
        } else {
            "begin; set local plan_cache_mode = force_generic_plan"
        })
        .await?;
    // Locked in id order, as every writer of a job locks it before its steps: no deadlock.
    let locked: Vec<(Uuid, String, Uuid, i32, i32)> = sqlx::query_as(
        "select id, status, owner, step_count, root_count from job
          where id = any($1) order by id for update",
    )
    .bind(&job_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut jobs: HashMap<Uuid, JobState> = locked
        .into_iter()
        .map(|(id, status, owner, step_count, root_count)| {
            let state = JobState {
                status,
                owner,
                step_count,
                root_count,
                touched: false,
            };
            (id, state)
        })
        .collect();
    let mut parents: HashMap<Uuid, ParentState> = HashMap::new();
    if !parent_ids.is_empty() {
        let found: Vec<(Uuid, Uuid, String, i32, i32)> = sqlx::query_as(
            "select id, job_id, status, depth, child_count from step where id = any($1)",
        )
        .bind(&parent_ids)
        .fetch_all(&mut *tx)
        .await?;
        for (id, job_id, status, depth, child_count) in found {
            parents.insert(
                id,
                ParentState {
                    job_id,
                    status,
                    depth,
                    child_count,
                    touched: false,
                },
            );
        }
    }

    let mut answers: Vec<Result<Step>> = Vec::with_capacity(batch.len());
    let mut new = NewRows::default();
    let mut slot_of: Vec<Option<usize>> = Vec::with_capacity(batch.len());
    for p in batch {
        match place(p, &mut jobs, &mut parents) {
            Ok((parent, depth, number)) => {
                slot_of.push(Some(new.id.len()));
                new.id.push(Uuid::now_v7());
                new.job_id.push(p.job_id);
                new.parent.push(parent);
                new.number.push(number);
                new.depth.push(depth);
                new.step_type.push(p.input.step_type.as_str());
                new.description
                    .push(p.input.description.as_str().to_owned());
                new.is_external.push(!p.input.internal);
                answers.push(Err(ServiceError::Internal("not written".into())));
            }
            Err(e) => {
                slot_of.push(None);
                answers.push(Err(e));
            }
        }
    }
    if new.id.is_empty() {
        tx.commit().await?;
        return Ok(answers);
    }

    let (mut job_id, mut job_steps, mut job_roots) = (Vec::new(), Vec::new(), Vec::new());
    for (id, j) in jobs.iter().filter(|(_, j)| j.touched) {
        job_id.push(*id);
        job_steps.push(j.step_count);
        job_roots.push(j.root_count);
    }
    let (mut parent_id, mut children) = (Vec::new(), Vec::new());
    for (id, s) in parents.iter().filter(|(_, s)| s.touched) {
        parent_id.push(*id);
        children.push(s.child_count);
    }
    // One statement writes the steps (their triggers journal the events), the jobs' counters and
    // lease, and the parents' counters, and reads the steps back.
    let written: Vec<StepRow> = sqlx::query_as(&format!(
        "with s as (
             insert into step (id, job_id, parent_step_id, number, depth, step_type, description, status, is_external)
             select id, job_id, parent_step_id, number, depth, step_type, description, 'started', is_external
               from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::int[], $6::text[], $7::text[], $8::bool[])
                    as n(id, job_id, parent_step_id, number, depth, step_type, description, is_external)
             returning *
         ), j as (
             update job set step_count = n.steps, root_count = n.roots, last_updated = now(),
                    lease_expires_at = now() + make_interval(secs => timeout_seconds)
               from unnest($9::uuid[], $10::int[], $11::int[]) as n(id, steps, roots)
              where job.id = n.id
         ), p as (
             update step set child_count = n.children
               from unnest($12::uuid[], $13::int[]) as n(id, children)
              where step.id = n.id
         )
         select {STEP_COLUMNS} from s"
    ))
    .bind(&new.id)
    .bind(&new.job_id)
    .bind(&new.parent)
    .bind(&new.number)
    .bind(&new.depth)
    .bind(&new.step_type)
    .bind(&new.description)
    .bind(&new.is_external)
    .bind(&job_id)
    .bind(&job_steps)
    .bind(&job_roots)
    .bind(&parent_id)
    .bind(&children)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut by_id: HashMap<Uuid, StepRow> = written.into_iter().map(|r| (r.id(), r)).collect();
    for (answer, slot) in answers.iter_mut().zip(slot_of) {
        if let Some(slot) = slot {
            *answer = match by_id.remove(&new.id[slot]) {
                Some(row) => row.try_into(),
                None => Err(ServiceError::Internal(
                    "a written step was not read back".into(),
                )),
            };
        }
    }
    Ok(answers)
}

/// Where one request's step goes (parent, depth, number), or why it may not be added: the checks of
/// `add_step_alone`, in its order, against the batch's running counters.
fn place(
    p: &Pending,
    jobs: &mut HashMap<Uuid, JobState>,
    parents: &mut HashMap<Uuid, ParentState>,
) -> Result<(Option<Uuid>, i32, i32)> {
    let job_id = p.job_id;
    let Some(job) = jobs.get_mut(&job_id) else {
        return Err(super::jobs::job_not_found(job_id));
    };
    p.caller.may_change_job(job_id, job.owner)?;
    let job_status = rows::status(&job.status)?;
    if job_status.is_terminal() {
        return Err(ServiceError::conflict(format!(
            "job {job_id} has ended ({job_status}); steps cannot be added to it"
        )));
    }
    if job.step_count >= MAX_STEPS_PER_JOB {
        return Err(ServiceError::conflict(format!(
            "job {job_id} already has {MAX_STEPS_PER_JOB} steps, the most a job may hold"
        )));
    }
    match p.parent {
        Parent::Job => {
            let number = job.root_count;
            job.root_count += 1;
            job.step_count += 1;
            job.touched = true;
            Ok((None, 1, number))
        }
        Parent::Step(parent_id) => {
            let field = if p.input.parent_step.is_some() {
                "parent_step.id"
            } else {
                "parent_id"
            };
            let Some(parent) = parents.get_mut(&parent_id) else {
                return Err(ServiceError::NotFound(format!(
                    "parent step {parent_id} not found"
                )));
            };
            if parent.job_id != job_id {
                return Err(ServiceError::invalid(
                    field,
                    format!("parent step {parent_id} belongs to another job"),
                ));
            }
            let parent_status = rows::status(&parent.status)?;
            if parent_status.is_terminal() {
                return Err(ServiceError::conflict(format!(
                    "parent step {parent_id} has ended ({parent_status}); steps cannot be added under it"
                )));
            }
            if parent.depth >= MAX_STEP_DEPTH {
                return Err(ServiceError::invalid(
                    field,
                    format!("steps may nest at most {MAX_STEP_DEPTH} deep"),
                ));
            }
            let number = parent.child_count;
            parent.child_count += 1;
            parent.touched = true;
            job.step_count += 1;
            job.touched = true;
            Ok((Some(parent_id), parent.depth + 1, number))
        }
    }
}
