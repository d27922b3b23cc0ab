//! Jobs, steps and their status values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The status of a job or a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Running.
    Started,
    /// Succeeded.
    Finished,
    Failed,
    Aborted,
    /// The engine lost track of it; it may still be ended normally.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Started,
        Status::Finished,
        Status::Failed,
        Status::Aborted,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Aborted => "aborted",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Reads a status from outside (a query, an oVirt body), where `Started` and
    /// `STARTED` mean `started`. The error says which values there are.
    pub fn parse_ignore_case(s: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }

    /// Terminal states are final; `unknown` is not one of them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Finished | Status::Failed | Status::Aborted)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that names no status; its message lists those there are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl std::fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not one of ", self.0)?;
        for (i, status) in Status::ALL.into_iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == Status::ALL.len() => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{status}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownStatus {}

/// The statuses an end request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndStatus {
    Finished,
    Failed,
    Aborted,
}

impl From<EndStatus> for Status {
    fn from(s: EndStatus) -> Status {
        match s {
            EndStatus::Finished => Status::Finished,
            EndStatus::Failed => Status::Failed,
            EndStatus::Aborted => Status::Aborted,
        }
    }
}

/// The phase a step stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepType {
    Validating,
    Executing,
    Finalizing,
    /// The phase is not stated: oVirt's `StepEnum.UNKNOWN`, which its Ansible module (`ovirt_job`)
    /// gives every step it adds.
    Unknown,
}

impl StepType {
    pub const ALL: [StepType; 4] = [
        StepType::Validating,
        StepType::Executing,
        StepType::Finalizing,
        StepType::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Validating => "validating",
            StepType::Executing => "executing",
            StepType::Finalizing => "finalizing",
            StepType::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<StepType> {
        StepType::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A job: a container of nested steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub description: String,
    pub status: Status,
    /// True for jobs added by a plug-in, false for the engine's own commands.
    pub is_external: bool,
    /// Purged by retention once ended.
    pub auto_cleared: bool,
    /// The id of the user that created the job.
    pub owner: Uuid,
    /// The owner's user name.
    pub owner_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub start_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// Moves on every change to the job or any of its steps.
    pub last_updated: DateTime<Utc>,
    /// What an internal command reports (counts, a download link, or why it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The job's lease: it becomes `unknown` when nothing changes it for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// 0..=100 where known: 100 once finished, else the mean over its top-level steps (an ended step
    /// counts 100, a running one its progress or 0); none while no step tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i16>,
    /// The step tree, when asked for with `include=steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub steps: Option<Vec<StepNode>>,
}

/// A step of a job, possibly under another step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub id: Uuid,
    pub job_id: Uuid,
    /// Null for a step directly under its job.
    #[serde(default)]
    pub parent_step_id: Option<Uuid>,
    /// Order among its siblings, from 0.
    pub number: i32,
    #[serde(rename = "type")]
    pub step_type: StepType,
    pub description: String,
    pub status: Status,
    pub is_external: bool,
    /// 0..=100: the step's own progress, or the roll-up of its sub-steps where it has none itself
    /// (none for a step that failed or was aborted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i16>,
    pub start_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// What an internal command's step reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// A step with its sub-steps, ordered by number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepNode {
    #[serde(flatten)]
    pub step: Step,
    #[schema(no_recursion)]
    pub children: Vec<StepNode>,
}

/// One page of jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<Job>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The steps of a job, flat (parent before children, siblings by number) or as a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StepList {
    Flat {
        items: Vec<Step>,
    },
    #[schema(no_recursion)]
    Tree {
        items: Vec<StepNode>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_from_outside_is_read_without_regard_to_case() {
        for status in Status::ALL {
            assert_eq!(Status::parse_ignore_case(status.as_str()), Ok(status));
            let upper = status.as_str().to_ascii_uppercase();
            assert_eq!(Status::parse_ignore_case(&upper), Ok(status));
        }
        assert_eq!(Status::parse_ignore_case("Started"), Ok(Status::Started));
        let err = Status::parse_ignore_case("running").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`running` is not one of started, finished, failed, aborted or unknown"
        );
        assert!(Status::parse_ignore_case("").is_err());
        assert!(Status::parse_ignore_case("started ").is_err());
    }
}
