//! Retention settings (SPEC §7): read with VIEW_TASKS, changed and put back with MANAGE_TASKS.

use app::domain::{Retention, RetentionInput};
use axum::extract::State;
use axum::Json;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, Authenticated, ClientOrigin};
use super::AppState;

#[utoipa::path(get, path = "/api/settings/retention", tag = "settings",
    responses((status = 200, description = "The settings in force and where they come from", body = Retention),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn retention(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(state.engine.retention(&caller).await?))
}

#[utoipa::path(put, path = "/api/settings/retention", tag = "settings", request_body = RetentionInput,
    responses((status = 200, description = "Stored for every server process on the database; the next pass uses them", body = Retention),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn set_retention(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    body: ApiJson<RetentionInput>,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(
        state
            .engine
            .set_retention(&caller, &origin, body.value)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/settings/retention", tag = "settings",
    responses((status = 200, description = "Back to each server process's configuration", body = Retention),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn reset_retention(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(state.engine.reset_retention(&caller, &origin).await?))
}
