//! The live event stream for the UI: an `EventSource` on `/api/events` (the session cookie
//! authenticates it). The browser reconnects by itself and sends `Last-Event-ID`, so the journal
//! replays exactly what was missed; `resync` asks the views to reload.

use leptos::prelude::*;

use crate::domain::Event;

/// The stream's state, for the connection indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "csr"), allow(dead_code))]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
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

#[cfg(feature = "csr")]
fn connect(
    set_last: WriteSignal<Option<Event>>,
    set_resyncs: WriteSignal<u32>,
    set_connection: WriteSignal<Connection>,
) {
    let position = std::rc::Rc::new(std::cell::Cell::new(None::<i64>));
    open_source(position, set_last, set_resyncs, set_connection);
}

/// Open an `EventSource`. The browser retries a dropped connection itself (sending `Last-Event-ID`);
/// when it gives up (the server answered with an error, say while restarting), open a new one from
/// the last position seen.
#[cfg(feature = "csr")]
fn open_source(
    position: std::rc::Rc<std::cell::Cell<Option<i64>>>,
    set_last: WriteSignal<Option<Event>>,
    set_resyncs: WriteSignal<u32>,
    set_connection: WriteSignal<Connection>,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let url = match position.get() {
        Some(seq) => format!("/api/events?last_event_id={seq}"),
        None => "/api/events".to_owned(),
    };
    let Ok(source) = web_sys::EventSource::new(&url) else {
        set_connection.set(Connection::Reconnecting);
        return;
    };
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        set_connection.set(Connection::Live);
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();

    let on_error = {
        let position = position.clone();
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            set_connection.set(Connection::Reconnecting);
            if source.ready_state() == web_sys::EventSource::CLOSED {
                let position = position.clone();
                set_timeout(
                    move || open_source(position, set_last, set_resyncs, set_connection),
                    std::time::Duration::from_secs(2),
                );
            }
        })
    };
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();

    let on_event = {
        let position = position.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            set_connection.set(Connection::Live);
            if let Some(text) = e.data().as_string() {
                if let Ok(event) = serde_json::from_str::<Event>(&text) {
                    position.set(Some(event.seq));
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
    on_event.forget();

    let on_resync = {
        let position = position.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Ok(seq) = e.last_event_id().parse::<i64>() {
                position.set(Some(seq));
            }
            set_resyncs.update(|n| *n += 1);
        })
    };
    let _ = source.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
    on_resync.forget();
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
