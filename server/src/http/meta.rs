//! Health and capabilities.

use app::domain::{limits, Status, StepType};
use app::service::commands::{registry, CommandInfo};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Authenticated;
use super::AppState;

/// `GET /healthz`: 200 when the database answers, 503 when not.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let probe = sqlx::query_scalar::<_, i32>("select 1").fetch_one(state.engine.pool());
    match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"status": "unavailable", "detail": "the database is not answering"}),
            ),
        ),
    }
}

/// What this engine can do and the limits it enforces.
#[derive(Serialize, ToSchema)]
pub struct Capabilities {
    pub api_version: String,
    pub job_statuses: Vec<Status>,
    pub step_statuses: Vec<Status>,
    pub step_types: Vec<StepType>,
    /// Internal commands that are tracked as jobs and may run inside a plug-in's job.
    pub monitored_commands: Vec<CommandInfo>,
    /// Every command, each with its `monitored` flag.
    pub commands: Vec<CommandInfo>,
    pub limits: Limits,
}

#[derive(Serialize, ToSchema)]
pub struct Limits {
    pub description_max_chars: usize,
    /// Longest `result` an end may carry (how the job or step went), after trimming.
    pub result_max_chars: usize,
    pub step_depth_max: i32,
    pub steps_per_job_max: i32,
    pub page_size_max: i64,
    pub page_size_default: i64,
    pub request_body_max_bytes: usize,
    pub correlation_id_max_chars: usize,
    pub idempotency_key_max_chars: usize,
    pub idempotency_window_hours: i64,
    /// How far back `GET /api/events` replays with `Last-Event-ID`: events older than this are
    /// forgotten, and a position among them gets `resync`.
    pub event_replay_window_hours: i64,
    /// How long an ExportJobs file stays downloadable at `/api/exports/{id}`.
    pub export_retention_hours: i64,
    /// How long the audit log keeps a record.
    pub audit_retention_days: i64,
}

#[utoipa::path(get, path = "/api/capabilities", tag = "meta",
    responses((status = 200, body = Capabilities), (status = 401, body = super::error::Problem)))]
pub async fn capabilities(
    State(state): State<AppState>,
    _caller: Authenticated,
) -> Json<Capabilities> {
    let kept_for = state.settings.kept_for();
    Json(Capabilities {
        api_version: "1".into(),
        job_statuses: Status::ALL.to_vec(),
        step_statuses: Status::ALL.to_vec(),
        step_types: StepType::ALL.to_vec(),
        monitored_commands: registry().into_iter().filter(|c| c.monitored).collect(),
        commands: registry(),
        limits: Limits {
            description_max_chars: limits::MAX_DESCRIPTION_CHARS,
            result_max_chars: limits::MAX_DESCRIPTION_CHARS,
            step_depth_max: limits::MAX_STEP_DEPTH,
            steps_per_job_max: limits::MAX_STEPS_PER_JOB,
            page_size_max: limits::MAX_PAGE_SIZE,
            page_size_default: limits::DEFAULT_PAGE_SIZE,
            request_body_max_bytes: limits::MAX_BODY_BYTES,
            correlation_id_max_chars: limits::MAX_CORRELATION_ID_CHARS,
            idempotency_key_max_chars: limits::MAX_IDEMPOTENCY_KEY_CHARS,
            idempotency_window_hours: limits::IDEMPOTENCY_WINDOW_HOURS,
            event_replay_window_hours: kept_for.events_hours,
            export_retention_hours: kept_for.exports_hours,
            audit_retention_days: kept_for.audit_days,
        },
    })
}
