//! `/api/jobs`: add, list, get, end, clear.

use app::domain::{CorrelationId, EndJob, Job, JobFilter, JobPage, NewJob, Status};
use app::service::Page;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated, Correlation, IdempotencyHeader};
use super::AppState;

/// `201 Created` with `Location` and the entity.
pub fn created<T: serde::Serialize>(location: String, body: &T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[utoipa::path(post, path = "/api/jobs", tag = "jobs", request_body = NewJob,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Same key from the same caller within 24 h: the original response, nothing created again"),
        ("Correlation-Id" = Option<String>, Header, pattern = "^[0-9A-Za-z_-]{1,50}$", description = "Recorded on the job; `[0-9A-Za-z_-]`, at most 50 characters"),
    ),
    responses(
        (status = 201, description = "Created", body = Job, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, description = "Idempotency-Key reused with another request", body = Problem),
    ))]
pub async fn add(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Correlation(correlation_id): Correlation,
    idempotency: IdempotencyHeader,
    body: ApiJson<NewJob>,
) -> Result<Response, ApiError> {
    let key = idempotency.bind("POST /api/jobs", &body.digest)?;
    let mut new = body.value;
    // The body may name it too, by the name the job shows it (a client echoing a job back).
    let named = new
        .correlation_id
        .take()
        .map(|raw| CorrelationId::parse(&raw).map_err(|m| ApiError::field("correlation_id", m)))
        .transpose()?;
    let correlation_id = match (correlation_id, named) {
        (Some(header), Some(named)) if header != named => {
            return Err(ApiError::field(
                "correlation_id",
                "differs from the Correlation-Id header (or query parameter); give one of them",
            ))
        }
        (header, named) => header.or(named),
    };
    let job = state
        .engine
        .add_job(&caller, new, correlation_id, key)
        .await?;
    Ok(created(format!("/api/jobs/{}", job.id), &job))
}

/// Query of `GET /api/jobs`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status, or several separated by commas (`started,unknown`).
    #[param(
        pattern = "^ *(started|finished|failed|aborted|unknown)? *(, *(started|finished|failed|aborted|unknown)? *)*$"
    )]
    status: Option<String>,
    /// `true`: only plug-in jobs; `false`: only internal ones.
    external: Option<bool>,
    /// Text in the description (case-insensitive); no NUL.
    #[param(pattern = "^[^\\u0000]*$")]
    q: Option<String>,
    correlation_id: Option<String>,
    /// Owner's user id or user name.
    owner: Option<String>,
    /// Inclusive. An RFC 3339 time (`2026-11-28T12:00:00Z`) or a date (`2026-11-28`, its midnight UTC).
    #[serde(default, deserialize_with = "app::domain::time_or_date")]
    #[param(value_type = Option<String>, pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+ -]([01][0-9]|2[0-3]):[0-5][0-9]))?)? *$")]
    started_after: Option<DateTime<Utc>>,
    /// Exclusive. An RFC 3339 time or a date, as `started_after`.
    #[serde(default, deserialize_with = "app::domain::time_or_date")]
    #[param(value_type = Option<String>, pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+ -]([01][0-9]|2[0-3]):[0-5][0-9]))?)? *$")]
    started_before: Option<DateTime<Utc>>,
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

pub fn parse_statuses(raw: Option<&str>) -> Result<Vec<Status>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Status::parse_ignore_case(s).map_err(|e| ApiError::field("status", e.to_string())))
        .collect()
}

#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let filter = JobFilter {
        status: parse_statuses(query.status.as_deref())?,
        external: query.external,
        q: query.q,
        q_match_case: false,
        correlation_id: query.correlation_id,
        correlation_id_not: None,
        owner: query.owner,
        started_after: query.started_after,
        started_before: query.started_before,
    };
    let page = Page {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(state.engine.list_jobs(&caller, &filter, &page).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// `steps` embeds the job's step tree.
    #[param(pattern = "^(steps)?$")]
    include: Option<String>,
}

#[utoipa::path(get, path = "/api/jobs/{job_id}", tag = "jobs",
    params(("job_id" = Uuid, Path), GetQuery),
    responses((status = 200, body = Job), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<GetQuery>,
) -> Result<Response, ApiError> {
    let include_steps = match query.include.as_deref() {
        None | Some("") => false,
        Some("steps") => true,
        Some(other) => {
            return Err(ApiError::field(
                "include",
                format!("`{other}` is not something a job can include; use `steps`"),
            ))
        }
    };
    // A large job's steps wait for room, which is held until the answer has been sent.
    let room = match include_steps {
        true => state.engine.room_for_steps(&[job_id]).await?,
        false => Default::default(),
    };
    let job = state.engine.get_job(&caller, job_id, include_steps).await?;
    Ok(super::room::keep_room_until_sent(Json(job).into_response(), room).await)
}

#[utoipa::path(post, path = "/api/jobs/{job_id}/end", tag = "jobs", request_body = EndJob,
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "Already ended with another status", body = Problem)))]
pub async fn end(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
    body: ApiJson<EndJob>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(
        state.engine.end_job(&caller, job_id, body.value).await?,
    ))
}

#[utoipa::path(post, path = "/api/jobs/{job_id}/clear", tag = "jobs",
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn clear(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.engine.clear_job(&caller, job_id).await?))
}
