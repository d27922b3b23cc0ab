//! The process's event hub and the `GET /api/events` Server-Sent Events stream.
//!
//! One task per process numbers new events and broadcasts them to its subscribers. The service layer
//! wakes it after every change it commits; it also looks every 100 ms, for changes it was not told
//! of, and makes at most one pass every 10 ms. Numbering (any process may; one at a time) ends with a
//! `NOTIFY`, which wakes every process's hub (`LISTEN`) to read the newly numbered events from the
//! journal; so does a pass after this process's group commit of new steps numbered its own events.
//! Writers themselves do not `NOTIFY`: PostgreSQL makes notifying transactions commit one at a time.
//! The journal is the truth: a subscriber that falls behind the bounded broadcast, or reconnects
//! with `Last-Event-ID`, catches up from the database.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use app::domain::{Event, EventFilter};
use app::service::events::EVENTS_CHANNEL;
use app::service::{CredentialChanges, Engine, ServiceError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use serde::Deserialize;
use sqlx::postgres::PgListener;
use std::sync::Mutex;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{credential_secret, ApiQuery, Authenticated};
use crate::http::AppState;

/// Events kept in memory for in-process subscribers; beyond that a subscriber catches up from the
/// database.
const BROADCAST_CAPACITY: usize = 4096;
/// The latest events the hub keeps for subscribers that arrive or come back: one whose position is
/// among them starts from memory, without a query.
const RECENT_CAPACITY: usize = 4096;
/// Subscribers catching up from the journal at once; the others wait their turn. A storm of
/// reconnections from far back would otherwise take every database connection, and the server's
/// other requests would time out waiting for one.
const REPLAY_SLOTS: usize = 4;
/// Events read from the journal per query.
const PAGE: i64 = 500;
/// Chunks buffered per connection before the sender waits for the client.
const CONNECTION_BUFFER: usize = 64;
/// The most bytes of events one chunk carries: events that arrive together go out in one write.
const CHUNK_BYTES: usize = 64 * 1024;
/// A comment sent after this long without an event, so proxies and clients see the stream alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often an open stream checks its credential again without being told of a change: a token
/// expired, or revoked (a user disabled, a role taken away) through another server process. A
/// change made through this process ends the stream at once.
const RECHECK: Duration = Duration::from_secs(10);
/// How often the hub looks at the journal without being told of a change (a change made by another
/// process not yet numbered, a lost connection).
const POLL: Duration = Duration::from_millis(100);
/// The shortest time between two passes. Under a steady stream of changes a pass would otherwise
/// start the moment the last one ended, several hundred times a second, each a few round trips to
/// the database; this way each pass serves every change of the last few milliseconds.
const MIN_GAP: Duration = Duration::from_millis(10);

/// An event, written out as a Server-Sent Event once for every subscriber.
#[derive(Debug)]
pub struct Frame {
    seq: i64,
    job_id: Uuid,
    is_external: bool,
    /// `id:`, `event:` and `data:` lines and the blank line that ends the event.
    sse: Bytes,
}

impl Frame {
    fn new(event: &Event) -> Frame {
        // JSON never contains a raw line break, and kinds are the engine's own words.
        let json = serde_json::to_string(event).unwrap_or_default();
        Frame {
            seq: event.seq,
            job_id: event.job_id,
            is_external: event.is_external,
            sse: Bytes::from(format!(
                "id: {}\nevent: {}\ndata: {json}\n\n",
                event.seq, event.kind
            )),
        }
    }

    fn matches(&self, filter: &EventFilter) -> bool {
        filter.job_id.is_none_or(|j| j == self.job_id)
            && filter.external.is_none_or(|x| x == self.is_external)
    }
}

/// The per-process hub: a broadcast of every numbered event, in order, the latest of them kept in
/// memory, and a shutdown signal.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<Frame>>,
    recent: Arc<Mutex<Recent>>,
    /// Turns to catch up from the journal.
    replays: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
}

/// The latest events the hub has broadcast: every event numbered in (`from`, `to`], in order. `to`
/// is always where the hub has got to: what it broadcasts next comes after it. Subscribing and
/// reading these happen under the same lock as the hub's moves, so a subscriber either finds an
/// event here or receives it.
struct Recent {
    frames: std::collections::VecDeque<Arc<Frame>>,
    from: i64,
    to: i64,
}

impl Recent {
    fn push(&mut self, frame: Arc<Frame>) {
        if self.frames.len() == RECENT_CAPACITY {
            if let Some(oldest) = self.frames.pop_front() {
                self.from = oldest.seq;
            }
        }
        self.to = frame.seq;
        self.frames.push_back(frame);
    }

    /// The hub moved to `head` without reading the events before it (nobody was listening).
    fn skip_to(&mut self, head: i64) {
        self.frames.clear();
        self.from = head;
        self.to = head;
    }
}

/// Where a new subscriber starts.
enum Start {
    /// From memory: these events (all after its position), then the broadcast after `to`.
    Recent { frames: Vec<Arc<Frame>>, to: i64 },
    /// From the journal: its position is older than memory holds (or ahead of the hub).
    Journal,
}

impl EventHub {
    /// Start the hub's task. It ends when `shutdown` turns true.
    pub async fn start(
        engine: Engine,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<EventHub> {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        let mut listener = PgListener::connect_with(engine.pool()).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        let head = engine
            .event_head()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let recent = Arc::new(Mutex::new(Recent {
            frames: Default::default(),
            from: head,
            to: head,
        }));
        let hub = EventHub {
            sender: sender.clone(),
            recent: recent.clone(),
            replays: Arc::new(Semaphore::new(REPLAY_SLOTS)),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(run_hub(engine, listener, sender, recent, head, shutdown));
        Ok(hub)
    }

    /// Subscribe to the broadcast, and say where a subscriber at `position` (None: from now)
    /// starts.
    fn subscribe(&self, position: Option<i64>) -> (broadcast::Receiver<Arc<Frame>>, Start) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = self.sender.subscribe();
        let position = position.unwrap_or(recent.to);
        let start = if recent.from <= position && position <= recent.to {
            let newer = recent.frames.partition_point(|f| f.seq <= position);
            Start::Recent {
                frames: recent.frames.range(newer..).cloned().collect(),
                to: recent.to,
            }
        } else {
            Start::Journal
        };
        (receiver, start)
    }
}

async fn run_hub(
    engine: Engine,
    mut listener: PgListener,
    sender: broadcast::Sender<Arc<Frame>>,
    recent: Arc<Mutex<Recent>>,
    mut last: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let changes = engine.changes();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            _ = changes.notified() => {}
            received = listener.recv() => {
                if let Err(e) = received {
                    tracing::warn!(error = %e, "event listener lost its connection; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        // One pass serves every notification that arrived meanwhile: under load, writers notify far
        // more often than a pass takes, and handling them one by one would fall further behind.
        while listener.next_buffered().is_some() {}
        let pass = tokio::time::Instant::now();
        pass_once(&engine, &sender, &recent, &mut last).await;
        tokio::time::sleep_until(pass + MIN_GAP).await;
    }
}

/// Number what is waiting, announce what this process's writers numbered, and broadcast every
/// numbered event after `last` (nothing to read when nobody listens), keeping the latest.
async fn pass_once(
    engine: &Engine,
    sender: &broadcast::Sender<Arc<Frame>>,
    recent: &Mutex<Recent>,
    last: &mut i64,
) {
    if let Err(e) = engine.sequence_events().await {
        tracing::warn!(error = %e, "numbering events failed");
    }
    if engine.take_self_numbered() {
        if let Err(e) = engine.announce_events().await {
            tracing::warn!(error = %e, "announcing events failed");
        }
    }
    if sender.receiver_count() == 0 {
        // Nobody to send to: move on without reading the events. The head is read before the count
        // is taken again, under the lock a subscriber subscribes under: one that arrives after
        // that finds memory starting at this head, so from further back it catches up from the
        // journal to at least this head before it follows the broadcast: nothing falls between.
        match engine.event_head().await {
            Ok(head) => {
                let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
                if sender.receiver_count() == 0 {
                    *last = (*last).max(head);
                    recent.skip_to(*last);
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the event head failed");
                return;
            }
        }
    }
    loop {
        match engine.events_after(*last, PAGE).await {
            Ok(batch) => {
                let full = batch.len() as i64 == PAGE;
                let frames: Vec<Arc<Frame>> =
                    batch.iter().map(|e| Arc::new(Frame::new(e))).collect();
                let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
                for frame in frames {
                    *last = frame.seq;
                    recent.push(frame.clone());
                    // A subscriber that left meanwhile is fine.
                    let _ = sender.send(frame);
                }
                drop(recent);
                if !full {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading events failed");
                return;
            }
        }
    }
}

/// Query of `GET /api/events`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this job's events.
    job_id: Option<Uuid>,
    /// Only plug-in jobs' events (`true`) or only internal ones (`false`).
    external: Option<bool>,
    /// Resume after this event (as the `Last-Event-ID` header).
    #[param(minimum = 0)]
    last_event_id: Option<i64>,
}

/// `GET /api/events`: Server-Sent Events, `id:` = sequence number. Resume with `Last-Event-ID`
/// (header or query): exactly the events missed, none twice. An `event: resync` means the position is
/// older than the journal keeps (or unknown): reload your view, then follow from its `id`. The stream
/// ends once the credential it was opened with no longer lets its holder follow events (the token
/// or session expired or was revoked, the user disabled, `VIEW_TASKS` taken away): coming back then
/// gets the `401` or `403` that says why.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, pattern = "^[0-9]{1,18}$", description = "The last event seen")),
    responses(
        (status = 200, description = "text/event-stream of events (`event:` = kind, `data:` = Event JSON)", body = Event, content_type = "text/event-stream"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.engine.authorize_events(&caller)?;
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::field("Last-Event-ID", "must be an event sequence number")
                })?,
        ),
    };
    if query.last_event_id.is_some_and(|n| n < 0) {
        return Err(ApiError::field(
            "last_event_id",
            "must be an event sequence number",
        ));
    }
    let filter = EventFilter {
        job_id: query.job_id,
        external: query.external,
    };
    let hub = state.events.clone().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "events are not available",
        )
    })?;
    // Without a position, start from now.
    let position = from_header.or(query.last_event_id);
    // The extractor let the request in with this secret, so it is there.
    let secret = credential_secret(&headers).unwrap_or_default();
    let follower = Follower {
        caller,
        changes: state.engine.credential_changes(&secret),
        secret,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(CONNECTION_BUFFER);
    tokio::spawn(feed(
        state.engine.clone(),
        follower,
        hub,
        filter,
        position,
        tx,
    ));
    let mut response = Body::from_stream(ReceiverStream(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Who follows a stream, with the credential they opened it with, checked again while it lasts.
struct Follower {
    caller: app::service::Caller,
    secret: String,
    /// Changes to credentials and roles made through this process that may concern it.
    changes: CredentialChanges,
}

impl Follower {
    /// Check the credential again: false once it no longer lets its holder follow events (expired,
    /// revoked, its user disabled, `VIEW_TASKS` taken away). A database that does not
    /// answer refuses nothing: the stream goes on, and the check comes again.
    async fn still_allowed(&mut self, engine: &Engine) -> bool {
        match engine.events_follower(&self.secret).await {
            Ok(caller) => {
                self.caller = caller;
                true
            }
            Err(ServiceError::Unauthorized(_) | ServiceError::Forbidden(_)) => false,
            Err(_) => true,
        }
    }
}

/// What one subscriber has yet to be sent, gathered into chunks of up to `CHUNK_BYTES`.
#[derive(Default)]
struct Outbox {
    chunk: BytesMut,
}

impl Outbox {
    /// Add `bytes`, sending the chunk first if it would grow past `CHUNK_BYTES`. False when the
    /// client has gone.
    async fn push(&mut self, bytes: &[u8], tx: &mpsc::Sender<Bytes>) -> bool {
        if !self.chunk.is_empty()
            && self.chunk.len() + bytes.len() > CHUNK_BYTES
            && !self.flush(tx).await
        {
            return false;
        }
        self.chunk.extend_from_slice(bytes);
        true
    }

    /// Send what is gathered. False when the client has gone.
    async fn flush(&mut self, tx: &mpsc::Sender<Bytes>) -> bool {
        if self.chunk.is_empty() {
            return true;
        }
        tx.send(self.chunk.split().freeze()).await.is_ok()
    }
}

/// One subscriber: start from the hub's memory of the latest events, or else catch up from the
/// journal (a few subscribers at a time), then follow the hub, falling back to the journal
/// whenever it falls behind. Events that are ready together go to the client as one chunk, so a
/// pass of the hub costs each connection one write, not one per event. Ends when the client goes
/// away, the server stops, or the follower's credential no longer lets them follow (checked every
/// `RECHECK` and after each change to credentials made through this process).
async fn feed(
    engine: Engine,
    mut follower: Follower,
    hub: EventHub,
    filter: EventFilter,
    position: Option<i64>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut shutdown = hub.shutdown.clone();
    let mut out = Outbox::default();
    // Subscribe before reading memory or the journal, so nothing falls between the two.
    let (mut live, start) = hub.subscribe(position);
    let (mut last, mut from_journal) = match start {
        Start::Recent { frames, to } => {
            for frame in frames {
                if frame.matches(&filter) && !out.push(&frame.sse, &tx).await {
                    return;
                }
            }
            (to, false)
        }
        Start::Journal => {
            // Only from a position: without one a subscriber starts from memory.
            let last = position.unwrap_or_default();
            let (head, tail) = {
                let Ok(_turn) = hub.replays.acquire().await else {
                    return;
                };
                let head = engine.event_head().await.unwrap_or(0);
                (head, engine.event_tail().await.ok().flatten())
            };
            let lost = last > head
                || tail.is_some_and(|t| last < t - 1)
                || (tail.is_none() && last < head);
            if lost {
                let resync = format!(
                    "id: {head}\nevent: resync\ndata: {{\"reason\":\"the position {last} is older than the journal keeps or unknown\",\"head\":{head}}}\n\n"
                );
                if !out.push(resync.as_bytes(), &tx).await {
                    return;
                }
                (head, true)
            } else {
                (last, true)
            }
        }
    };
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When to send a keep-alive comment if nothing else has gone out by then.
    let mut quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
    loop {
        if from_journal {
            let reader = JournalReader {
                engine: &engine,
                turns: &hub.replays,
                caller: &follower.caller,
                filter: &filter,
            };
            if !reader.catch_up(&mut last, &mut out, &tx).await {
                return;
            }
        }
        if !out.flush(&tx).await {
            return;
        }
        // Falling behind the broadcast from here on means catching up from the journal.
        from_journal = true;
        loop {
            let received = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
                _ = recheck.tick() => {
                    if !follower.still_allowed(&engine).await {
                        return;
                    }
                    continue;
                }
                () = follower.changes.next() => {
                    if !follower.still_allowed(&engine).await {
                        return;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(quiet_until) => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                    quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
                    continue;
                }
                received = live.recv() => received,
            };
            // This event and whatever else is already waiting go out in one chunk.
            let mut received = received;
            let mut lagged = false;
            loop {
                match received {
                    Ok(frame) => {
                        if frame.seq > last {
                            last = frame.seq;
                            if frame.matches(&filter) {
                                if !out.push(&frame.sse, &tx).await {
                                    return;
                                }
                                quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
                            }
                        }
                    }
                    // Too slow for the in-memory buffer: the journal has everything.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        lagged = true;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
                received = match live.try_recv() {
                    Ok(frame) => Ok(frame),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(broadcast::error::RecvError::Lagged(n))
                    }
                    Err(broadcast::error::TryRecvError::Closed) => {
                        Err(broadcast::error::RecvError::Closed)
                    }
                };
            }
            if !out.flush(&tx).await {
                return;
            }
            if lagged {
                break;
            }
        }
    }
}

/// A subscriber's reads of the journal.
struct JournalReader<'a> {
    engine: &'a Engine,
    /// A turn is held for each query only, not while the client takes the events: a client that
    /// reads slowly (or not at all) does not keep the others waiting.
    turns: &'a Semaphore,
    caller: &'a app::service::Caller,
    filter: &'a EventFilter,
}

impl JournalReader<'_> {
    /// Add every matching event after `last` from the journal. False when the client has gone.
    async fn catch_up(&self, last: &mut i64, out: &mut Outbox, tx: &mpsc::Sender<Bytes>) -> bool {
        loop {
            let read = {
                let Ok(_turn) = self.turns.acquire().await else {
                    return false;
                };
                self.engine
                    .replay_events(self.caller, *last, self.filter, PAGE)
                    .await
            };
            let Ok((events, _)) = read else {
                return false;
            };
            let full = events.len() as i64 == PAGE;
            for event in events {
                *last = event.seq;
                if !out.push(&Frame::new(&event).sse, tx).await {
                    return false;
                }
            }
            if !full {
                return true;
            }
        }
    }
}

/// A stream over an mpsc receiver.
struct ReceiverStream(mpsc::Receiver<Bytes>);

impl Stream for ReceiverStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}
