//! Group commit for new steps. Concurrent "add a running step" requests queue here; a few workers
//! each take every request waiting in their queue (under load, also those they expect within 1 ms:
//! [`linger`]) and write them with one call of the database function
//! `add_started_steps` (migration `add_started_steps_in_one_call`), which locks the jobs, places
//! each request, writes the steps and counters and, being a statement of its own, commits: one round
//! trip for the whole batch, instead of a transaction of eight statements per request. Each request
//! gets its own answer, checked by the same rules in the same order as
//! [`add_step_alone`](super::steps) checks them; a request is answered only after the commit, so
//! every acknowledged step is durable. Should the database refuse the call as a whole, each of its
//! requests runs again alone, so one request never fails for another's sake; should the connection
//! fail during the call (it may have committed), each request fails rather than risk a step twice.
//!
//! Each job's requests always go to the same worker's queue. The call locks the jobs it writes to
//! until it commits, so two workers sharing jobs took turns, each waiting for the other's commit,
//! while the cores stood idle; workers with disjoint jobs write and commit side by side.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::error::database_unavailable;
use super::rows::{self, StepRow};
use super::steps::{add_step_alone, refusal, Parent};
use super::{Caller, Result, ServiceError};
use crate::domain::limits::{MAX_STEPS_PER_JOB, MAX_STEP_DEPTH};
use crate::domain::{ActionGroup, NewStep, Status, Step};

/// Requests one call takes at most.
const MAX_BATCH: usize = 256;
/// Workers, each with its own queue and its own share of the jobs: calls in flight at once.
const WORKERS: usize = 2;
/// Whether the call numbers its own steps' events (the step trigger's numbering
/// branch, see the migration `writers_number_their_step_events`). Off: with it on, the staleness
/// sweep was seen to stall for seconds in about one test run of four
/// (`commands::a_lapsed_lease_makes_the_job_and_its_running_steps_unknown`), cause not yet found;
/// and on measures no faster (2026-11-27: the trigger keeps the sequencer's lock until its commit is
/// durable, so the two workers' commits take turns).
const NUMBER_OWN_EVENTS: bool = false;
/// How long a batch waits at most for the requests it expects (see [`linger`]).
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
/// Requests waiting in one queue before its senders wait too.
const QUEUE: usize = 4096;

struct Pending {
    caller: Caller,
    job_id: Uuid,
    parent: Parent,
    input: NewStep,
    reply: oneshot::Sender<Result<Step>>,
}

/// The workers' queues; the workers start on first use and stop when the last engine holding them is
/// dropped.
#[derive(Default)]
pub(super) struct StepBatcher {
    queues: OnceLock<Vec<mpsc::Sender<Pending>>>,
    /// Set when a shared transaction numbered its events (see [`StepBatcher::take_numbered`]).
    numbered: Arc<AtomicBool>,
}

impl std::fmt::Debug for StepBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepBatcher")
            .field("started", &self.queues.get().is_some())
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
        let queues = self
            .queues
            .get_or_init(|| start(pool.clone(), self.numbered.clone()));
        let queue = &queues[worker_of(job_id)];
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

/// The worker whose queue takes a job's requests. Ids are v7 or v4: their last bits are random.
fn worker_of(job_id: Uuid) -> usize {
    (job_id.as_u128() % WORKERS as u128) as usize
}

fn start(pool: PgPool, numbered: Arc<AtomicBool>) -> Vec<mpsc::Sender<Pending>> {
    (0..WORKERS)
        .map(|_| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(work(pool.clone(), receiver, numbered.clone()));
            sender
        })
        .collect()
}

async fn work(pool: PgPool, mut queue: mpsc::Receiver<Pending>, numbered: Arc<AtomicBool>) {
    // Requests this worker held when it last answered: its batch's, whose clients are expected back
    // with their next request, and those that queued while it was written.
    let mut expected = 0;
    loop {
        let mut batch = Vec::new();
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return; // every sender is gone
        }
        // Give the handlers already running on this runtime one turn to put their requests in.
        tokio::task::yield_now().await;
        take_waiting(&mut queue, &mut batch);
        if batch.len() < expected.min(MAX_BATCH) {
            linger(&mut queue, &mut batch, expected.min(MAX_BATCH)).await;
        }
        let written = batch.len();
        match write_batch(&pool, &batch).await {
            Ok(answers) => {
                if NUMBER_OWN_EVENTS && answers.iter().any(Result::is_ok) {
                    numbered.store(true, Ordering::Release);
                }
                for (p, answer) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) if database_unavailable(&e) => {
                // No connection to be had, or it failed mid-call — when the call may have
                // committed, so writing the steps again could add them twice. Each request gets a
                // 503 (an `Idempotency-Key` retry is safe), at once rather than after a wait per
                // request.
                tracing::warn!(error = %e, requests = batch.len(), "a shared step write could not reach the database");
                for p in batch {
                    let _ = p.reply.send(Err(ServiceError::Unavailable(e.to_string())));
                }
            }
            Err(e) if !matches!(e, sqlx::Error::Database(_)) => {
                // An answer we could not read: the call may have committed, so no second write.
                tracing::error!(error = %e, requests = batch.len(), "a shared step write ended with its outcome unknown");
                for p in batch {
                    let _ = p.reply.send(Err(ServiceError::Internal(
                        "the step write's outcome is unknown".into(),
                    )));
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
        expected = written + queue.len();
    }
}

/// Moves every request already waiting into the batch, up to [`MAX_BATCH`].
fn take_waiting(queue: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
}

/// Under load, waits up to [`LINGER`] for the batch to hold `expected` requests: the clients the last
/// batch answered are on their way back, and one call writing them all costs the database much less
/// than a small call now and another after its commit (BENCHMARKS.md). A lone client's batch expects
/// only itself and never waits; a client that does not come back costs one wait, after which fewer
/// are expected.
async fn linger(queue: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, expected: usize) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < expected {
        match tokio::time::timeout_at(deadline, queue.recv()).await {
            Ok(Some(p)) => {
                batch.push(p);
                take_waiting(queue, batch);
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// One call for the whole batch: `add_started_steps` (migration `add_started_steps_in_one_call`)
/// locks the jobs, places every request by the rules of `add_step_alone`, writes the steps and
/// counters, and, called outside an explicit transaction, commits: one round trip. `Err` only when
/// the call itself failed; each request's answer (a step or why it was refused) is in the `Ok`.
async fn write_batch(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Result<Step>>, sqlx::Error> {
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
        parent.push(match p.parent {
            Parent::Step(id) => Some(id),
            Parent::Job => None,
        });
        user.push(p.caller.user_id);
        // The two ways `Caller::may_change_job` allows a change.
        any.push(p.caller.can(ActionGroup::ManageTasks));
        own.push(p.caller.can(ActionGroup::InjectExternalTasks));
        id.push(Uuid::now_v7());
        step_type.push(p.input.step_type.as_str());
        description.push(p.input.description.as_str());
        external.push(!p.input.internal);
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
    if rows.len() != n {
        // Committed, but not answerable: nothing to write again.
        tracing::error!(
            rows = rows.len(),
            requests = n,
            "add_started_steps answered a different number of requests"
        );
        return Ok(batch
            .iter()
            .map(|_| {
                Err(ServiceError::Internal(
                    "the step write answered a different number of requests".into(),
                ))
            })
            .collect());
    }
    Ok(batch
        .iter()
        .zip(rows)
        .map(|(p, row)| answer(p, &row))
        .collect())
}

/// A request's answer from its row: the step, or the refusal `add_step_alone` gives for the same
/// reason, with the same message.
fn answer(p: &Pending, row: &PgRow) -> Result<Step> {
    let outcome: String = row.try_get("outcome")?;
    let job_id = p.job_id;
    let field = refusal::parent_field(&p.input);
    let parent_id = match p.parent {
        Parent::Step(id) => id,
        Parent::Job => Uuid::nil(),
    };
    let state = || -> Result<Status> {
        let state: Option<String> = row.try_get("state")?;
        rows::status(state.as_deref().unwrap_or_default())
    };
    match outcome.as_str() {
        "created" => StepRow::from_row(row)?.try_into(),
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
