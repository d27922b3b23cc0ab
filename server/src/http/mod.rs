//! The HTTP surface: REST routes under `/api`, health, the UI's server functions under `/sfn`.

pub mod auth;
pub mod error;
pub mod extract;
mod jobs;
mod meta;
pub mod openapi;
mod steps;

use std::sync::Arc;

use app::service::Engine;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::provide_context;

/// Everything a request handler needs, built once at start-up.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub settings: Arc<Settings>,
}

/// Settings the handlers read.
#[derive(Clone, Debug)]
pub struct Settings {
    pub token_ttl: chrono::Duration,
}

/// The REST API: mounted at `/api`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/capabilities", get(meta::capabilities))
        .route("/openapi.json", get(openapi::document))
        .route("/jobs", post(jobs::add).get(jobs::list))
        .route("/jobs/{job_id}", get(jobs::get))
        .route("/jobs/{job_id}/end", post(jobs::end))
        .route("/jobs/{job_id}/clear", post(jobs::clear))
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
        .route("/sfn/{*fn_name}", post(server_fn).get(server_fn))
        .with_state(state)
}

/// The UI's server functions, with the engine in their context.
async fn server_fn(State(state): State<AppState>, req: Request) -> impl IntoResponse {
    let engine = state.engine.clone();
    leptos_axum::handle_server_fns_with_context(move || provide_context(engine.clone()), req).await
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
