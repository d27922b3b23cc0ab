//! Request bodies and the validated values inside them (parse, don't validate).
//!
//! The newtypes check themselves while being deserialised, so a bad value is refused with the path of
//! the field that holds it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::limits::{MAX_CORRELATION_ID_CHARS, MAX_DESCRIPTION_CHARS};
use super::{EndStatus, Status, StepType};

/// Text the store can hold: PostgreSQL's text refuses NUL characters.
pub fn storable(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        Err("must not contain NUL characters".into())
    } else {
        Ok(())
    }
}

/// A job or step description: trimmed, 1..=4000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Description, String> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            Err("must not be empty".into())
        } else if chars > MAX_DESCRIPTION_CHARS {
            Err(format!(
                "must be at most {MAX_DESCRIPTION_CHARS} characters (got {chars})"
            ))
        } else if let Err(refusal) = storable(trimmed) {
            Err(refusal)
        } else {
            Ok(Description(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Description {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Description::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A correlation id: `[0-9A-Za-z_-]`, 1..=50 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CorrelationId(String);

impl CorrelationId {
    pub fn parse(raw: &str) -> Result<CorrelationId, String> {
        if raw.is_empty() || raw.len() > MAX_CORRELATION_ID_CHARS {
            return Err(format!(
                "must be 1 to {MAX_CORRELATION_ID_CHARS} characters"
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("may contain only letters, digits, '_' and '-'".into());
        }
        Ok(CorrelationId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for CorrelationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        CorrelationId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A progress figure, 0..=100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress(i16);

impl Progress {
    pub fn parse(raw: i64) -> Result<Progress, String> {
        if (0..=100).contains(&raw) {
            Ok(Progress(raw as i16))
        } else {
            Err(format!("must be between 0 and 100 (got {raw})"))
        }
    }

    pub fn value(self) -> i16 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_any(WholeNumber)?;
        Progress::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// A whole number that fits an `i32`, read as [`WholeNumber`] reads one.
pub(super) fn whole_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = d.deserialize_any(WholeNumber)?;
    i32::try_from(n).map_err(|_| serde::de::Error::custom(format!("`{n}` is out of range")))
}

/// An optional whole number that fits an `i32`, read as [`WholeNumber`] reads one.
fn optional_whole_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    struct Whole(i64);
    impl<'de> Deserialize<'de> for Whole {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(WholeNumber).map(Whole)
        }
    }
    Option::<Whole>::deserialize(d)?
        .map(|Whole(n)| {
            i32::try_from(n).map_err(|_| serde::de::Error::custom(format!("`{n}` is out of range")))
        })
        .transpose()
}

/// A JSON number without a fraction: `42`, and `42.0` too, which JSON Schema calls an integer and
/// some clients send for one.
struct WholeNumber;

impl serde::de::Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        Ok(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
        // Beyond 2^53 a float holds no fraction; such figures are out of any range here anyway.
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("`{v}` is not a whole number")))
        }
    }
}

/// `POST /api/jobs`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewJob {
    /// 1 to 4000 characters after trimming; no NUL.
    #[schema(value_type = String, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    pub description: Description,
    #[serde(default)]
    pub auto_cleared: bool,
    /// A lease in seconds (1..=604800): without a change or heartbeat for this long the job and its
    /// running steps become `unknown`.
    #[serde(default, deserialize_with = "optional_whole_i32")]
    #[schema(minimum = 1, maximum = 604800)]
    pub timeout_seconds: Option<i32>,
    /// The correlation id, by the name the job shows it: the same as the `Correlation-Id` header
    /// (or `correlation_id` query parameter), which it must not contradict. `[0-9A-Za-z_-]`, 1 to 50
    /// characters. Read by the REST handler, which hands the engine one correlation id.
    #[serde(default)]
    #[schema(pattern = "^[0-9A-Za-z_-]{1,50}$")]
    pub correlation_id: Option<String>,
}

/// What a step hangs under, as the seed names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParentType {
    Job,
    Step,
}

/// `{ "id": ... }`, as in oVirt's `parent_step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdRef {
    pub id: Uuid,
}

/// `POST /api/jobs/{job_id}/steps`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewStep {
    /// 1 to 4000 characters after trimming; no NUL.
    #[schema(value_type = String, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    pub description: Description,
    #[serde(rename = "type")]
    pub step_type: StepType,
    /// The parent's id: the job's id or a step's id (the seed's `parentId`).
    #[serde(default, alias = "parentId")]
    pub parent_id: Option<Uuid>,
    /// `job` or `step` (the seed's `parentType`); inferred from `parent_id` when absent.
    #[serde(default, alias = "parentType")]
    pub parent_type: Option<ParentType>,
    /// The parent step, oVirt style.
    #[serde(default)]
    pub parent_step: Option<IdRef>,
    /// The parent step by the name a step's own representation gives it.
    #[serde(default)]
    pub parent_step_id: Option<Uuid>,
    /// `started` unless given; a terminal status records an already-ended step.
    #[serde(default)]
    pub status: Option<Status>,
    /// A running step's progress from the start, 0 to 100 (as `POST …/progress` sets it later).
    #[serde(default)]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100)]
    pub progress: Option<Progress>,
    /// Only for the engine's own steps; plug-in steps are always external.
    #[serde(skip)]
    pub internal: bool,
}

/// `POST /api/jobs/{job_id}/end`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EndJob {
    #[serde(default)]
    pub status: Option<EndStatus>,
    /// oVirt's form: true is `finished`, false is `failed`.
    #[serde(default)]
    pub succeeded: Option<bool>,
    /// Overwrite an ended job's status; steps still running become `aborted`.
    #[serde(default)]
    pub force: bool,
    /// How it went, in words (why it failed, what it did), shown with the job as its `result`:
    /// 1 to 4000 characters after trimming. A retry of an end already made changes nothing.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    pub result: Option<Description>,
}

/// `POST /api/jobs/{job_id}/steps/{step_id}/end`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EndStep {
    #[serde(default)]
    pub status: Option<EndStatus>,
    /// oVirt's form: true is `finished`, false is `failed`.
    #[serde(default)]
    pub succeeded: Option<bool>,
    /// Abort running sub-steps first; overwrite an ended step's status.
    #[serde(default)]
    pub force: bool,
    /// Move the step to this phase before ending it (the seed's `stepType`).
    #[serde(default, rename = "type", alias = "stepType")]
    pub step_type: Option<StepType>,
    /// `false` keeps the job running when this step fails.
    #[serde(default)]
    pub fail_job: Option<bool>,
    /// How it went, in words (why it failed, what it did), shown with the step as its `result`:
    /// 1 to 4000 characters after trimming. A retry of an end already made changes nothing.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    pub result: Option<Description>,
}

/// `POST /api/jobs/{job_id}/steps/{step_id}/progress`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct SetProgress {
    #[schema(value_type = i32, minimum = 0, maximum = 100)]
    pub progress: Progress,
}

/// Resolve an end request's `status` / `succeeded` pair into one status.
pub fn end_status(
    status: Option<EndStatus>,
    succeeded: Option<bool>,
    default_succeeded: Option<bool>,
) -> Result<Status, (&'static str, String)> {
    let from_flag = |ok: bool| if ok { Status::Finished } else { Status::Failed };
    match (status, succeeded.or(default_succeeded)) {
        (Some(s), None) => Ok(s.into()),
        (None, Some(ok)) => Ok(from_flag(ok)),
        (Some(s), Some(ok)) if succeeded.is_none() || Status::from(s) == from_flag(ok) => {
            Ok(s.into())
        }
        (Some(_), Some(_)) => Err((
            "succeeded",
            "contradicts `status`; give one of them".to_owned(),
        )),
        (None, None) => Err((
            "status",
            "is required: one of `finished`, `failed`, `aborted` (or give `succeeded`)".to_owned(),
        )),
    }
}

/// Filters of the jobs list (and of the bulk commands). In a command's parameters they are taken in
/// the forms the list's query takes them too: `status` as one string of names separated by commas,
/// a time bound as a date.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobFilter {
    /// Any of these statuses; empty means all.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "statuses"
    )]
    pub status: Vec<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// Text contained in the description, case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `q` matches with its case too (oVirt's `case_sensitive=true`); not part of the native API.
    #[serde(skip)]
    pub q_match_case: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Jobs whose correlation id is not this one (oVirt's `correlation_id!=X` search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id_not: Option<String>,
    /// A user id or user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time_or_date"
    )]
    pub started_after: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time_or_date"
    )]
    pub started_before: Option<DateTime<Utc>>,
}

/// Statuses: a list (`["failed", "aborted"]`), or one string of them separated by commas
/// (`"failed,aborted"`), as the list's `status` query takes them.
fn statuses<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Status>, D::Error> {
    struct Statuses;
    impl<'de> serde::de::Visitor<'de> for Statuses {
        type Value = Vec<Status>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of statuses, or one string of them separated by commas")
        }

        fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<Vec<Status>, E> {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Status::parse_ignore_case(s).map_err(E::custom))
                .collect()
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Status>, A::Error> {
            let mut all = Vec::new();
            while let Some(status) = seq.next_element()? {
                all.push(status);
            }
            Ok(all)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<Status>, E> {
            Ok(Vec::new()) // `null`: no such filter
        }
    }
    de.deserialize_any(Statuses)
}

/// An RFC 3339 time, or a date meaning its midnight UTC; empty (an empty form field) or `null` is
/// no bound; anything else is refused saying so.
pub fn time_or_date<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    // An offset's `+` sent unencoded in a query string arrives as a space.
    if let Ok(t) = DateTime::parse_from_rfc3339(&raw.replace(' ', "+")) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(Some(d.and_time(chrono::NaiveTime::MIN).and_utc()));
    }
    Err(serde::de::Error::custom(format!(
        "`{raw}` is not a time as RFC 3339 (2026-11-28T12:00:00Z) or a date (2026-11-28)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_is_trimmed() {
        assert_eq!(Description::parse("  hi \n").unwrap().as_str(), "hi");
    }

    #[test]
    fn a_blank_description_is_refused() {
        assert!(Description::parse(" \t ").is_err());
    }

    #[test]
    fn a_description_of_4000_characters_is_accepted_and_4001_refused() {
        assert!(Description::parse(&"é".repeat(4000)).is_ok());
        assert!(Description::parse(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn correlation_ids_allow_only_the_documented_alphabet() {
        assert!(CorrelationId::parse("abc_DEF-123").is_ok());
        assert!(CorrelationId::parse("a b").is_err());
        assert!(CorrelationId::parse("").is_err());
        assert!(CorrelationId::parse(&"x".repeat(51)).is_err());
    }

    #[test]
    fn progress_must_be_a_percentage() {
        assert!(Progress::parse(0).is_ok());
        assert!(Progress::parse(100).is_ok());
        assert!(Progress::parse(101).is_err());
        assert!(Progress::parse(-1).is_err());
    }

    #[test]
    fn progress_in_json_is_a_whole_number_written_either_way() {
        let read =
            |json: &str| serde_json::from_str::<SetProgress>(json).map(|p| p.progress.value());
        assert_eq!(read(r#"{"progress": 42}"#).unwrap(), 42);
        assert_eq!(read(r#"{"progress": 42.0}"#).unwrap(), 42);
        let fraction = read(r#"{"progress": 42.5}"#).unwrap_err().to_string();
        assert!(
            fraction.contains("`42.5` is not a whole number"),
            "{fraction}"
        );
        assert!(read(r#"{"progress": 100.0}"#).is_ok());
        assert!(read(r#"{"progress": 101.0}"#).is_err());
        assert!(read(r#"{"progress": 1e300}"#).is_err());
        assert!(read(r#"{"progress": "42"}"#).is_err());
        assert!(read(r#"{"progress": 18446744073709551615}"#).is_err());
    }

    #[test]
    fn a_timeout_in_json_is_a_whole_number_written_either_way() {
        let read = |json: &str| serde_json::from_str::<NewJob>(json).map(|j| j.timeout_seconds);
        assert_eq!(read(r#"{"description": "d"}"#).unwrap(), None);
        assert_eq!(
            read(r#"{"description": "d", "timeout_seconds": null}"#).unwrap(),
            None
        );
        assert_eq!(
            read(r#"{"description": "d", "timeout_seconds": 60}"#).unwrap(),
            Some(60)
        );
        assert_eq!(
            read(r#"{"description": "d", "timeout_seconds": 60.0}"#).unwrap(),
            Some(60)
        );
        assert!(read(r#"{"description": "d", "timeout_seconds": 60.5}"#).is_err());
        let huge = read(r#"{"description": "d", "timeout_seconds": 1e10}"#)
            .unwrap_err()
            .to_string();
        assert!(huge.contains("`10000000000` is out of range"), "{huge}");
    }

    #[test]
    fn succeeded_maps_to_finished_or_failed() {
        assert_eq!(end_status(None, Some(true), None), Ok(Status::Finished));
        assert_eq!(end_status(None, Some(false), None), Ok(Status::Failed));
        assert_eq!(end_status(None, None, Some(true)), Ok(Status::Finished));
        assert_eq!(
            end_status(Some(EndStatus::Aborted), None, Some(true)),
            Ok(Status::Aborted)
        );
        assert!(end_status(Some(EndStatus::Aborted), Some(true), None).is_err());
        assert!(end_status(None, None, None).is_err());
    }
}
