//! The live event stream for the UI: an `EventSource` on `/api/events` (the session cookie
//! authenticates it). The browser reconnects by itself and sends `Last-Event-ID`, so the journal
//! replays exactly what was missed; `resync` asks the views to reload. A hidden tab closes its
//! stream and resumes from its last event when shown again. The server ends a stream whose session
//! is over; refused when it comes back, the tab asks who is signed in and goes to sign in if nobody.

use leptos::prelude::*;

use crate::domain::Event;

/// The stream's state, for the connection indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "csr"), allow(dead_code))]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
    /// The tab is hidden and holds no stream; it resumes when shown.
    Paused,
    /// The user may not follow events (no `VIEW_TASKS`): no stream is held.
    NotAllowed,
}

/// What the live stream offers to views: the latest event, a resync counter, the connection state.
#[derive(Clone, Copy)]
pub struct Live {
    pub last: ReadSignal<Option<Event>>,
    pub resyncs: ReadSignal<u32>,
    pub connection: ReadSignal<Connection>,
}

/// Open the stream once for the whole app and provide it as context.
pub fn provide_live() -> Live {
    let (last, set_last) = signal(None::<Event>);
    let (resyncs, set_resyncs) = signal(0u32);
    let (connection, set_connection) = signal(Connection::Connecting);
    connect(set_last, set_resyncs, set_connection);
    let live = Live {
        last,
        resyncs,
        connection,
    };
    provide_context(live);
    live
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// An open `EventSource` and the handlers it calls (dropped with it).
#[cfg(feature = "csr")]
type Held = (web_sys::EventSource, Vec<Box<dyn std::any::Any>>);

/// The app's one stream: where it has got to, the `EventSource` it holds (with the handlers the
/// source calls), and whether the tab is hidden.
#[cfg(feature = "csr")]
struct Stream {
    position: std::cell::Cell<Option<i64>>,
    source: std::cell::RefCell<Option<Held>>,
    /// Counts the sources opened, so a retry scheduled for one that was since replaced does nothing.
    generation: std::cell::Cell<u64>,
    /// The tab is hidden: no stream is held until it is shown again.
    paused: std::cell::Cell<bool>,
    /// The user may not follow events: no stream is opened again.
    refused: std::cell::Cell<bool>,
    set_last: WriteSignal<Option<Event>>,
    set_resyncs: WriteSignal<u32>,
    set_connection: WriteSignal<Connection>,
}

#[cfg(feature = "csr")]
fn connect(
    set_last: WriteSignal<Option<Event>>,
    set_resyncs: WriteSignal<u32>,
    set_connection: WriteSignal<Connection>,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let stream = std::rc::Rc::new(Stream {
        position: std::cell::Cell::new(None),
        source: std::cell::RefCell::new(None),
        generation: std::cell::Cell::new(0),
        paused: std::cell::Cell::new(false),
        refused: std::cell::Cell::new(false),
        set_last,
        set_resyncs,
        set_connection,
    });
    // A hidden tab lets go of its stream. Over plain HTTP/1.1 a browser keeps at most six
    // connections to a host, and each open tab's stream holds one: without this a seventh tab
    // would never load. Shown again, the tab resumes from its last event (the journal replays
    // what it missed).
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        let on_visibility = {
            let stream = stream.clone();
            let document = document.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if document.hidden() {
                    pause(&stream);
                } else {
                    resume(&stream);
                }
            })
        };
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        on_visibility.forget();
        if document.hidden() {
            // Opened in the background: nothing is held until the tab is first shown.
            pause(&stream);
            return;
        }
    }
    open_source(&stream);
}

#[cfg(feature = "csr")]
fn pause(stream: &std::rc::Rc<Stream>) {
    stream.paused.set(true);
    if let Some((source, _handlers)) = stream.source.borrow_mut().take() {
        source.close();
    }
    if !stream.refused.get() {
        stream.set_connection.set(Connection::Paused);
    }
}

#[cfg(feature = "csr")]
fn resume(stream: &std::rc::Rc<Stream>) {
    if !stream.paused.replace(false) {
        return;
    }
    if stream.position.get().is_none() {
        // No event seen yet, so no position to resume from: the views reload what they show.
        stream.set_resyncs.update(|n| *n += 1);
    }
    if !stream.refused.get() {
        stream.set_connection.set(Connection::Reconnecting);
    }
    open_source(stream);
}

/// Open an `EventSource`. The browser retries a dropped connection itself (sending `Last-Event-ID`);
/// when it gives up (the server answered with an error, say while restarting), open a new one from
/// the last position seen.
#[cfg(feature = "csr")]
fn open_source(stream: &std::rc::Rc<Stream>) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    if stream.paused.get() || stream.refused.get() {
        return;
    }
    let generation = stream.generation.get() + 1;
    stream.generation.set(generation);
    if let Some((old, _handlers)) = stream.source.borrow_mut().take() {
        old.close();
    }
    let (set_last, set_resyncs, set_connection) =
        (stream.set_last, stream.set_resyncs, stream.set_connection);
    let url = match stream.position.get() {
        Some(seq) => format!("/api/events?last_event_id={seq}"),
        None => "/api/events".to_owned(),
    };
    let Ok(source) = web_sys::EventSource::new(&url) else {
        set_connection.set(Connection::Reconnecting);
        return;
    };
    let mut handlers: Vec<Box<dyn std::any::Any>> = Vec::new();

    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        set_connection.set(Connection::Live);
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    handlers.push(Box::new(on_open));

    let on_error = {
        let stream = std::rc::Rc::downgrade(stream);
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            set_connection.set(Connection::Reconnecting);
            if source.ready_state() == web_sys::EventSource::CLOSED {
                // The server refused the stream: perhaps the session is over (signed out in another
                // tab, revoked by an administrator, expired) or the right to follow events was
                // taken away. The server ends a stream whose session no longer holds, so this is
                // where the tab learns of it.
                let asked = stream.clone();
                leptos::task::spawn_local(async move {
                    match crate::api::current_user().await {
                        Ok(None) => super::reload_to("/"),
                        Err(e) if e.is_unauthorized() => super::reload_to("/"),
                        Ok(Some(me)) if !me.can(crate::domain::ActionGroup::ViewTasks) => {
                            if let Some(stream) = asked.upgrade() {
                                stream.refused.set(true);
                            }
                            set_connection.set(Connection::NotAllowed);
                        }
                        _ => {}
                    }
                });
                let stream = stream.clone();
                set_timeout(
                    move || {
                        if let Some(stream) = stream.upgrade() {
                            if stream.generation.get() == generation {
                                open_source(&stream);
                            }
                        }
                    },
                    std::time::Duration::from_secs(2),
                );
            }
        })
    };
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    handlers.push(Box::new(on_error));

    let on_event = {
        let stream = std::rc::Rc::downgrade(stream);
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            set_connection.set(Connection::Live);
            if let Some(text) = e.data().as_string() {
                if let Ok(event) = serde_json::from_str::<Event>(&text) {
                    if let Some(stream) = stream.upgrade() {
                        stream.position.set(Some(event.seq));
                    }
                    set_last.set(Some(event));
                }
            }
        })
    };
    for kind in [
        "job.created",
        "job.updated",
        "job.purged",
        "step.created",
        "step.updated",
    ] {
        let _ = source.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
    }
    handlers.push(Box::new(on_event));

    let on_resync = {
        let stream = std::rc::Rc::downgrade(stream);
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let (Ok(seq), Some(stream)) = (e.last_event_id().parse::<i64>(), stream.upgrade()) {
                stream.position.set(Some(seq));
            }
            set_resyncs.update(|n| *n += 1);
        })
    };
    let _ = source.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
    handlers.push(Box::new(on_resync));

    *stream.source.borrow_mut() = Some((source, handlers));
}

#[cfg(not(feature = "csr"))]
fn connect(
    _set_last: WriteSignal<Option<Event>>,
    _set_resyncs: WriteSignal<u32>,
    _set_connection: WriteSignal<Connection>,
) {
}

/// The connection indicator in the header.
#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let live = use_live();
    let text = move || match live.connection.get() {
        Connection::Connecting => "Connecting…",
        Connection::Live => "Live",
        Connection::Reconnecting => "Reconnecting…",
        Connection::Paused => "Paused",
        Connection::NotAllowed => "No live updates",
    };
    let class = move || match live.connection.get() {
        Connection::Live => "conn conn-live",
        _ => "conn conn-down",
    };
    view! {
        <span class=class role="status" aria-live="polite" data-testid="connection">
            <span class="dot" aria-hidden="true"></span>
            {text}
        </span>
    }
}

/// A clock that ticks every second, so running durations and timeline bars grow.
#[derive(Clone, Copy)]
pub struct Clock(pub ReadSignal<chrono::DateTime<chrono::Utc>>);

pub fn provide_clock() {
    let (now, set_now) = signal(chrono::Utc::now());
    if let Ok(handle) = set_interval_with_handle(
        move || set_now.set(chrono::Utc::now()),
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    provide_context(Clock(now));
}

/// Now, as of the last tick.
pub fn use_now() -> ReadSignal<chrono::DateTime<chrono::Utc>> {
    expect_context::<Clock>().0
}
