//! Retention settings (SPEC §7): how long auto-cleared jobs stay after they end, and how often the
//! pass that purges them runs. Each server process starts from its configuration; an administrator
//! with MANAGE_TASKS may change them for every process on the database, and put them back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::whole_i32;

/// Longest an auto-cleared job may be kept after it ends, in minutes: a year.
pub const MAX_RETENTION_MINUTES: i32 = 525_600;
/// Longest pause between two retention passes, in seconds: a day.
pub const MAX_RETENTION_INTERVAL_SECONDS: i32 = 86_400;

/// `PUT /api/settings/retention`: the three figures, all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    /// Auto-cleared jobs that finished are purged this many minutes after ending (0..=525600).
    #[serde(deserialize_with = "whole_i32")]
    #[schema(minimum = 0, maximum = 525600)]
    pub finished_minutes: i32,
    /// Auto-cleared jobs that failed or were aborted are purged this many minutes after ending
    /// (0..=525600).
    #[serde(deserialize_with = "whole_i32")]
    #[schema(minimum = 0, maximum = 525600)]
    pub unsuccessful_minutes: i32,
    /// The pass runs this often, in seconds (1..=86400).
    #[serde(deserialize_with = "whole_i32")]
    #[schema(minimum = 1, maximum = 86400)]
    pub interval_seconds: i32,
}

impl RetentionInput {
    /// The first figure out of its range, as `(field, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let minutes = 0..=MAX_RETENTION_MINUTES;
        for (field, value) in [
            ("finished_minutes", self.finished_minutes),
            ("unsuccessful_minutes", self.unsuccessful_minutes),
        ] {
            if !minutes.contains(&value) {
                return Err((
                    field,
                    format!("must be between 0 and {MAX_RETENTION_MINUTES} minutes (got {value})"),
                ));
            }
        }
        if !(1..=MAX_RETENTION_INTERVAL_SECONDS).contains(&self.interval_seconds) {
            return Err((
                "interval_seconds",
                format!(
                    "must be between 1 and {MAX_RETENTION_INTERVAL_SECONDS} seconds (got {})",
                    self.interval_seconds
                ),
            ));
        }
        Ok(())
    }
}

/// Where the retention settings in force come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RetentionSource {
    /// This server process's flags or environment (`STEPWISE_RETENTION_*`).
    Configuration,
    /// Set through the API or the UI, for every process on the database.
    Stored,
}

/// The retention settings in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Retention {
    pub finished_minutes: i32,
    pub unsuccessful_minutes: i32,
    pub interval_seconds: i32,
    pub source: RetentionSource,
    /// When they were stored (only when `source` is `stored`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Who stored them (only when `source` is `stored`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl Retention {
    pub fn figures(&self) -> RetentionInput {
        RetentionInput {
            finished_minutes: self.finished_minutes,
            unsuccessful_minutes: self.unsuccessful_minutes,
            interval_seconds: self.interval_seconds,
        }
    }
}

/// How long what piles up is kept before the housekeeping forgets it: this server process's
/// configuration (`--event-retention-hours`, `--audit-retention-days`, `--export-retention-hours`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFor {
    /// Events, and so how far back a reconnecting stream replays.
    pub events_hours: i64,
    pub audit_days: i64,
    /// ExportJobs files, downloadable until then.
    pub exports_hours: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_figures_are_whole_numbers_in_range_and_named_when_not() {
        let read: RetentionInput = serde_json::from_str(
            r#"{"finished_minutes": 5, "unsuccessful_minutes": 30.0, "interval_seconds": 60}"#,
        )
        .unwrap();
        assert_eq!(read.unsuccessful_minutes, 30);
        assert_eq!(read.check(), Ok(()));
        let over = RetentionInput {
            unsuccessful_minutes: MAX_RETENTION_MINUTES + 1,
            ..read
        };
        assert_eq!(over.check().unwrap_err().0, "unsuccessful_minutes");
        let never = RetentionInput {
            interval_seconds: 0,
            ..read
        };
        assert_eq!(never.check().unwrap_err().0, "interval_seconds");
        let fraction = serde_json::from_str::<RetentionInput>(
            r#"{"finished_minutes": 1.5, "unsuccessful_minutes": 1, "interval_seconds": 1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            fraction.contains("`1.5` is not a whole number"),
            "{fraction}"
        );
        assert!(serde_json::from_str::<RetentionInput>(
            r#"{"finished_minutes": 1, "unsuccessful_minutes": 1, "interval_seconds": 1, "x": 1}"#
        )
        .is_err());
    }
}
