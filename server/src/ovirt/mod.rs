//! oVirt API v4 compatibility: existing plug-ins (the oVirt Python SDK, its Ansible modules) work
//! unchanged against `/ovirt-engine`. The same service layer, rules and permissions as the native API;
//! only the wire format differs.

mod routes;
mod sso;
pub mod xml;

use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ovirt-engine/sso/oauth/token", post(sso::token))
        .route("/ovirt-engine/services/sso-logout", post(sso::logout))
        .route("/ovirt-engine/api", get(routes::root))
        .route(
            "/ovirt-engine/api/jobs",
            get(routes::list_jobs).post(routes::add_job),
        )
        .route("/ovirt-engine/api/jobs/{job_id}", get(routes::get_job))
        .route("/ovirt-engine/api/jobs/{job_id}/end", post(routes::end_job))
        .route(
            "/ovirt-engine/api/jobs/{job_id}/clear",
            post(routes::clear_job),
        )
        .route(
            "/ovirt-engine/api/jobs/{job_id}/steps",
            get(routes::list_steps).post(routes::add_step),
        )
        .route(
            "/ovirt-engine/api/jobs/{job_id}/steps/{step_id}",
            get(routes::get_step),
        )
        .route(
            "/ovirt-engine/api/jobs/{job_id}/steps/{step_id}/end",
            post(routes::end_step),
        )
        .route(
            "/ovirt-engine/api/jobs/{job_id}/steps/{step_id}/statistics",
            get(routes::statistics),
        )
        .route("/ovirt-engine/api/users", get(routes::list_users))
        .route("/ovirt-engine/api/users/{user_id}", get(routes::get_user))
        .route(
            "/ovirt-engine/api/{*rest}",
            get(routes::no_such).post(routes::no_such),
        )
}
