//! `/api/jobs/{job_id}/steps`: add, list, get, end, progress.

use app::domain::{EndStep, NewStep, SetProgress, Step, StepList};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated, IdempotencyHeader};
use super::jobs::created;
use super::AppState;

#[utoipa::path(post, path = "/api/jobs/{job_id}/steps", tag = "steps", request_body = NewStep,
    params(("job_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Same key from the same caller within 24 h: the original response, nothing created again")),
    responses(
        (status = 201, description = "Created", body = Step, headers(("Location" = String))),
        (status = 400, description = "Bad input, or a parent step of another job", body = Problem),
        (status = 401, body = Problem),
        (status = 404, description = "No such job or parent step", body = Problem),
        (status = 409, description = "The job or the parent step has ended", body = Problem),
        (status = 422, body = Problem),
    ))]
pub async fn add(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
    idempotency: IdempotencyHeader,
    body: ApiJson<NewStep>,
) -> Result<Response, ApiError> {
    let key = idempotency.bind(&format!("POST /api/jobs/{job_id}/steps"), &body.digest)?;
    let step = state
        .engine
        .add_step(&caller, job_id, body.value, key)
        .await?;
    Ok(created(
        format!("/api/jobs/{job_id}/steps/{}", step.id),
        &step,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` nests sub-steps under their parents.
    tree: Option<bool>,
}

#[utoipa::path(get, path = "/api/jobs/{job_id}/steps", tag = "steps",
    params(("job_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = StepList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    // A large job's steps wait for room, which is held until the answer has been sent.
    let room = state.engine.room_for_steps(&[job_id]).await?;
    let steps = state
        .engine
        .list_steps(&caller, job_id, query.tree.unwrap_or(false))
        .await?;
    Ok(super::room::keep_room_until_sent(Json(steps).into_response(), room).await)
}

#[utoipa::path(get, path = "/api/jobs/{job_id}/steps/{step_id}", tag = "steps",
    params(("job_id" = Uuid, Path), ("step_id" = Uuid, Path)),
    responses((status = 200, body = Step), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath((job_id, step_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Step>, ApiError> {
    Ok(Json(state.engine.get_step(&caller, job_id, step_id).await?))
}

#[utoipa::path(post, path = "/api/jobs/{job_id}/steps/{step_id}/end", tag = "steps", request_body = EndStep,
    params(("job_id" = Uuid, Path), ("step_id" = Uuid, Path)),
    responses((status = 200, body = Step), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "Already ended with another status, or running sub-steps (listed in `ids`)", body = Problem)))]
pub async fn end(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath((job_id, step_id)): ApiPath<(Uuid, Uuid)>,
    body: ApiJson<EndStep>,
) -> Result<Json<Step>, ApiError> {
    Ok(Json(
        state
            .engine
            .end_step(&caller, job_id, step_id, body.value)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/jobs/{job_id}/steps/{step_id}/progress", tag = "steps", request_body = SetProgress,
    params(("job_id" = Uuid, Path), ("step_id" = Uuid, Path)),
    responses((status = 200, body = Step), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "The step has ended", body = Problem)))]
pub async fn progress(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath((job_id, step_id)): ApiPath<(Uuid, Uuid)>,
    body: ApiJson<SetProgress>,
) -> Result<Json<Step>, ApiError> {
    Ok(Json(
        state
            .engine
            .set_progress(&caller, job_id, step_id, body.value.progress)
            .await?,
    ))
}
