//! `/ovirt-engine/api`: jobs, steps, their actions, and the API root.

// Refusals here are finished responses handed straight back to axum; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use app::domain::{
    build_tree, flatten, CorrelationId, Description, EndJob, EndStep, Job, JobFilter, NewJob,
    NewStep, Progress, Status, Step, StepType,
};
use app::service::step_room::Room;
use app::service::{Caller, Page, ServiceError};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::xml::{
    self, ActionIn, JobIn, JobOut, JobsOut, Ref, StepIn, StepItems, StepOut, StepsOut, UserOut,
    UsersOut, API,
};
use crate::http::extract::{correlation_of, parse_form};
use crate::http::room::keep_room_until_sent;
use crate::http::AppState;

/// Most jobs one list answers when the client sets no `max` (oVirt answers all; Stepwise is built
/// for millions).
const DEFAULT_MAX: i64 = 1000;
/// The largest `max` honoured.
const MAX_MAX: i64 = 10_000;
/// The oVirt API level the root reports (`product_info.version`): the jobs and steps of oVirt 4.5,
/// which `ovirt-engine-sdk-python` 4.6 speaks.
const OVIRT_API_MAJOR: u32 = 4;
const OVIRT_API_MINOR: u32 = 5;

/// An answer in the client's format: JSON when it asks for JSON, XML otherwise.
pub struct Format {
    json: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Format {
            json: wants_json(&parts.headers),
        })
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json") && !a.contains("xml"))
}

fn sends_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"))
}

impl Format {
    fn respond<T: Serialize>(&self, status: StatusCode, value: &T) -> Response {
        match self.write(value) {
            Ok(body) => self.answer(status, body),
            Err(e) => {
                tracing::error!(error = %e, "writing an oVirt answer failed");
                self.fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Operation Failed",
                    "something went wrong on the server; it has been logged",
                )
            }
        }
    }

    /// The value as the client's format asks: oVirt's JSON or XML.
    fn write<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, String> {
        if self.json {
            xml::to_json(value).map_err(|e| e.to_string())
        } else {
            xml::to_xml(value)
                .map(String::into_bytes)
                .map_err(|e| e.to_string())
        }
    }

    fn answer(&self, status: StatusCode, body: Vec<u8>) -> Response {
        let content_type = match self.json {
            true => "application/json",
            false => "application/xml",
        };
        let mut r = (status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    }

    fn fault(&self, status: StatusCode, reason: &str, detail: &str) -> Response {
        #[derive(Serialize)]
        #[serde(rename = "fault")]
        struct Fault<'a> {
            reason: &'a str,
            detail: &'a str,
        }
        let body = self.write(&Fault { reason, detail }).unwrap_or_default();
        self.answer(status, body)
    }

    fn error(&self, e: ServiceError) -> Response {
        let detail = format!("[{e}]");
        match e {
            ServiceError::Invalid(_) | ServiceError::IdempotencyMismatch(_) => {
                self.fault(StatusCode::BAD_REQUEST, "Operation Failed", &detail)
            }
            ServiceError::NotFound(_) => self.fault(StatusCode::NOT_FOUND, "Not Found", &detail),
            ServiceError::Conflict { .. } => {
                self.fault(StatusCode::CONFLICT, "Operation Failed", &detail)
            }
            ServiceError::Unauthorized(_) => {
                self.fault(StatusCode::UNAUTHORIZED, "Unauthorized", &detail)
            }
            ServiceError::Forbidden(_) => {
                self.fault(StatusCode::FORBIDDEN, "Operation Failed", &detail)
            }
            ServiceError::TooManyRequests(_) => {
                self.fault(StatusCode::TOO_MANY_REQUESTS, "Operation Failed", &detail)
            }
            ServiceError::Unavailable(_) => {
                let mut r = self.fault(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Operation Failed",
                    "[the server cannot reach its database right now; try again in a moment]",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            ServiceError::Internal(cause) => {
                tracing::error!(%cause, "internal error in the oVirt layer");
                self.fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Operation Failed",
                    "[something went wrong on the server; it has been logged]",
                )
            }
        }
    }

    fn bad(&self, detail: impl Into<String>) -> Response {
        self.fault(
            StatusCode::BAD_REQUEST,
            "Incomplete parameters",
            &format!("[{}]", detail.into()),
        )
    }
}

/// The caller of an oVirt request: `Authorization: Bearer` from the SSO token endpoint (or an API
/// token), or HTTP Basic (`curl -u admin@internal:password`, as oVirt's engine takes it). Refusals
/// are `<fault>`s.
pub struct OvirtCaller(pub Caller);

impl FromRequestParts<AppState> for OvirtCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let format = Format {
            json: wants_json(&parts.headers),
        };
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let basic = authorization.and_then(|h| {
            h.get(..6)
                .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
                .and_then(|_| h.get(6..))
        });
        let caller = match (token, basic) {
            (Some(token), _) => state.engine.authenticate_token(token).await,
            (None, Some(credentials)) => {
                let origin = crate::http::extract::origin_of(parts);
                state.engine.authenticate_basic(credentials, &origin).await
            }
            (None, None) => {
                let mut r = format.fault(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "[sign in first: POST /ovirt-engine/sso/oauth/token, or HTTP Basic]",
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Err(r);
            }
        };
        caller.map(OvirtCaller).map_err(|e| format.error(e))
    }
}

fn path_id(format: &Format, raw: &str, what: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(raw).map_err(|_| {
        format.fault(
            StatusCode::NOT_FOUND,
            "Not Found",
            &format!("[there is no {what} with id {raw}]"),
        )
    })
}

/// `GET /ovirt-engine/api`: the root `connection.test()` reads.
pub async fn root(format: Format, OvirtCaller(_caller): OvirtCaller) -> Response {
    #[derive(Serialize)]
    #[serde(rename = "api")]
    struct Root {
        link: Vec<xml::Link>,
        product_info: ProductInfo,
        time: String,
    }
    #[derive(Serialize)]
    struct ProductInfo {
        name: &'static str,
        vendor: &'static str,
        version: Version,
    }
    /// The oVirt API level spoken here, which plug-ins compare with the version a feature needs
    /// (`engine_supported(connection, "4.4")` in oVirt's Ansible collection); Stepwise's own
    /// version is in `full_version`.
    #[derive(Serialize)]
    struct Version {
        build: u32,
        full_version: String,
        major: u32,
        minor: u32,
        revision: u32,
    }
    format.respond(
        StatusCode::OK,
        &Root {
            link: ["jobs", "users"]
                .map(|rel| xml::Link {
                    href: format!("{API}/{rel}"),
                    rel: rel.into(),
                })
                .into(),
            product_info: ProductInfo {
                name: "Stepwise",
                vendor: "Stepwise",
                version: Version {
                    build: 0,
                    full_version: format!(
                        "{OVIRT_API_MAJOR}.{OVIRT_API_MINOR}.0 (Stepwise {})",
                        env!("CARGO_PKG_VERSION")
                    ),
                    major: OVIRT_API_MAJOR,
                    minor: OVIRT_API_MINOR,
                    revision: 0,
                },
            },
            time: xml::date(chrono::Utc::now()),
        },
    )
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    search: Option<String>,
    max: Option<String>,
    follow: Option<String>,
    case_sensitive: Option<String>,
}

/// The forms of oVirt's job search understood here, for the fault that refuses any other.
const SEARCH_FORMS: &str =
    "correlation_id=X, correlation_id!=X, status=X or description=X (* as a wildcard at either end), joined by `and`, then `sortby start_time desc` if wanted";

/// oVirt's job search: clauses joined by `and`, each `correlation_id=X`, `correlation_id!=X`,
/// `status=X` or `description=X` (a description's `*` at either end is the wildcard oVirt's search
/// language uses; the match is a case-insensitive "contains", as the native `q`).
fn parse_search(search: &str) -> Result<JobFilter, String> {
    let mut filter = JobFilter::default();
    let s = search.trim();
    if s.is_empty() {
        return Ok(filter);
    }
    let unsupported = || format!("the search `{s}` is not supported; use {SEARCH_FORMS}");
    // oVirt's paging, `page N` at the very end: the list answers its first page (of `max` jobs).
    let words: Vec<&str> = s.split_whitespace().collect();
    let s = match words.as_slice() {
        [.., page, n]
            if page.eq_ignore_ascii_case("page") && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            if n.trim_start_matches('0') != "1" {
                return Err(format!(
                    "`page {n}`: this list answers the first page only (as many jobs as `max` asks); \
                     the native API's cursor pages (GET /api/jobs?cursor=) go further"
                ));
            }
            words[..words.len() - 2].join(" ")
        }
        _ => s.to_owned(),
    };
    if s.is_empty() {
        return Ok(filter);
    }
    let (clauses, sort) = search_clauses(&s);
    if let Some(sort) = sort {
        // Jobs are always listed newest first, the keyset order; oVirt's `sortby` may ask for it.
        let sort = sort.to_ascii_lowercase();
        if sort != "start_time desc" {
            return Err(format!(
                "jobs are listed newest first, `sortby start_time desc`; `sortby {sort}` is not supported"
            ));
        }
        if clauses.len() == 1 && clauses[0].is_empty() {
            return Ok(filter);
        }
    }
    for clause in clauses {
        let (name, negated, value) = if let Some((n, v)) = clause.split_once("!=") {
            (n, true, v)
        } else if let Some((n, v)) = clause.split_once('=') {
            (n, false, v)
        } else {
            return Err(unsupported());
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        let repeated = || format!("the search `{s}` names {name} twice");
        match (name.as_str(), negated) {
            ("correlation_id", _) => {
                let value =
                    CorrelationId::parse(value).map_err(|m| format!("correlation_id {m}"))?;
                let slot = if negated {
                    &mut filter.correlation_id_not
                } else {
                    &mut filter.correlation_id
                };
                if slot.replace(value.as_str().to_owned()).is_some() {
                    return Err(repeated());
                }
            }
            ("status", false) => {
                let status =
                    Status::parse_ignore_case(value).map_err(|e| format!("status: {e}"))?;
                if !filter.status.is_empty() {
                    return Err(repeated());
                }
                filter.status.push(status);
            }
            ("description", false) => {
                // oVirt's search quotes a value holding spaces: `description="nightly backup*"`.
                let unquoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                let text = unquoted.trim_matches('*');
                if text.contains('*') {
                    return Err(format!(
                        "description: `*` is understood only at either end, not in `{value}`"
                    ));
                }
                if filter.q.replace(text.to_owned()).is_some() {
                    return Err(repeated());
                }
            }
            _ => return Err(unsupported()),
        }
    }
    Ok(filter)
}

/// A search's clauses: its words split at each `and` that is not inside double quotes; and the
/// words after a `sortby` outside quotes, if there is one.
fn search_clauses(s: &str) -> (Vec<String>, Option<String>) {
    let mut clauses = vec![String::new()];
    let mut quoted = false;
    let mut words = s.split_whitespace();
    while let Some(word) = words.next() {
        if !quoted && word.eq_ignore_ascii_case("sortby") {
            return (clauses, Some(words.collect::<Vec<_>>().join(" ")));
        }
        if !quoted && word.eq_ignore_ascii_case("and") {
            clauses.push(String::new());
            continue;
        }
        if let Some(clause) = clauses.last_mut() {
            if !clause.is_empty() {
                clause.push(' ');
            }
            clause.push_str(word);
        }
        quoted ^= word.matches('"').count() % 2 == 1;
    }
    (clauses, None)
}

/// A list's `max`: none (or oVirt's `-1`) is `None`, the list's own default; otherwise no more
/// than [`MAX_MAX`].
fn parse_max(format: &Format, max: Option<&str>) -> Result<Option<i64>, Response> {
    match max.map(str::trim) {
        None | Some("") | Some("-1") => Ok(None),
        Some(m) => match m.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n.min(MAX_MAX))),
            _ => Err(format.bad(format!("max must be a number, not `{m}`"))),
        },
    }
}

/// oVirt's `follow` is a list of link paths separated by commas; one that starts with `steps`
/// (`steps`, or deeper, `steps.job`, `steps.statistics`) embeds the steps, one that starts with
/// `owner` the owner's names. What lies further along such a path is the job itself, a step's empty
/// statistics or the user's own links, so the first link is what it asks for.
fn follows(follow: Option<&str>, link: &str) -> bool {
    follow.is_some_and(|f| {
        f.split(',')
            .any(|path| path.trim().split('.').next() == Some(link))
    })
}

fn follows_steps(follow: Option<&str>) -> bool {
    follows(follow, "steps")
}

/// A job as the list or a read gives it: its steps where followed, its owner's names where followed.
fn job_out<'a>(job: &Job, steps: Option<&'a [Step]>, follow: Option<&str>) -> JobOut<'a> {
    let out = JobOut::from_job(job, steps);
    match follows(follow, "owner") {
        true => out.owner_followed(job),
        false => out,
    }
}

/// A handler's answer: a refusal is a finished `<fault>` response too.
type Answer = Result<Response, Response>;

/// `GET /ovirt-engine/api/jobs` with `search`, `max` and `follow=steps`.
pub async fn list_jobs(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let query: ListQuery =
        parse_form(parts.uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    let mut filter =
        parse_search(query.search.as_deref().unwrap_or("")).map_err(|m| format.bad(m))?;
    // A description matches without regard to case unless the client asks otherwise (oVirt's
    // own default is the other way; docs/decisions.md).
    filter.q_match_case = match query.case_sensitive.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(format.bad(format!("case_sensitive must be true or false, not `{v}`")))
        }
    };
    let max = parse_max(&format, query.max.as_deref())?.unwrap_or(DEFAULT_MAX);
    let mut jobs = Vec::new();
    let mut cursor = None;
    while (jobs.len() as i64) < max {
        let limit = (max - jobs.len() as i64).min(app::domain::limits::MAX_PAGE_SIZE);
        let page = Page {
            limit: Some(limit),
            cursor,
        };
        let page = state
            .engine
            .list_jobs(&caller, &filter, &page)
            .await
            .map_err(|e| format.error(e))?;
        jobs.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // `follow=steps`: the listed jobs' steps in one query, not one per job. The list then ends
    // with the last job whose steps fit in one load (`MAX_STEPS_PER_LOAD`, as many as one job may
    // hold), so a thousand large jobs never come into memory at once.
    // Room for large reads of steps, held until the answer has been sent (`step_room`).
    let mut room = Room::default();
    let mut steps = if follows_steps(query.follow.as_deref()) {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();
        room = state
            .engine
            .room_for_steps(&ids)
            .await
            .map_err(|e| format.error(e))?;
        let (covered, steps) = state
            .engine
            .steps_of_jobs(&caller, &ids)
            .await
            .map_err(|e| format.error(e))?;
        jobs.truncate(covered);
        Some(app::service::steps_by_job(steps))
    } else {
        None
    };
    // Each job's steps parent before children, siblings by number, as the steps list has them.
    let steps_of_each: Vec<Option<Vec<Step>>> = jobs
        .iter()
        .map(|job| {
            steps
                .as_mut()
                .map(|by_job| flatten(build_tree(by_job.remove(&job.id).unwrap_or_default())))
        })
        .collect();
    let out = jobs
        .iter()
        .zip(&steps_of_each)
        .map(|(job, mine)| job_out(job, mine.as_deref(), query.follow.as_deref()))
        .collect();
    let response = format.respond(StatusCode::OK, &JobsOut { job: out });
    Ok(keep_room_until_sent(response, room).await)
}

/// `POST /ovirt-engine/api/jobs`: `<job><description/><auto_cleared/></job>`.
pub async fn add_job(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
    body: Bytes,
) -> Answer {
    let correlation_id = correlation_of(&parts).map_err(|_| {
        format.bad("Correlation-Id may hold only letters, digits, '_' and '-', at most 50")
    })?;
    let input: JobIn =
        xml::from_body(&body, sends_json(&parts.headers), "job").map_err(|m| format.bad(m))?;
    let description = Description::parse(input.description.as_deref().unwrap_or(""))
        .map_err(|m| format.bad(format!("job.description {m}")))?;
    let new = NewJob {
        description,
        auto_cleared: input.auto_cleared.unwrap_or(false),
        timeout_seconds: None,
        correlation_id: None,
    };
    let job = state
        .engine
        .add_job(&caller, new, correlation_id, None)
        .await
        .map_err(|e| format.error(e))?;
    Ok(created(
        &format,
        &JobOut::from_job(&job, None),
        &xml::job_href(job.id),
    ))
}

/// `201 Created` with `Location`.
fn created<T: Serialize>(format: &Format, body: &T, location: &str) -> Response {
    let mut r = format.respond(StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn path_ids(parts: &Parts) -> Vec<String> {
    // /ovirt-engine/api/jobs/{job}[/steps/{step}]...
    let segments: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches(API)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut ids = Vec::new();
    if segments.len() > 1 {
        ids.push(segments[1].to_owned());
    }
    if segments.len() > 3 && segments[2] == "steps" {
        ids.push(segments[3].to_owned());
    }
    ids
}

fn job_id_of(format: &Format, parts: &Parts) -> Result<Uuid, Response> {
    let ids = path_ids(parts);
    path_id(format, ids.first().map(String::as_str).unwrap_or(""), "job")
}

fn step_ids_of(format: &Format, parts: &Parts) -> Result<(Uuid, Uuid), Response> {
    let ids = path_ids(parts);
    let job = path_id(format, ids.first().map(String::as_str).unwrap_or(""), "job")?;
    let step = path_id(format, ids.get(1).map(String::as_str).unwrap_or(""), "step")?;
    Ok((job, step))
}

/// `GET /ovirt-engine/api/jobs/{id}` (`follow=steps` embeds them).
pub async fn get_job(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let job_id = job_id_of(&format, &parts)?;
    let query: ListQuery =
        parse_form(parts.uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    let follow = follows_steps(query.follow.as_deref());
    // Room for a large job's steps, held until the answer has been sent (`step_room`).
    let room = match follow {
        true => state
            .engine
            .room_for_steps(&[job_id])
            .await
            .map_err(|e| format.error(e))?,
        false => Room::default(),
    };
    let mut job = state
        .engine
        .get_job(&caller, job_id, follow)
        .await
        .map_err(|e| format.error(e))?;
    // The tree is flattened, not copied: a job holds up to 100,000 steps.
    let steps = job.steps.take().map(flatten);
    let out = job_out(&job, steps.as_deref(), query.follow.as_deref());
    let response = format.respond(StatusCode::OK, &out);
    Ok(keep_room_until_sent(response, room).await)
}

/// `GET /ovirt-engine/api/users/{id}`: where a job's `<owner>` link leads (`follow_link(job.owner)`
/// in the SDK). One's own user, or anyone's with VIEW_TASKS or MANAGE_USERS.
pub async fn get_user(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let ids = path_ids(&parts);
    let user_id = path_id(
        &format,
        ids.first().map(String::as_str).unwrap_or(""),
        "user",
    )?;
    let user = state
        .engine
        .get_user(&caller, user_id)
        .await
        .map_err(|e| format.error(e))?;
    Ok(format.respond(StatusCode::OK, &UserOut::from_user(&user)))
}

/// `GET /ovirt-engine/api/users` (MANAGE_USERS), by user name; `max` as for jobs. oVirt's user
/// search language is not supported: a `search` is refused rather than ignored.
pub async fn list_users(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let query: ListQuery =
        parse_form(parts.uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    if query
        .search
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Err(format.bad("users cannot be searched here; list them without `search`"));
    }
    let max = parse_max(&format, query.max.as_deref())?.unwrap_or(DEFAULT_MAX);
    let users = state
        .engine
        .list_users(&caller)
        .await
        .map_err(|e| format.error(e))?;
    let user = users
        .iter()
        .take(max as usize)
        .map(UserOut::from_user)
        .collect();
    Ok(format.respond(StatusCode::OK, &UsersOut { user }))
}

/// The answer to an action: the action echoed, `complete`, and the job.
#[derive(Serialize)]
#[serde(rename = "action")]
struct ActionOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    force: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    succeeded: Option<bool>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<Ref>,
}

fn read_action(format: &Format, parts: &Parts, body: &[u8]) -> Result<ActionIn, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionIn::default());
    }
    xml::from_body(body, sends_json(&parts.headers), "action").map_err(|m| format.bad(m))
}

fn job_ref(job_id: Uuid) -> Ref {
    Ref {
        href: xml::job_href(job_id),
        id: job_id.to_string(),
    }
}

/// The answer to a job or step action: `complete`, with the job.
fn complete(format: &Format, action: &ActionIn, job_id: Uuid) -> Response {
    format.respond(
        StatusCode::OK,
        &ActionOut {
            force: action.force,
            succeeded: action.succeeded,
            status: "complete",
            job: Some(job_ref(job_id)),
        },
    )
}

/// `POST /ovirt-engine/api/jobs/{id}/end`: `<action><force/><succeeded/></action>` (succeeded defaults to true).
pub async fn end_job(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
    body: Bytes,
) -> Answer {
    let job_id = job_id_of(&format, &parts)?;
    let action = read_action(&format, &parts, &body)?;
    let input = EndJob {
        status: None,
        succeeded: Some(action.succeeded.unwrap_or(true)),
        force: action.force.unwrap_or(false),
        result: None,
    };
    state
        .engine
        .end_job(&caller, job_id, input)
        .await
        .map_err(|e| format.error(e))?;
    Ok(complete(&format, &action, job_id))
}

/// `POST /ovirt-engine/api/jobs/{id}/clear`.
pub async fn clear_job(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
    body: Bytes,
) -> Answer {
    let job_id = job_id_of(&format, &parts)?;
    let action = read_action(&format, &parts, &body)?;
    state
        .engine
        .clear_job(&caller, job_id)
        .await
        .map_err(|e| format.error(e))?;
    Ok(complete(&format, &action, job_id))
}

/// `GET /ovirt-engine/api/jobs/{id}/steps`.
pub async fn list_steps(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let job_id = job_id_of(&format, &parts)?;
    let query: ListQuery =
        parse_form(parts.uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    // All of a job's steps unless the client sets `max` (a job holds at most `MAX_STEPS_PER_JOB`).
    let max = parse_max(&format, query.max.as_deref())?;
    // Room for a large job's steps, held until the answer has been sent (`step_room`).
    let room = state
        .engine
        .room_for_steps(&[job_id])
        .await
        .map_err(|e| format.error(e))?;
    let list = state
        .engine
        .list_steps(&caller, job_id, false)
        .await
        .map_err(|e| format.error(e))?;
    let mut items = match list {
        app::domain::StepList::Flat { items } => items,
        app::domain::StepList::Tree { items } => flatten(items),
    };
    if let Some(max) = max {
        items.truncate(max as usize);
    }
    let response = format.respond(
        StatusCode::OK,
        &StepsOut {
            step: StepItems(&items),
        },
    );
    Ok(keep_room_until_sent(response, room).await)
}

/// `POST /ovirt-engine/api/jobs/{id}/steps`: `<step><description/><type/><parent_step id/></step>`.
pub async fn add_step(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
    body: Bytes,
) -> Answer {
    let job_id = job_id_of(&format, &parts)?;
    let input: StepIn =
        xml::from_body(&body, sends_json(&parts.headers), "step").map_err(|m| format.bad(m))?;
    let description = Description::parse(input.description.as_deref().unwrap_or(""))
        .map_err(|m| format.bad(format!("step.description {m}")))?;
    let step_type = match input
        .step_type
        .as_deref()
        .map(|t| t.trim().to_ascii_lowercase())
    {
        Some(t) => StepType::parse(&t).ok_or_else(|| {
            format.bad(format!(
                "step.type `{t}` is not one of {}",
                step_type_names()
            ))
        })?,
        None => {
            return Err(format.bad(format!(
                "step.type is required: one of {}",
                step_type_names()
            )))
        }
    };
    let parent_step = match input.parent_step.and_then(|p| p.id) {
        Some(raw) => Some(app::domain::IdRef {
            id: Uuid::parse_str(raw.trim()).map_err(|_| {
                format.bad(format!("step.parent_step.id `{raw}` is not a valid id"))
            })?,
        }),
        None => None,
    };
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            Status::parse_ignore_case(s).map_err(|e| format.bad(format!("step.status: {e}")))?,
        ),
    };
    let progress = input
        .progress
        .map(|p| p.whole())
        .transpose()
        .map(Option::flatten)
        .and_then(|p| p.map(Progress::parse).transpose())
        .map_err(|m| format.bad(format!("step.progress {m}")))?;
    let new = NewStep {
        description,
        step_type,
        parent_id: None,
        parent_type: None,
        parent_step,
        parent_step_id: None,
        progress,
        status,
        internal: false,
    };
    let step = state
        .engine
        .add_step(&caller, job_id, new, None)
        .await
        .map_err(|e| format.error(e))?;
    Ok(created(
        &format,
        &StepOut::from_step(&step),
        &xml::step_href(job_id, step.id),
    ))
}

/// `GET /ovirt-engine/api/jobs/{id}/steps/{sid}`.
pub async fn get_step(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let (job_id, step_id) = step_ids_of(&format, &parts)?;
    let step = state
        .engine
        .get_step(&caller, job_id, step_id)
        .await
        .map_err(|e| format.error(e))?;
    Ok(format.respond(StatusCode::OK, &StepOut::from_step(&step)))
}

/// `POST /ovirt-engine/api/jobs/{id}/steps/{sid}/end`.
pub async fn end_step(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
    body: Bytes,
) -> Answer {
    let (job_id, step_id) = step_ids_of(&format, &parts)?;
    let action = read_action(&format, &parts, &body)?;
    let input = EndStep {
        status: None,
        succeeded: Some(action.succeeded.unwrap_or(true)),
        force: action.force.unwrap_or(false),
        step_type: None,
        fail_job: None,
        result: None,
    };
    state
        .engine
        .end_step(&caller, job_id, step_id, input)
        .await
        .map_err(|e| format.error(e))?;
    Ok(complete(&format, &action, job_id))
}

/// `GET .../steps/{sid}/statistics`: Stepwise keeps none.
pub async fn statistics(
    State(state): State<AppState>,
    format: Format,
    OvirtCaller(caller): OvirtCaller,
    parts: Parts,
) -> Answer {
    let (job_id, step_id) = step_ids_of(&format, &parts)?;
    #[derive(Serialize)]
    #[serde(rename = "statistics")]
    struct Statistics {
        statistic: Vec<()>,
    }
    state
        .engine
        .get_step(&caller, job_id, step_id)
        .await
        .map_err(|e| format.error(e))?;
    Ok(format.respond(StatusCode::OK, &Statistics { statistic: vec![] }))
}

/// Anything else under `/ovirt-engine/api`: Stepwise serves jobs and steps only.
pub async fn no_such(format: Format, OvirtCaller(_caller): OvirtCaller, parts: Parts) -> Response {
    format.fault(
        StatusCode::NOT_FOUND,
        "Not Found",
        &format!(
            "[Stepwise serves jobs, steps and users only; there is nothing at {}]",
            parts.uri.path()
        ),
    )
}

/// The step types a plug-in may give, for messages: `validating, executing, finalizing, unknown`.
fn step_type_names() -> String {
    StepType::ALL.map(StepType::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_path_through_steps_embeds_the_steps() {
        for follow in [
            "steps",
            " steps ",
            "owner,steps",
            "steps.job",
            "steps.statistics",
        ] {
            assert!(follows_steps(Some(follow)), "{follow}");
        }
        for follow in ["owner", "stepsx", "job.steps", ""] {
            assert!(!follows_steps(Some(follow)), "{follow}");
        }
        assert!(!follows_steps(None));
        for follow in ["owner", "steps,owner", "owner.roles"] {
            assert!(follows(Some(follow), "owner"), "{follow}");
        }
        assert!(!follows(Some("steps.owner"), "owner"));
    }

    #[test]
    fn searches_by_correlation_id_are_understood() {
        assert_eq!(
            parse_search("correlation_id=abc")
                .unwrap()
                .correlation_id
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            parse_search("correlation_id != abc")
                .unwrap()
                .correlation_id_not
                .as_deref(),
            Some("abc")
        );
        assert_eq!(parse_search("  ").unwrap(), JobFilter::default());
        assert!(parse_search("correlation_id=a b").is_err());
        assert!(parse_search("owner=admin").is_err());
        assert!(parse_search("correlation_id=a and correlation_id=b").is_err());
    }

    #[test]
    fn a_search_may_ask_for_the_order_jobs_are_listed_in() {
        let f = parse_search("status=started SortBy start_time DESC").unwrap();
        assert_eq!(f.status, vec![Status::Started]);
        assert_eq!(
            parse_search("sortby start_time desc").unwrap(),
            JobFilter::default()
        );
        let f = parse_search(r#"description="a sortby b""#).unwrap();
        assert_eq!(f.q.as_deref(), Some("a sortby b"));
        let e = parse_search("status=started sortby start_time").unwrap_err();
        assert!(e.contains("newest first"), "{e}");
        assert!(parse_search("sortby description asc").is_err());
        assert!(parse_search("status=started and sortby start_time desc").is_err());
    }

    #[test]
    fn a_search_may_ask_for_the_first_page_only() {
        let f = parse_search("status=failed sortby start_time desc page 1").unwrap();
        assert_eq!(f.status, vec![Status::Failed]);
        assert_eq!(parse_search("page 1").unwrap(), JobFilter::default());
        let e = parse_search("status=failed page 2").unwrap_err();
        assert!(e.contains("first page only") && e.contains("cursor"), "{e}");
        assert!(parse_search("page 0").is_err());
        let f = parse_search(r#"description="turn the page" and status=failed"#).unwrap();
        assert_eq!(f.q.as_deref(), Some("turn the page"));
    }

    #[test]
    fn searches_by_status_and_description_are_understood() {
        let f = parse_search("status=Started AND description=*nightly backup*").unwrap();
        assert_eq!(f.status, vec![Status::Started]);
        assert_eq!(f.q.as_deref(), Some("nightly backup"));
        let f = parse_search("description=copy and correlation_id!=x1").unwrap();
        assert_eq!(f.q.as_deref(), Some("copy"));
        assert_eq!(f.correlation_id_not.as_deref(), Some("x1"));
        assert!(parse_search("status=running").is_err());
        assert!(parse_search("status!=started").is_err());
        assert!(parse_search("description=a*b").is_err());
        assert!(parse_search("status=started and").is_err());
        let f = parse_search(r#"description="*rock and roll*" and status=failed"#).unwrap();
        assert_eq!(f.q.as_deref(), Some("rock and roll"));
        assert_eq!(f.status, vec![Status::Failed]);
    }
}
