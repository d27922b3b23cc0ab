//! Group commit. Concurrent requests of one kind (adding a running step: `step_batch`; ending a
//! running step or setting its progress: `change_batch`) queue here; a few workers each take every
//! request waiting in their queue (under load, also those they expect within 1 ms: [`linger`]) and
//! write them with one call of a database function which, being a statement of its own, commits:
//! one round trip for the whole batch instead of a transaction of several statements per request. A
//! request is answered only after the commit, so every acknowledged change is durable. The call may
//! hand a request back to be written alone, by the same rules, in its own handler (the function
//! takes only the common case); so does a call the database refuses as a whole, so one request
//! never fails for another's sake. Should the connection fail during the call (it may have
//! committed), each request fails rather than risk a change twice.
//!
//! Each job's requests always go to the same worker's queue. The call locks the jobs it writes to
//! until it commits, so two workers sharing jobs took turns, each waiting for the other's commit,
//! while the cores stood idle; workers with disjoint jobs write and commit side by side.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::error::database_unavailable;
use super::{Caller, Result, ServiceError};
use crate::domain::Step;

/// Requests one call takes at most.
const MAX_BATCH: usize = 256;
/// Workers, each with its own queue and its own share of the jobs: calls in flight at once. More
/// made smaller batches that cost the database more per request (2026-11-28: 2 / 3 / 4 / 6 workers
/// gave 9,171–10,021 / 9,173–9,219 / 8,537–8,606 / 7,217–7,442 added steps a second at 32 clients);
/// one made larger batches but left the cores idle while each waited for its commit (2026-12-06:
/// 5,438–6,395 against 5,565–7,416 with two, alternating; BENCHMARKS.md, "A twelfth machine").
const WORKERS: usize = 2;
/// How long a batch waits at most for the requests it expects (see [`linger`]).
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
/// Requests waiting in one queue before its senders wait too.
const QUEUE: usize = 4096;

/// One kind of write that concurrent requests share a call for.
pub(super) trait GroupWrite: Send + Sync + 'static {
    /// What a request asks for, beyond its caller and job.
    type Request: Send + 'static;
    /// Whether a call numbers its own events (see [`Batcher::take_numbered`]).
    const NUMBERS_OWN_EVENTS: bool = false;
    /// One call for the whole batch: for each request, in order, the step it wrote, `None` for one
    /// left to be written alone, or why it was refused (an answer per request, or none is believed).
    /// `Err` only when the call itself failed.
    fn write<'a>(
        pool: &'a PgPool,
        batch: &'a [Pending<Self::Request>],
    ) -> impl Future<Output = std::result::Result<Vec<Result<Option<Step>>>, sqlx::Error>> + Send + 'a;
}

/// What became of a queued request.
pub(super) enum Outcome<R> {
    /// Written and committed in a shared call.
    Written(Step),
    /// To be written alone, by the caller: the request, handed back.
    Alone(R),
}

pub(super) struct Pending<R> {
    pub(super) caller: Caller,
    pub(super) job_id: Uuid,
    pub(super) request: R,
    reply: oneshot::Sender<Result<Outcome<R>>>,
}

/// The workers' queues; the workers start on first use and stop when the last engine holding them is
/// dropped.
pub(super) struct Batcher<W: GroupWrite> {
    queues: OnceLock<Vec<mpsc::Sender<Pending<W::Request>>>>,
    /// Set when a shared call numbered its events (see [`Batcher::take_numbered`]).
    numbered: Arc<AtomicBool>,
    write: PhantomData<W>,
}

impl<W: GroupWrite> Default for Batcher<W> {
    fn default() -> Self {
        Batcher {
            queues: OnceLock::new(),
            numbered: Arc::default(),
            write: PhantomData,
        }
    }
}

impl<W: GroupWrite> std::fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("started", &self.queues.get().is_some())
            .finish()
    }
}

impl<W: GroupWrite> Batcher<W> {
    /// Queue a request for a shared call; answers once the call has committed, or hands the request
    /// back to be written alone.
    pub(super) async fn submit(
        &self,
        pool: &PgPool,
        caller: &Caller,
        job_id: Uuid,
        request: W::Request,
    ) -> Result<Outcome<W::Request>> {
        let queues = self
            .queues
            .get_or_init(|| start::<W>(pool.clone(), self.numbered.clone()));
        let queue = &queues[worker_of(job_id)];
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            caller: caller.clone(),
            job_id,
            request,
            reply,
        };
        if let Err(mpsc::error::SendError(p)) = queue.send(pending).await {
            // The workers are gone (the runtime is shutting down).
            return Ok(Outcome::Alone(p.request));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ServiceError::Internal("the shared writer stopped".into())))
    }

    /// Whether a shared call committed events it numbered itself since the last call. The
    /// sequencer never sees those, so the event hub announces them to the other processes.
    pub(super) fn take_numbered(&self) -> bool {
        self.numbered.swap(false, Ordering::AcqRel)
    }
}

/// The worker whose queue takes a job's requests. Ids are v7 or v4: their last bits are random.
fn worker_of(job_id: Uuid) -> usize {
    (job_id.as_u128() % WORKERS as u128) as usize
}

fn start<W: GroupWrite>(
    pool: PgPool,
    numbered: Arc<AtomicBool>,
) -> Vec<mpsc::Sender<Pending<W::Request>>> {
    (0..WORKERS)
        .map(|_| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(work::<W>(pool.clone(), receiver, numbered.clone()));
            sender
        })
        .collect()
}

async fn work<W: GroupWrite>(
    pool: PgPool,
    mut queue: mpsc::Receiver<Pending<W::Request>>,
    numbered: Arc<AtomicBool>,
) {
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
        match W::write(&pool, &batch).await {
            Ok(answers) if answers.len() != written => {
                // Committed, but not answerable: nothing to write again.
                tracing::error!(
                    answers = answers.len(),
                    requests = written,
                    "a shared write answered a different number of requests"
                );
                for p in batch {
                    let _ = p.reply.send(Err(ServiceError::Internal(
                        "the shared write answered a different number of requests".into(),
                    )));
                }
            }
            Ok(answers) => {
                if W::NUMBERS_OWN_EVENTS && answers.iter().any(|a| matches!(a, Ok(Some(_)))) {
                    numbered.store(true, Ordering::Release);
                }
                for (p, answer) in batch.into_iter().zip(answers) {
                    let outcome = match answer {
                        Ok(Some(step)) => Ok(Outcome::Written(step)),
                        Ok(None) => Ok(Outcome::Alone(p.request)),
                        Err(e) => Err(e),
                    };
                    let _ = p.reply.send(outcome);
                }
            }
            Err(e) if database_unavailable(&e) => {
                // No connection to be had, or it failed mid-call — when the call may have
                // committed, so writing again could change twice. Each request gets a 503 (an
                // `Idempotency-Key` retry is safe), at once rather than after a wait per request.
                tracing::warn!(error = %e, requests = batch.len(), "a shared write could not reach the database");
                for p in batch {
                    let _ = p.reply.send(Err(ServiceError::Unavailable(e.to_string())));
                }
            }
            Err(e) if !matches!(e, sqlx::Error::Database(_)) => {
                // An answer we could not read: the call may have committed, so no second write.
                tracing::error!(error = %e, requests = batch.len(), "a shared write ended with its outcome unknown");
                for p in batch {
                    let _ = p.reply.send(Err(ServiceError::Internal(
                        "the shared write's outcome is unknown".into(),
                    )));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, requests = batch.len(), "a shared write failed; each of its requests is written alone");
                for p in batch {
                    let _ = p.reply.send(Ok(Outcome::Alone(p.request)));
                }
            }
        }
        expected = written + queue.len();
    }
}

/// Moves every request already waiting into the batch, up to [`MAX_BATCH`].
fn take_waiting<R>(queue: &mut mpsc::Receiver<Pending<R>>, batch: &mut Vec<Pending<R>>) {
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
async fn linger<R>(
    queue: &mut mpsc::Receiver<Pending<R>>,
    batch: &mut Vec<Pending<R>>,
    expected: usize,
) {
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
