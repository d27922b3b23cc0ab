//! Internal commands: a registry of the engine's own operations. A monitored command runs in the
//! background on a bounded pool and is tracked as a job (`is_external = false`) with a step per phase
//! (validating → executing → finalizing); given `job_id` (and `step_id`) its steps appear under a
//! plug-in's job instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{Caller, Engine, Origin, Result, ServiceError};
use crate::domain::{
    ActionGroup, Description, EndJob, EndStatus, EndStep, Job, JobFilter, NewJob, NewRole, NewStep,
    ParentType, Progress, Status, Step, StepType,
};

/// The engine's own user (owner of retention runs).
pub const ENGINE_USER: Uuid = Uuid::from_u128(0x00000000_0000_7000_8000_000000000001);

/// One parameter of a command, as `GET /api/capabilities` lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ParameterInfo {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub description: &'static str,
}

/// A command as `GET /api/capabilities` lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CommandInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// Tracked as a job; may run inside a plug-in's job (`job_id`, `step_id`).
    pub monitored: bool,
    /// What the caller needs besides RUN_INTERNAL_COMMANDS.
    pub action_group: ActionGroup,
    pub parameters: Vec<ParameterInfo>,
}

const FILTER: ParameterInfo = ParameterInfo {
    name: "filter",
    kind: "object",
    required: false,
    description: "The jobs list's filters: status (a list, or names separated by commas), external, q, correlation_id, owner, started_after and started_before (RFC 3339 times or dates)",
};
const DRY_RUN: ParameterInfo = ParameterInfo {
    name: "dry_run",
    kind: "boolean",
    required: false,
    description: "Only count what would be done",
};

/// Every command the engine has.
pub fn registry() -> Vec<CommandInfo> {
    vec![
        CommandInfo {
            name: "EndJobs",
            description: "End every running job matching a filter (a bulk end or abort)",
            monitored: true,
            action_group: ActionGroup::ManageTasks,
            parameters: vec![
                FILTER,
                ParameterInfo {
                    name: "status",
                    kind: "finished|failed|aborted",
                    required: true,
                    description: "The status to end them with",
                },
                DRY_RUN,
            ],
        },
        CommandInfo {
            name: "CleanupJobs",
            description:
                "Delete ended jobs (with their steps) matching a filter that ended long enough ago",
            monitored: true,
            action_group: ActionGroup::ManageTasks,
            parameters: vec![
                FILTER,
                ParameterInfo {
                    name: "older_than_minutes",
                    kind: "integer",
                    required: false,
                    description:
                        "Only jobs that ended at least this long ago (default 0, at most 52560000)",
                },
                ParameterInfo {
                    name: "older_than_minutes_unsuccessful",
                    kind: "integer",
                    required: false,
                    description:
                        "The same for failed and aborted jobs (default: older_than_minutes)",
                },
                ParameterInfo {
                    name: "auto_cleared_only",
                    kind: "boolean",
                    required: false,
                    description: "Only auto-cleared jobs (what retention does)",
                },
                DRY_RUN,
            ],
        },
        CommandInfo {
            name: "ExportJobs",
            description:
                "Write the jobs matching a filter, with their steps, to a downloadable file",
            monitored: true,
            action_group: ActionGroup::ViewTasks,
            parameters: vec![
                FILTER,
                ParameterInfo {
                    name: "format",
                    kind: "jsonl|csv",
                    required: true,
                    description:
                        "JSON Lines (a job with its steps per line) or CSV (a row per step)",
                },
            ],
        },
        CommandInfo {
            name: "CreateRole",
            description: "Create a role (quick; not monitored)",
            monitored: false,
            action_group: ActionGroup::ManageUsers,
            parameters: vec![
                ParameterInfo {
                    name: "name",
                    kind: "string",
                    required: true,
                    description: "The role's name",
                },
                ParameterInfo {
                    name: "action_groups",
                    kind: "array",
                    required: true,
                    description: "Its permissions",
                },
            ],
        },
    ]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndJobsParams {
    #[serde(default)]
    filter: JobFilter,
    status: EndStatus,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupParams {
    #[serde(default)]
    pub filter: JobFilter,
    #[serde(default)]
    pub older_than_minutes: i64,
    #[serde(default)]
    pub older_than_minutes_unsuccessful: Option<i64>,
    #[serde(default)]
    pub auto_cleared_only: bool,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    #[serde(default)]
    filter: JobFilter,
    format: ExportFormat,
}

/// A parsed command with its parameters.
#[derive(Clone, Debug)]
enum Command {
    EndJobs(EndJobsParams),
    CleanupJobs(CleanupParams),
    ExportJobs(ExportParams),
    CreateRole(NewRole),
}

fn parse<T: serde::de::DeserializeOwned>(params: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(params).map_err(|e| {
        let (field, message) = crate::domain::wording::json_data_error(
            &e.path().to_string(),
            &e.into_inner().to_string(),
        );
        ServiceError::invalid(field, message)
    })
}

/// The longest age `CleanupJobs` takes: 100 years, in minutes.
const MAX_AGE_MINUTES: i64 = 100 * 365 * 24 * 60;

/// An age for `make_interval`, never wrapped: beyond the limit (only a configured retention could get
/// there) it stays the limit, which no job is old enough for.
fn age_minutes(minutes: i64) -> i32 {
    minutes.clamp(0, MAX_AGE_MINUTES) as i32
}

impl Command {
    fn parse(name: &str, params: serde_json::Value) -> Result<Command> {
        let params = if params.is_null() {
            serde_json::json!({})
        } else {
            params
        };
        Ok(match name {
            "EndJobs" => Command::EndJobs(parse(params)?),
            "CleanupJobs" => {
                let p: CleanupParams = parse(params)?;
                let ages = [
                    ("older_than_minutes", Some(p.older_than_minutes)),
                    (
                        "older_than_minutes_unsuccessful",
                        p.older_than_minutes_unsuccessful,
                    ),
                ];
                for (field, minutes) in ages {
                    if minutes.is_some_and(|m| !(0..=MAX_AGE_MINUTES).contains(&m)) {
                        return Err(ServiceError::invalid(
                            field,
                            format!("must be between 0 and {MAX_AGE_MINUTES} (100 years)"),
                        ));
                    }
                }
                Command::CleanupJobs(p)
            }
            "ExportJobs" => Command::ExportJobs(parse(params)?),
            "CreateRole" => Command::CreateRole(parse(params)?),
            other => {
                return Err(ServiceError::NotFound(format!(
                    "there is no command named {other}"
                )))
            }
        })
    }

    fn summary(&self) -> String {
        match self {
            Command::EndJobs(p) => format!("End jobs as {}", Status::from(p.status)),
            Command::CleanupJobs(p) if p.auto_cleared_only => "Clean up auto-cleared jobs".into(),
            Command::CleanupJobs(_) => "Clean up ended jobs".into(),
            Command::ExportJobs(p) => format!(
                "Export jobs as {}",
                if p.format == ExportFormat::Csv {
                    "CSV"
                } else {
                    "JSON Lines"
                }
            ),
            Command::CreateRole(r) => format!("Create role {}", r.name),
        }
    }
}

/// What `POST /api/commands/{name}` answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CommandAccepted {
    /// The job the command runs under (monitored commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The step it runs under, when it runs inside a plug-in's job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// The outcome of a command that is not monitored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// Where a command was asked to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement {
    pub job_id: Option<Uuid>,
    pub step_id: Option<Uuid>,
}

/// Runs commands on a bounded pool of background workers.
#[derive(Clone)]
pub struct CommandRunner {
    engine: Engine,
    workers: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    export_dir: PathBuf,
}

/// Most commands waiting for a worker; beyond that new ones are refused (429).
const MAX_QUEUED: usize = 64;

/// Where a running command writes its phases.
struct Tracking {
    /// The caller's identity with the engine's permissions, for bookkeeping.
    actor: Caller,
    job_id: Uuid,
    /// The container step (inside a plug-in's job) or None (the command's own job).
    container: Option<Uuid>,
    /// Where the request that started it came from, for the audit log.
    origin: Origin,
}

impl CommandRunner {
    pub fn new(engine: Engine, workers: usize, export_dir: PathBuf) -> CommandRunner {
        CommandRunner {
            engine,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            queued: Arc::new(AtomicUsize::new(0)),
            export_dir,
        }
    }

    pub fn export_dir(&self) -> &PathBuf {
        &self.export_dir
    }

    /// Check, place and start a command (monitored ones answer at once; the work goes on in the
    /// background).
    pub async fn invoke(
        &self,
        caller: &Caller,
        origin: &Origin,
        name: &str,
        params: serde_json::Value,
        placement: Placement,
    ) -> Result<CommandAccepted> {
        let info = registry()
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ServiceError::NotFound(format!("there is no command named {name}")))?;
        caller.require(ActionGroup::RunInternalCommands)?;
        caller.require(info.action_group)?;
        let command = Command::parse(name, params)?;
        if !info.monitored {
            if placement.job_id.is_some() || placement.step_id.is_some() {
                return Err(ServiceError::invalid(
                    if placement.job_id.is_some() {
                        "job_id"
                    } else {
                        "step_id"
                    },
                    format!("{name} is not a monitored command, so it cannot run inside a job"),
                ));
            }
            let Command::CreateRole(role) = command else {
                return Err(ServiceError::Internal(
                    "unmonitored command without a body".into(),
                ));
            };
            let created = self.engine.create_role(caller, origin, role).await?;
            return Ok(CommandAccepted {
                job: None,
                step: None,
                result: Some(serde_json::to_value(created).unwrap_or_default()),
            });
        }
        if placement.step_id.is_some() && placement.job_id.is_none() {
            return Err(ServiceError::invalid("step_id", "needs job_id too"));
        }
        if self.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            return Err(ServiceError::TooManyRequests(
                "too many commands are waiting to run; try again shortly".into(),
            ));
        }
        let (tracking, accepted) = self.place(caller, origin, &command, placement).await?;
        self.spawn(command, tracking);
        Ok(accepted)
    }

    /// Retention's auto-clear pass, as a CleanupJobs run of the engine's own.
    pub async fn run_retention(
        &self,
        finished_minutes: i64,
        unsuccessful_minutes: i64,
    ) -> Result<()> {
        let actor = Caller::engine_for(ENGINE_USER, "stepwise-engine");
        let command = Command::CleanupJobs(CleanupParams {
            older_than_minutes: finished_minutes,
            older_than_minutes_unsuccessful: Some(unsuccessful_minutes),
            auto_cleared_only: true,
            ..Default::default()
        });
        let (tracking, _) = self
            .place(&actor, &Origin::default(), &command, Placement::default())
            .await?;
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.execute(command, tracking).await;
        Ok(())
    }

    async fn place(
        &self,
        caller: &Caller,
        origin: &Origin,
        command: &Command,
        placement: Placement,
    ) -> Result<(Tracking, CommandAccepted)> {
        let actor = Caller::engine_for(caller.user_id, &caller.username);
        let engine = &self.engine;
        match placement.job_id {
            Some(job_id) => {
                // The caller must be allowed to change the plug-in's job.
                let job = engine.get_job(&actor, job_id, false).await?;
                caller.may_change_job(job_id, job.owner)?;
                if job.status.is_terminal() {
                    return Err(ServiceError::conflict(format!(
                        "job {job_id} has ended ({}); a command cannot run in it",
                        job.status
                    )));
                }
                let new = NewStep {
                    description: describe(format!("Command: {}", command.summary()))?,
                    step_type: StepType::Executing,
                    parent_id: placement.step_id.or(Some(job_id)),
                    parent_type: Some(if placement.step_id.is_some() {
                        ParentType::Step
                    } else {
                        ParentType::Job
                    }),
                    parent_step: None,
                    parent_step_id: None,
                    progress: None,
                    status: None,
                    internal: true,
                };
                let step =
                    engine
                        .add_step(&actor, job_id, new, None)
                        .await
                        .map_err(|e| match e {
                            ServiceError::NotFound(m) if placement.step_id.is_some() => {
                                ServiceError::invalid("step_id", m)
                            }
                            other => other,
                        })?;
                let job = engine.get_job(&actor, job_id, false).await?;
                Ok((
                    Tracking {
                        actor,
                        job_id,
                        container: Some(step.id),
                        origin: origin.clone(),
                    },
                    CommandAccepted {
                        job: Some(job),
                        step: Some(step),
                        result: None,
                    },
                ))
            }
            None => {
                let new = NewJob {
                    description: describe(command.summary())?,
                    auto_cleared: true,
                    timeout_seconds: None,
                    correlation_id: None,
                };
                let job = engine.insert_job(&actor, new, None, None, false).await?;
                Ok((
                    Tracking {
                        actor,
                        job_id: job.id,
                        container: None,
                        origin: origin.clone(),
                    },
                    CommandAccepted {
                        job: Some(job),
                        step: None,
                        result: None,
                    },
                ))
            }
        }
    }

    fn spawn(&self, command: Command, tracking: Tracking) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let runner = self.clone();
        tokio::spawn(async move { runner.execute(command, tracking).await });
    }

    async fn execute(&self, command: Command, t: Tracking) {
        let permit = self.workers.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit;
        let outcome = self.phases(&command, &t).await;
        let (status, message) = match outcome {
            Ok(message) => (EndStatus::Finished, message),
            Err((phase, e)) => {
                let reason = match &e {
                    ServiceError::Internal(cause) => {
                        tracing::error!(%cause, "internal command failed");
                        "an internal error (logged on the server)".to_owned()
                    }
                    other => other.to_string(),
                };
                if let Some(step) = phase {
                    let _ = self.end(&t, step, EndStatus::Failed).await;
                }
                (EndStatus::Failed, format!("Failed: {reason}"))
            }
        };
        // Audited before the job ends, so whoever sees it ended finds the record.
        self.audit(&command, &t, status, &message).await;
        if let Err(e) = self.finish(&t, status, &message).await {
            tracing::error!(error = %e, "recording a command's outcome failed");
        }
    }

    /// A person's bulk change — ending or deleting the jobs a filter matches — goes in the audit log,
    /// which outlives the command's own auto-cleared job: who, from where, which run, what came of it
    /// and the filter. Dry runs and exports change nothing; retention's own passes (the engine's) are
    /// its routine, not a person's act.
    async fn audit(&self, command: &Command, t: &Tracking, status: EndStatus, message: &str) {
        let (action, filter) = match command {
            Command::EndJobs(p) if !p.dry_run => ("jobs_ended", &p.filter),
            Command::CleanupJobs(p) if !p.dry_run => ("jobs_deleted", &p.filter),
            _ => return,
        };
        if t.actor.user_id == ENGINE_USER {
            return;
        }
        let filter = match serde_json::to_string(filter) {
            Ok(f) if f != "{}" => format!("; filter {f}"),
            _ => "; every job".to_owned(),
        };
        let record = super::audit::Record {
            actor: Some(&t.actor),
            action,
            target: Some(format!("{} (job {})", command.summary(), t.job_id)),
            success: status == EndStatus::Finished,
            detail: Some(format!("{message}{filter}")),
        };
        if let Err(e) = super::audit::write(self.engine.pool(), &t.origin, record).await {
            tracing::error!(error = %e, "writing a command's audit record failed");
        }
    }

    async fn finish(&self, t: &Tracking, status: EndStatus, message: &str) -> Result<()> {
        // The outcome goes with the end: one change, one event.
        let engine = &self.engine;
        let said = outcome(message);
        match t.container {
            Some(step) => {
                engine
                    .end_step(
                        &t.actor,
                        t.job_id,
                        step,
                        EndStep {
                            status: Some(status),
                            fail_job: Some(false),
                            force: true,
                            result: said,
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            None => {
                engine
                    .end_job(
                        &t.actor,
                        t.job_id,
                        EndJob {
                            status: Some(status),
                            succeeded: None,
                            force: status != EndStatus::Finished,
                            result: said,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn phase(&self, t: &Tracking, step_type: StepType, description: &str) -> Result<Uuid> {
        let new = NewStep {
            description: describe(description.to_owned())?,
            step_type,
            parent_id: t.container,
            parent_type: Some(if t.container.is_some() {
                ParentType::Step
            } else {
                ParentType::Job
            }),
            parent_step: None,
            parent_step_id: None,
            progress: None,
            status: None,
            internal: true,
        };
        Ok(self
            .engine
            .add_step(&t.actor, t.job_id, new, None)
            .await?
            .id)
    }

    async fn end(&self, t: &Tracking, step: Uuid, status: EndStatus) -> Result<Step> {
        self.engine
            .end_step(
                &t.actor,
                t.job_id,
                step,
                EndStep {
                    status: Some(status),
                    fail_job: Some(false),
                    ..Default::default()
                },
            )
            .await
    }

    async fn progress(&self, t: &Tracking, step: Uuid, done: i64, total: i64) {
        let pct = if total <= 0 {
            100
        } else {
            (done * 100 / total).clamp(0, 100)
        };
        if let Ok(p) = Progress::parse(pct) {
            let _ = self.engine.set_progress(&t.actor, t.job_id, step, p).await;
        }
    }

    /// The phases; an error carries the phase step it happened in.
    async fn phases(
        &self,
        command: &Command,
        t: &Tracking,
    ) -> std::result::Result<String, (Option<Uuid>, ServiceError)> {
        let at = |step: Option<Uuid>| move |e: ServiceError| (step, e);
        let validating = self
            .phase(t, StepType::Validating, "Validating the request")
            .await
            .map_err(at(None))?;
        let total = match command {
            Command::EndJobs(p) => self.count_running(&p.filter, t).await,
            Command::CleanupJobs(p) => self.engine.count_cleanup(p).await,
            Command::ExportJobs(p) => self.engine.count_jobs(&p.filter).await,
            Command::CreateRole(_) => Ok(0),
        }
        .map_err(at(Some(validating)))?;
        self.end(t, validating, EndStatus::Finished)
            .await
            .map_err(at(Some(validating)))?;
        let dry_run = matches!(
            command,
            Command::EndJobs(EndJobsParams { dry_run: true, .. })
                | Command::CleanupJobs(CleanupParams { dry_run: true, .. })
        );
        if dry_run {
            return Ok(format!("Dry run: {total} job(s) would be affected"));
        }
        let executing = self
            .phase(t, StepType::Executing, "Working")
            .await
            .map_err(at(None))?;
        let message = match command {
            Command::EndJobs(p) => self.end_jobs(p, t, executing, total).await,
            Command::CleanupJobs(p) => self.cleanup(p, t, executing, total).await,
            Command::ExportJobs(p) => self.export(p, t, executing, total).await,
            Command::CreateRole(_) => Ok(String::new()),
        }
        .map_err(at(Some(executing)))?;
        self.end(t, executing, EndStatus::Finished)
            .await
            .map_err(at(Some(executing)))?;
        let finalizing = self
            .phase(t, StepType::Finalizing, "Recording the outcome")
            .await
            .map_err(at(None))?;
        self.end(t, finalizing, EndStatus::Finished)
            .await
            .map_err(at(Some(finalizing)))?;
        Ok(message)
    }

    fn running_filter(filter: &JobFilter) -> JobFilter {
        let mut f = filter.clone();
        let running = [Status::Started, Status::Unknown];
        f.status = if f.status.is_empty() {
            running.to_vec()
        } else {
            f.status
                .iter()
                .copied()
                .filter(|s| running.contains(s))
                .collect()
        };
        f
    }

    async fn count_running(&self, filter: &JobFilter, t: &Tracking) -> Result<i64> {
        let f = Self::running_filter(filter);
        if f.status.is_empty() {
            return Ok(0);
        }
        let n = self.engine.count_jobs(&f).await?;
        // The command's own job (or the plug-in's job it runs in) is not ended by it.
        Ok((n - i64::from(self.job_matches(&f, t.job_id).await?)).max(0))
    }

    async fn job_matches(&self, f: &JobFilter, job_id: Uuid) -> Result<bool> {
        self.engine.job_matches(f, job_id).await
    }

    async fn end_jobs(
        &self,
        p: &EndJobsParams,
        t: &Tracking,
        step: Uuid,
        total: i64,
    ) -> Result<String> {
        let f = Self::running_filter(&p.filter);
        // Each job it ends says who ended it and how, for the plug-in's author who finds it ended.
        let said = crate::domain::Description::parse(&format!(
            "Ended by {} with EndJobs (job {})",
            t.actor.username, t.job_id
        ))
        .ok();
        let mut done = 0i64;
        let mut skipped = std::collections::HashSet::from([t.job_id]);
        if !f.status.is_empty() {
            loop {
                let ids = self.engine.matching_job_ids(&f, &skipped, 100).await?;
                if ids.is_empty() {
                    break;
                }
                for id in ids {
                    let end = EndJob {
                        status: Some(p.status),
                        succeeded: None,
                        force: false,
                        result: said.clone(),
                    };
                    match self.engine.end_job(&t.actor, id, end).await {
                        Ok(_) => done += 1,
                        // Ended meanwhile by someone else, or gone: leave it.
                        Err(ServiceError::Conflict { .. } | ServiceError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                    skipped.insert(id);
                }
                self.progress(t, step, done, total.max(done)).await;
            }
        }
        Ok(format!("Ended {done} job(s) as {}", Status::from(p.status)))
    }

    async fn cleanup(
        &self,
        p: &CleanupParams,
        t: &Tracking,
        step: Uuid,
        total: i64,
    ) -> Result<String> {
        let mut done = 0i64;
        loop {
            let n = self.engine.delete_cleanup_batch(p, 500).await?;
            if n == 0 {
                break;
            }
            done += n as i64;
            self.progress(t, step, done, total.max(done)).await;
        }
        Ok(format!("Deleted {done} ended job(s)"))
    }

    async fn export(
        &self,
        p: &ExportParams,
        t: &Tracking,
        step: Uuid,
        total: i64,
    ) -> Result<String> {
        use std::io::Write;
        let id = Uuid::now_v7();
        let (ext, format) = match p.format {
            ExportFormat::Jsonl => ("jsonl", "jsonl"),
            ExportFormat::Csv => ("csv", "csv"),
        };
        std::fs::create_dir_all(&self.export_dir)
            .map_err(|e| ServiceError::Internal(format!("export folder: {e}")))?;
        // Recorded as a full path, so the download and the clean-up of old exports find the file
        // from whichever folder a process sharing the database runs in (on this host).
        let dir = std::fs::canonicalize(&self.export_dir)
            .map_err(|e| ServiceError::Internal(format!("export folder: {e}")))?;
        let path = dir.join(format!("{id}.{ext}"));
        let file = std::fs::File::create(&path)
            .map_err(|e| ServiceError::Internal(format!("export file: {e}")))?;
        let fail =
            |e: &dyn std::fmt::Display| ServiceError::Internal(format!("writing the export: {e}"));
        enum Sink {
            Jsonl(std::io::BufWriter<std::fs::File>),
            Csv(Box<csv::Writer<std::fs::File>>),
        }
        let mut sink = match p.format {
            ExportFormat::Jsonl => Sink::Jsonl(std::io::BufWriter::new(file)),
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record([
                    "job_id",
                    "job_description",
                    "job_status",
                    "is_external",
                    "owner",
                    "correlation_id",
                    "job_start_time",
                    "job_end_time",
                    "step_id",
                    "parent_step_id",
                    "number",
                    "type",
                    "step_description",
                    "step_status",
                    "progress",
                    "step_start_time",
                    "step_end_time",
                    // Last, so that the columns before keep their places for existing readers.
                    "job_result",
                    "step_result",
                ])
                .map_err(|e| fail(&e))?;
                Sink::Csv(Box::new(w))
            }
        };
        let time = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map(|d| d.to_rfc3339()).unwrap_or_default()
        };
        let mut cursor = None;
        let mut done = 0i64;
        loop {
            let page = self
                .engine
                .list_jobs(
                    &t.actor,
                    &p.filter,
                    &super::Page {
                        limit: Some(200),
                        cursor,
                    },
                )
                .await?;
            let ids: Vec<Uuid> = page.items.iter().map(|j| j.id).collect();
            // The page's jobs in runs whose steps together stay within the load budget: a page
            // of jobs with 100,000 steps each must not be read into memory at once.
            let mut from = 0;
            while from < ids.len() {
                let (covered, steps) = self.engine.steps_of(&ids[from..]).await?;
                let mut by_job = steps_by_job(steps);
                for job in &page.items[from..from + covered] {
                    let mine = by_job.remove(&job.id).unwrap_or_default();
                    match &mut sink {
                        Sink::Jsonl(out) => {
                            let mut value = serde_json::to_value(job).unwrap_or_default();
                            value["steps"] = serde_json::to_value(&mine).unwrap_or_default();
                            serde_json::to_writer(&mut *out, &value).map_err(|e| fail(&e))?;
                            out.write_all(b"\n").map_err(|e| fail(&e))?;
                        }
                        Sink::Csv(w) => {
                            let job_cols = [
                                job.id.to_string(),
                                job.description.clone(),
                                job.status.to_string(),
                                job.is_external.to_string(),
                                job.owner_name.clone(),
                                job.correlation_id.clone().unwrap_or_default(),
                                job.start_time.to_rfc3339(),
                                time(job.end_time),
                            ];
                            let job_result = job.result.clone().unwrap_or_default();
                            if mine.is_empty() {
                                let mut row = job_cols.to_vec();
                                row.extend(std::iter::repeat_n(String::new(), 9));
                                row.extend([job_result.clone(), String::new()]);
                                w.write_record(&row).map_err(|e| fail(&e))?;
                            }
                            for s in mine {
                                let mut row = job_cols.to_vec();
                                row.extend([
                                    s.id.to_string(),
                                    s.parent_step_id.map(|p| p.to_string()).unwrap_or_default(),
                                    s.number.to_string(),
                                    s.step_type.as_str().to_owned(),
                                    s.description.clone(),
                                    s.status.to_string(),
                                    s.progress.map(|p| p.to_string()).unwrap_or_default(),
                                    s.start_time.to_rfc3339(),
                                    time(s.end_time),
                                    job_result.clone(),
                                    s.result.clone().unwrap_or_default(),
                                ]);
                                w.write_record(&row).map_err(|e| fail(&e))?;
                            }
                        }
                    }
                    done += 1;
                }
                from += covered;
            }
            self.progress(t, step, done, total.max(done)).await;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        match sink {
            Sink::Jsonl(mut out) => out.flush().map_err(|e| fail(&e))?,
            Sink::Csv(mut w) => w.flush().map_err(|e| fail(&e))?,
        }
        sqlx::query("insert into export_file (id, owner, job_id, format, path, rows) values ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(t.actor.user_id)
            .bind(t.job_id)
            .bind(format)
            .bind(path.to_string_lossy().to_string())
            .bind(done)
            .execute(self.engine.pool())
            .await?;
        Ok(format!("Exported {done} job(s): /api/exports/{id}"))
    }
}

/// Most steps one read of several jobs' steps brings into memory (an oVirt list with
/// `follow=steps`, a page of an export): as many as one job may hold.
pub const MAX_STEPS_PER_LOAD: i64 = crate::domain::limits::MAX_STEPS_PER_JOB as i64;

/// How many of `ids`, from the first, hold at most [`MAX_STEPS_PER_LOAD`] steps together; at least
/// one, since a job holds no more than that itself.
fn within_budget(ids: &[Uuid], steps_of: impl Fn(&Uuid) -> i64) -> usize {
    let mut total = 0;
    for (n, id) in ids.iter().enumerate() {
        total += steps_of(id);
        if total > MAX_STEPS_PER_LOAD && n > 0 {
            return n;
        }
    }
    ids.len()
}

/// Steps grouped by their job, each group in the order given.
pub fn steps_by_job(steps: Vec<Step>) -> std::collections::HashMap<Uuid, Vec<Step>> {
    let mut by_job: std::collections::HashMap<Uuid, Vec<Step>> = std::collections::HashMap::new();
    for s in steps {
        by_job.entry(s.job_id).or_default().push(s);
    }
    by_job
}

fn describe(text: String) -> Result<Description> {
    Description::parse(&text)
        .map_err(|m| ServiceError::Internal(format!("command description: {m}")))
}

/// A command's outcome as an end's words: what the store can hold (no NUL), at most as long as a
/// description may be; none when nothing is left.
fn outcome(message: &str) -> Option<Description> {
    let text: String = message
        .chars()
        .filter(|&c| c != '\0')
        .take(crate::domain::limits::MAX_DESCRIPTION_CHARS)
        .collect();
    Description::parse(&text).ok()
}

/// An export file, for download.
#[derive(Clone, Debug)]
pub struct ExportFile {
    pub path: PathBuf,
    pub format: String,
}

impl Engine {
    /// How many jobs match `filter`, for a caller's preview (needs VIEW_TASKS).
    pub async fn preview_count(&self, caller: &Caller, filter: &JobFilter) -> Result<i64> {
        caller.require(ActionGroup::ViewTasks)?;
        self.count_jobs(filter).await
    }

    /// How many jobs match `filter`.
    pub async fn count_jobs(&self, filter: &JobFilter) -> Result<i64> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "select count(*) from job j join app_user u on u.id = j.owner where true",
        );
        super::jobs::push_filter(&mut qb, filter)?;
        Ok(qb.build_query_scalar().fetch_one(&self.pool).await?)
    }

    async fn job_matches(&self, filter: &JobFilter, job_id: Uuid) -> Result<bool> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "select count(*) from job j join app_user u on u.id = j.owner where j.id = ",
        );
        qb.push_bind(job_id);
        super::jobs::push_filter(&mut qb, filter)?;
        let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

    async fn matching_job_ids(
        &self,
        filter: &JobFilter,
        skip: &std::collections::HashSet<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "select j.id from job j join app_user u on u.id = j.owner where not (j.id = any(",
        );
        qb.push_bind(skip.iter().copied().collect::<Vec<_>>())
            .push("))");
        super::jobs::push_filter(&mut qb, filter)?;
        qb.push(" order by j.start_time, j.id limit ")
            .push_bind(limit);
        Ok(qb.build_query_scalar().fetch_all(&self.pool).await?)
    }

    fn push_cleanup(qb: &mut QueryBuilder<'_, Postgres>, p: &CleanupParams) -> Result<()> {
        super::jobs::push_filter(qb, &p.filter)?;
        qb.push(" and ((j.status = 'finished' and j.end_time < now() - make_interval(mins => ")
            .push_bind(age_minutes(p.older_than_minutes))
            .push(")) or (j.status in ('failed', 'aborted') and j.end_time < now() - make_interval(mins => ")
            .push_bind(age_minutes(p.older_than_minutes_unsuccessful.unwrap_or(p.older_than_minutes)))
            .push(")))");
        if p.auto_cleared_only {
            qb.push(" and j.auto_cleared");
        }
        Ok(())
    }

    async fn count_cleanup(&self, p: &CleanupParams) -> Result<i64> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "select count(*) from job j join app_user u on u.id = j.owner where true",
        );
        Self::push_cleanup(&mut qb, p)?;
        Ok(qb.build_query_scalar().fetch_one(&self.pool).await?)
    }

    /// Delete up to `limit` ended jobs for a cleanup (never a running one); how many went.
    async fn delete_cleanup_batch(&self, p: &CleanupParams, limit: i64) -> Result<u64> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "delete from job where id in (select j.id from job j join app_user u on u.id = j.owner where true",
        );
        Self::push_cleanup(&mut qb, p)?;
        qb.push(" limit ")
            .push_bind(limit)
            .push(" for update of j skip locked)");
        let deleted = qb.build().execute(&self.pool).await?.rows_affected();
        if deleted > 0 {
            self.changed();
        }
        Ok(deleted)
    }

    /// The steps of the first of `job_ids` (needs VIEW_TASKS): as many jobs, in order, as hold at
    /// most [`MAX_STEPS_PER_LOAD`] steps together, and always the first. Returns how many of the
    /// jobs that is, and their steps, parents before children.
    pub async fn steps_of_jobs(
        &self,
        caller: &Caller,
        job_ids: &[Uuid],
    ) -> Result<(usize, Vec<Step>)> {
        caller.require(ActionGroup::ViewTasks)?;
        self.steps_of(job_ids).await
    }

    /// As [`Engine::steps_of_jobs`], without the permission check: two queries, whatever the
    /// number of jobs, and never more than the budget (plus what is added meanwhile) in memory.
    async fn steps_of(&self, job_ids: &[Uuid]) -> Result<(usize, Vec<Step>)> {
        let counts: Vec<(Uuid, i32)> =
            sqlx::query_as("select id, step_count from job where id = any($1)")
                .bind(job_ids)
                .fetch_all(&self.pool)
                .await?;
        let counts: std::collections::HashMap<Uuid, i64> = counts
            .into_iter()
            .map(|(id, n)| (id, i64::from(n)))
            .collect();
        let covered = within_budget(job_ids, |id| counts.get(id).copied().unwrap_or(0));
        let rows: Vec<super::rows::StepRow> = sqlx::query_as(&format!(
            "select {} from step s where s.job_id = any($1) order by s.job_id, s.depth, s.number",
            super::rows::STEP_COLUMNS
        ))
        .bind(&job_ids[..covered])
        .fetch_all(&self.pool)
        .await?;
        Ok((covered, super::rows::steps(rows)?))
    }

    /// An export the caller may download: its own, or any with MANAGE_TASKS.
    pub async fn export_file(&self, caller: &Caller, id: Uuid) -> Result<ExportFile> {
        caller.require(ActionGroup::ViewTasks)?;
        let row: Option<(Uuid, String, String)> =
            sqlx::query_as("select owner, format, path from export_file where id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let (owner, format, path) =
            row.ok_or_else(|| ServiceError::NotFound(format!("export {id} not found")))?;
        if owner != caller.user_id && !caller.can(ActionGroup::ManageTasks) {
            return Err(ServiceError::Forbidden(
                "this export belongs to another user".into(),
            ));
        }
        Ok(ExportFile {
            path: PathBuf::from(path),
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_takes_jobs_until_their_steps_pass_the_budget_and_always_the_first() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let of = |counts: [i64; 4]| {
            let ids = ids.clone();
            move |id: &Uuid| counts[ids.iter().position(|i| i == id).unwrap()]
        };
        assert_eq!(within_budget(&ids, of([1, 2, 3, 4])), 4);
        assert_eq!(within_budget(&ids, of([1, MAX_STEPS_PER_LOAD, 1, 1])), 1);
        assert_eq!(
            within_budget(&ids, of([MAX_STEPS_PER_LOAD - 1, 1, 1, 1])),
            2
        );
        assert_eq!(
            within_budget(&ids, of([MAX_STEPS_PER_LOAD + 5, 1, 1, 1])),
            1
        );
        assert_eq!(within_budget(&[], of([0; 4])), 0);
    }
}
