//! `POST /api/commands/{name}`, export downloads, job heartbeats.

use app::domain::Job;
use app::service::commands::{CommandAccepted, Placement};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{parse_json, ApiPath, ApiQuery, Authenticated, ClientOrigin};
use super::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlacementQuery {
    /// Run the command's steps inside this (plug-in's) job — the seed's `jobId`.
    job_id: Option<Uuid>,
    /// ... under this step of it — the seed's `stepId`.
    step_id: Option<Uuid>,
}

/// Run an internal command. A monitored one answers `202` with the job (and step) it runs under and
/// goes on in the background; one that is not monitored answers `200` with its result.
#[utoipa::path(post, path = "/api/commands/{name}", tag = "commands",
    params(("name" = String, Path, description = "See `GET /api/capabilities`"), PlacementQuery),
    request_body(content = Object, description = "The command's parameters"),
    responses(
        (status = 202, description = "A monitored command started", body = CommandAccepted),
        (status = 200, description = "A command that is not monitored ran", body = CommandAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "No such command, job or step", body = Problem),
        (status = 409, body = Problem), (status = 429, description = "Too many commands waiting", body = Problem)))]
pub async fn run(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PlacementQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        parse_json(&body)?
    };
    let placement = Placement {
        job_id: query.job_id,
        step_id: query.step_id,
    };
    let accepted = state
        .commands
        .invoke(&caller, &origin, &name, params, placement)
        .await?;
    let status = if accepted.job.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(&accepted)).into_response();
    if let Some(job) = &accepted.job {
        if let Ok(v) = HeaderValue::from_str(&format!("/api/jobs/{}", job.id)) {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(response)
}

/// Download an ExportJobs file (its owner, or MANAGE_TASKS).
#[utoipa::path(get, path = "/api/exports/{export_id}", tag = "commands", params(("export_id" = Uuid, Path)),
    responses((status = 200, description = "The file (application/x-ndjson or text/csv)"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn download(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(export_id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let export = state.engine.export_file(&caller, export_id).await?;
    let file = tokio::fs::File::open(&export.path).await.map_err(|_| {
        ApiError::not_found(format!("export {export_id} is no longer on the server"))
    })?;
    let (content_type, ext) = if export.format == "csv" {
        ("text/csv", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    let stream = tokio_util::io::ReaderStream::new(file);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"stepwise-export-{export_id}.{ext}\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Renew a job's lease.
#[utoipa::path(post, path = "/api/jobs/{job_id}/heartbeat", tag = "jobs", params(("job_id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(job_id): ApiPath<Uuid>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.engine.heartbeat(&caller, job_id).await?))
}
