//! Jobs for the Tasks pane.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

use super::AppError;
use crate::domain::{EndStatus, Job, JobFilter, JobPage};

/// A page of jobs matching `filter`, newest first.
#[server(prefix = "/sfn", endpoint = "list_jobs", input = Json)]
pub async fn list_jobs(
    filter: JobFilter,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<JobPage, AppError> {
    let (engine, caller) = super::context::caller()?;
    let page = crate::service::Page { limit, cursor };
    Ok(engine.list_jobs(&caller, &filter, &page).await?)
}

/// A job with its step tree.
#[server(prefix = "/sfn", endpoint = "get_job", input = Json)]
pub async fn get_job(job_id: Uuid) -> Result<Job, AppError> {
    let (engine, caller) = super::context::caller()?;
    // A large job's steps wait for room, as the REST routes' do, kept until the answer is sent.
    let room = engine.room_for_steps(&[job_id]).await?;
    let job = engine.get_job(&caller, job_id, true).await?;
    super::context::request()?.room.put(room);
    Ok(job)
}

/// End a job; `force` aborts its running steps and may overwrite an ended job's status. `result`
/// says why, in words (blank: nothing said).
#[server(prefix = "/sfn", endpoint = "end_job", input = Json)]
pub async fn end_job(
    job_id: Uuid,
    status: EndStatus,
    force: bool,
    result: Option<String>,
) -> Result<Job, AppError> {
    let (engine, caller) = super::context::caller()?;
    let result = match result.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            crate::domain::Description::parse(text)
                .map_err(|m| crate::service::ServiceError::invalid("result", m))?,
        ),
    };
    let input = crate::domain::EndJob {
        status: Some(status),
        succeeded: None,
        force,
        result,
    };
    Ok(engine.end_job(&caller, job_id, input).await?)
}

/// Mark a job auto-cleared.
#[server(prefix = "/sfn", endpoint = "clear_job", input = Json)]
pub async fn clear_job(job_id: Uuid) -> Result<Job, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.clear_job(&caller, job_id).await?)
}

/// How many jobs match `filter` (the preview before a bulk command).
#[server(prefix = "/sfn", endpoint = "count_jobs", input = Json)]
pub async fn count_jobs(filter: JobFilter) -> Result<i64, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.preview_count(&caller, &filter).await?)
}

/// Start a bulk command (EndJobs, CleanupJobs, ExportJobs) over `filter`; answers the job it runs as.
#[server(prefix = "/sfn", endpoint = "run_command", input = Json)]
pub async fn run_command(name: String, params: serde_json::Value) -> Result<Option<Job>, AppError> {
    let (_, caller) = super::context::caller()?;
    let ctx = super::context::request()?;
    let accepted = ctx
        .commands
        .invoke(&caller, &ctx.origin, &name, params, Default::default())
        .await?;
    Ok(accepted.job)
}
