//! The HTTP surface: REST routes under `/api`, health, the UI's server functions under `/sfn`.

mod admin;
pub mod auth;
mod commands;
pub mod error;
pub mod extract;
mod jobs;
mod meta;
pub mod openapi;
pub mod room;
mod settings;
mod steps;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use app::api::context::RequestContext;
use app::service::step_room::RoomSlot;
use app::service::Engine;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use leptos::prelude::provide_context;

/// Everything a request handler needs, built once at start-up.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub commands: app::service::commands::CommandRunner,
    pub events: Option<crate::events::EventHub>,
    pub settings: Arc<Settings>,
}

/// Settings the handlers read.
#[derive(Clone, Debug)]
pub struct Settings {
    pub token_ttl: chrono::Duration,
    pub session_ttl: chrono::Duration,
    pub event_retention: chrono::Duration,
    pub audit_retention: chrono::Duration,
    pub export_retention: chrono::Duration,
    pub pacing: crate::background::Pacing,
    pub export_dir: std::path::PathBuf,
    pub command_workers: usize,
    /// The server itself speaks HTTPS: session cookies are `Secure`.
    pub tls: bool,
}

impl Settings {
    /// How long events, audit records and exports are kept, in the units they are configured in.
    pub fn kept_for(&self) -> app::domain::KeptFor {
        app::domain::KeptFor {
            events_hours: self.event_retention.num_hours(),
            audit_days: self.audit_retention.num_days(),
            exports_hours: self.export_retention.num_hours(),
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            token_ttl: chrono::Duration::hours(1),
            session_ttl: chrono::Duration::hours(12),
            event_retention: chrono::Duration::hours(24),
            audit_retention: chrono::Duration::days(90),
            export_retention: chrono::Duration::hours(24),
            pacing: crate::background::Pacing::default(),
            export_dir: std::env::temp_dir().join("stepwise-exports"),
            command_workers: 2,
            tls: false,
        }
    }
}

/// The REST API: mounted at `/api`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/capabilities", get(meta::capabilities))
        .route("/events", get(crate::events::stream))
        .route("/openapi.json", get(openapi::document))
        .route("/users", post(admin::create_user).get(admin::list_users))
        .route("/users/{user_id}/disable", post(admin::disable_user))
        .route("/users/{user_id}/enable", post(admin::enable_user))
        .route("/users/{user_id}/password", post(admin::reset_password))
        .route(
            "/users/{user_id}/roles/{role_name}",
            put(admin::attach_role).delete(admin::detach_role),
        )
        .route("/roles", post(admin::create_role).get(admin::list_roles))
        .route(
            "/roles/{role_name}",
            put(admin::change_role).delete(admin::delete_role),
        )
        .route("/tokens", post(admin::create_token).get(admin::list_tokens))
        .route("/tokens/{token_id}", delete(admin::revoke_token))
        .route("/audit", get(admin::list_audit))
        .route(
            "/settings/retention",
            get(settings::retention)
                .put(settings::set_retention)
                .delete(settings::reset_retention),
        )
        .route("/jobs", post(jobs::add).get(jobs::list))
        .route("/jobs/{job_id}", get(jobs::get))
        .route("/jobs/{job_id}/end", post(jobs::end))
        .route("/jobs/{job_id}/clear", post(jobs::clear))
        .route("/jobs/{job_id}/heartbeat", post(commands::heartbeat))
        .route("/commands/{name}", post(commands::run))
        .route("/exports/{export_id}", get(commands::download))
        .route("/jobs/{job_id}/steps", post(steps::add).get(steps::list))
        .route("/jobs/{job_id}/steps/{step_id}", get(steps::get))
        .route("/jobs/{job_id}/steps/{step_id}/end", post(steps::end))
        .route(
            "/jobs/{job_id}/steps/{step_id}/progress",
            post(steps::progress),
        )
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(middleware::from_fn(echo_correlation_id))
        .layer(DefaultBodyLimit::max(app::domain::limits::MAX_BODY_BYTES))
}

/// Everything but the static UI.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .nest("/api", api_router())
        .merge(crate::ovirt::router())
        .route("/sfn/{*fn_name}", post(server_fn).get(server_fn))
        .with_state(state)
}

/// A path under `/api` or `/ovirt-engine` with a run of slashes, or a trailing one, is taken as the
/// same path without them, as most web servers take it: the oVirt SDK given its URL with a trailing
/// slash (`http://host/ovirt-engine/api/`) joins it into `…/api//jobs`, and a plug-in may build
/// `…/api/jobs/`. Both used to be a 404 on every call. The UI's own paths are left as they are.
/// Applied before routing (`startup`), so the route that answers is the one the clean path names.
pub fn normalize_api_path<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let path = req.uri().path();
    let under_api = path.starts_with("/api/") || path.starts_with("/ovirt-engine/");
    if !under_api || !(path.contains("//") || path.ends_with('/')) {
        return req;
    }
    let mut clean = String::with_capacity(path.len() + 1);
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if let Some(query) = req.uri().query() {
        clean.push('?');
        clean.push_str(query);
    }
    let mut parts = req.uri().clone().into_parts();
    // Made of the parts of a path and query that parsed already, so it parses; should it not, the
    // request goes on as it came.
    if let Ok(path_and_query) = clean.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The UI's server functions, with the engine and the signed-in caller (from the session cookie) in
/// their context. A request riding on the cookie must come from our own pages.
async fn server_fn(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let session_secret = extract::session_cookie(&parts.headers);
    let mut caller = None;
    if let Some(secret) = &session_secret {
        if let Err(refused) = extract::check_same_origin(&parts) {
            return refused.into_response();
        }
        // An expired or revoked session is simply no session.
        caller = state.engine.authenticate_token(secret).await.ok();
    }
    let secure = state.settings.tls
        || parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https");
    let context = RequestContext {
        engine: state.engine.clone(),
        caller,
        session_secret,
        origin: extract::origin_of(&parts),
        secure,
        session_ttl: state.settings.session_ttl,
        kept_for: state.settings.kept_for(),
        commands: state.commands.clone(),
        room: RoomSlot::default(),
    };
    let room = context.room.clone();
    let req = Request::from_parts(parts, body);
    let response =
        leptos_axum::handle_server_fns_with_context(move || provide_context(context.clone()), req)
            .await
            .into_response();
    let response = with_error_status(response).await;
    room::keep_room_until_sent(response, room.take()).await
}

/// Server functions answer every error with a 500; give a refusal its real status (401, 403, 404,
/// 409, ...) so browsers, logs and tests see what happened.
async fn with_error_status(response: Response) -> Response {
    if response.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<app::api::AppError>(&bytes) {
        use app::api::AppError as E;
        use axum::http::StatusCode as S;
        parts.status = match error {
            E::Invalid(_) => S::BAD_REQUEST,
            E::NotFound(_) => S::NOT_FOUND,
            E::Conflict(_) => S::CONFLICT,
            E::Unauthorized(_) => S::UNAUTHORIZED,
            E::Forbidden(_) => S::FORBIDDEN,
            E::TooManyRequests(_) => S::TOO_MANY_REQUESTS,
            E::Transport(_) => S::BAD_REQUEST,
            E::Unavailable(_) => S::SERVICE_UNAVAILABLE,
            E::Internal(_) => S::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A `Correlation-Id` sent with a request comes back on its response.
async fn echo_correlation_id(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let echo = extract::correlation_of(&parts).ok().flatten();
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(id) = echo {
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            response.headers_mut().insert("correlation-id", value);
        }
    }
    response
}

/// Lets the rest of a request's handling finish even when its client goes away mid-request (a
/// timeout, a closed tab, a load generator that stops). hyper drops a request's future when its
/// connection closes; a future dropped while its `BEGIN` was on the wire left its pooled connection
/// inside a transaction (sqlx 0.8 queues a rollback only for a transaction it has seen begin), so
/// whatever ran on that connection next without a transaction of its own — the shared step write,
/// the event sequencer — stayed uncommitted. Now what started finishes, and its answer is simply not
/// delivered. The response body (an event stream, say) still stops with its connection.
pub async fn run_to_completion(req: Request, next: Next) -> Response {
    Finish(Some(Box::pin(next.run(req)))).await
}

/// A future that, dropped before it is done, goes on in a task of its own. Polled in place while
/// its caller waits: one allocation per request, and a task only when a client leaves.
struct Finish<F: Future<Output = Response> + Send + 'static>(Option<Pin<Box<F>>>);

impl<F: Future<Output = Response> + Send + 'static> Future for Finish<F> {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let Some(inner) = self.0.as_mut() else {
            return Poll::Pending; // polled after it was done: never happens
        };
        let response = std::task::ready!(inner.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(response)
    }
}

impl<F: Future<Output = Response> + Send + 'static> Drop for Finish<F> {
    fn drop(&mut self) {
        if let Some(unfinished) = self.0.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(unfinished);
            }
        }
    }
}
