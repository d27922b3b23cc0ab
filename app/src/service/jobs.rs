//! Jobs: add, get, list, end, clear.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::idempotency::{self, Claim, IdempotencyKey};
use super::rows::{self, JobRow, StepRow, JOB_COLUMNS, STEP_COLUMNS};
use super::{Caller, Engine, Result, ServiceError};
use crate::domain::limits::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::domain::{
    build_tree, end_status, ActionGroup, CorrelationId, Description, EndJob, Job, JobFilter,
    JobPage, NewJob, Status,
};

/// Newest jobs a `q` search walks in order before it asks the trigram index instead: enough for a
/// page of a word in one job of a hundred, few enough to read in a couple of milliseconds.
const Q_WALK_WINDOW: i64 = 10_000;

/// Which page of a list: how many, and after which cursor.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The job's row, locked for the rest of the transaction, once `caller` is found allowed to change
/// it. Every change to a job or its steps takes this lock first, so changes within one job are
/// serialised and never deadlock.
pub(super) async fn lock_job(
    tx: &mut Transaction<'_, Postgres>,
    caller: &Caller,
    job_id: Uuid,
) -> Result<Status> {
    let row: Option<(String, Uuid)> =
        sqlx::query_as("select status, owner from job where id = $1 for update")
            .bind(job_id)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some((status, owner)) => {
            caller.may_change_job(job_id, owner)?;
            rows::status(&status)
        }
        None => Err(job_not_found(job_id)),
    }
}

pub(super) fn job_not_found(job_id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("job {job_id} not found"))
}

/// Note a change: `last_updated` moves and the job's lease (if any) starts again.
pub(super) async fn touch_job(tx: &mut Transaction<'_, Postgres>, job_id: Uuid) -> Result<()> {
    sqlx::query(
        "update job set last_updated = now(),
                lease_expires_at = now() + make_interval(secs => timeout_seconds)
          where id = $1",
    )
    .bind(job_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn fetch_job(tx: &mut Transaction<'_, Postgres>, job_id: Uuid) -> Result<Job> {
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "select {JOB_COLUMNS} from job j join app_user u on u.id = j.owner where j.id = $1"
    ))
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| job_not_found(job_id))?.try_into()
}

/// Close every step of the job still running, with `status`.
pub(super) async fn close_running_steps(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
    status: Status,
) -> Result<()> {
    sqlx::query(
        "update step set status = $2, end_time = now() where job_id = $1 and status = 'started'",
    )
    .bind(job_id)
    .bind(status.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// End a running job with `status` (no checks).
pub(super) async fn set_job_ended(
    tx: &mut Transaction<'_, Postgres>,
    job_id: Uuid,
    status: Status,
) -> Result<()> {
    sqlx::query("update job set status = $2, end_time = now(), last_updated = now() where id = $1")
        .bind(job_id)
        .bind(status.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Engine {
    /// Add a job owned by `caller`. External unless `internal` (the engine's own commands).
    pub async fn add_job(
        &self,
        caller: &Caller,
        input: NewJob,
        correlation_id: Option<CorrelationId>,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Job> {
        self.insert_job(caller, input, correlation_id, idempotency_key, true)
            .await
    }

    pub(crate) async fn insert_job(
        &self,
        caller: &Caller,
        input: NewJob,
        correlation_id: Option<CorrelationId>,
        idempotency_key: Option<IdempotencyKey>,
        is_external: bool,
    ) -> Result<Job> {
        if let Some(t) = input.timeout_seconds {
            if !(1..=604_800).contains(&t) {
                return Err(ServiceError::invalid(
                    "timeout_seconds",
                    format!("must be between 1 and 604800 seconds (got {t})"),
                ));
            }
        }
        caller.require(if is_external {
            ActionGroup::InjectExternalTasks
        } else {
            ActionGroup::RunInternalCommands
        })?;
        // The row and its answer in one statement; with no idempotency key, one round trip.
        let sql = format!(
            "with j as (
                 insert into job (id, description, status, is_external, auto_cleared, owner,
                                  correlation_id, timeout_seconds, lease_expires_at, process_id)
                 values ($1, $2, 'started', $3, $4, $5, $6, $7::int,
                         now() + make_interval(secs => $7::int), $8)
                 returning *)
             select {JOB_COLUMNS} from j join app_user u on u.id = j.owner"
        );
        let insert = sqlx::query_as::<_, JobRow>(&sql)
            .bind(Uuid::now_v7())
            .bind(input.description.as_str())
            .bind(is_external)
            .bind(input.auto_cleared)
            .bind(caller.user_id)
            .bind(correlation_id.as_ref().map(CorrelationId::as_str))
            .bind(input.timeout_seconds)
            .bind(if is_external { None } else { self.process_id });
        let job: Job = match &idempotency_key {
            None => insert.fetch_one(&self.pool).await?.try_into()?,
            Some(key) => {
                let mut tx = self.pool.begin().await?;
                if let Claim::Replay(job) = idempotency::claim::<Job>(&mut tx, caller, key).await? {
                    tx.commit().await?;
                    return Ok(job);
                }
                let job: Job = insert.fetch_one(&mut *tx).await?.try_into()?;
                idempotency::record(&mut tx, caller, key, &job).await?;
                tx.commit().await?;
                job
            }
        };
        self.changed();
        Ok(job)
    }

    /// One job; with `include_steps`, its whole step tree (two queries whatever its size).
    pub async fn get_job(&self, caller: &Caller, job_id: Uuid, include_steps: bool) -> Result<Job> {
        caller.require(ActionGroup::ViewTasks)?;
        let mut tx = self.pool.begin().await?;
        let mut job = fetch_job(&mut tx, job_id).await?;
        if include_steps {
            let steps: Vec<StepRow> = sqlx::query_as(&format!(
                "select {STEP_COLUMNS} from step s where s.job_id = $1"
            ))
            .bind(job_id)
            .fetch_all(&mut *tx)
            .await?;
            let tree = build_tree(rows::steps(steps)?);
            job.progress = crate::domain::job_progress(job.status, &tree);
            job.steps = Some(tree);
        }
        tx.commit().await?;
        Ok(job)
    }

    /// Jobs matching `filter`, newest first, one keyset page at a time.
    pub async fn list_jobs(
        &self,
        caller: &Caller,
        filter: &JobFilter,
        page: &Page,
    ) -> Result<JobPage> {
        caller.require(ActionGroup::ViewTasks)?;
        let limit = match page.limit {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(n) => {
                return Err(ServiceError::invalid(
                    "limit",
                    format!("must be between 1 and {MAX_PAGE_SIZE} (got {n})"),
                ))
            }
        };
        let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
        let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if let Some(q) = q {
            no_nul("q", q)?;
            // A word most jobs' descriptions contain is found soonest by walking the newest jobs
            // in order; a rare one by the trigram index. Try the walk over a bounded window first.
            let rest = JobFilter {
                q: None,
                ..filter.clone()
            };
            let mut qb = QueryBuilder::<Postgres>::new(format!(
                "select {JOB_COLUMNS} from (select j.* from job j where true"
            ));
            push_filter(&mut qb, &rest)?;
            push_after(&mut qb, after);
            qb.push(" order by j.start_time desc, j.id desc limit ")
                .push_bind(Q_WALK_WINDOW)
                .push(") j join app_user u on u.id = j.owner where j.description_lower like lower(")
                .push_bind(like_pattern(q))
                .push(")");
            if filter.q_match_case {
                qb.push(" and j.description like ")
                    .push_bind(like_pattern(q));
            }
            qb.push(" order by j.start_time desc, j.id desc limit ")
                .push_bind(limit + 1);
            let rows: Vec<JobRow> = qb.build_query_as().fetch_all(&self.pool).await?;
            if rows.len() as i64 > limit {
                return page_of(rows, limit);
            }
        }

        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "select {JOB_COLUMNS} from job j join app_user u on u.id = j.owner where true"
        ));
        push_filter(&mut qb, filter)?;
        push_after(&mut qb, after);
        qb.push(" order by j.start_time desc, j.id desc limit ")
            .push_bind(limit + 1);
        let rows: Vec<JobRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        page_of(rows, limit)
    }

    /// End a job (SPEC §1): running steps take its status, or `aborted` with `force`.
    pub async fn end_job(&self, caller: &Caller, job_id: Uuid, input: EndJob) -> Result<Job> {
        let status = end_status(input.status, input.succeeded, None)
            .map_err(|(f, m)| ServiceError::invalid(f, m))?;
        let result = input.result.as_ref().map(Description::as_str);
        let mut tx = self.pool.begin().await?;
        let current = lock_job(&mut tx, caller, job_id).await?;
        if current.is_terminal() {
            if current == status {
                // A retry of an end already made changes nothing, whatever it says.
                let job = fetch_job(&mut tx, job_id).await?;
                tx.commit().await?;
                return Ok(job);
            }
            if !input.force {
                return Err(ServiceError::conflict(format!(
                    "job {job_id} has already ended as {current}; end it with force=true to change that"
                )));
            }
            // An administrator's correction: the status changes, the end time stays (below).
        } else {
            let steps_become = if input.force { Status::Aborted } else { status };
            close_running_steps(&mut tx, job_id, steps_become).await?;
        }
        // The end and what it says, in one change (one event). Ended by someone other than its owner
        // (an administrator holding MANAGE_TASKS) without a word, a job says who ended it, so its
        // plug-in's author does not find it aborted with nothing saying by whom; what was said
        // before stays.
        sqlx::query(
            "update job set status = $2, end_time = coalesce(end_time, now()), last_updated = now(),
                    result = coalesce($3, result, case when owner <> $4 then 'Ended by ' || $5 end)
              where id = $1",
        )
        .bind(job_id)
        .bind(status.as_str())
        .bind(result)
        .bind(caller.user_id)
        .bind(&caller.username)
        .execute(&mut *tx)
        .await?;
        let job = fetch_job(&mut tx, job_id).await?;
        tx.commit().await?;
        self.changed();
        Ok(job)
    }

    /// Renew a job's lease (and `last_updated`) without changing anything else.
    pub async fn heartbeat(&self, caller: &Caller, job_id: Uuid) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        lock_job(&mut tx, caller, job_id).await?;
        touch_job(&mut tx, job_id).await?;
        let job = fetch_job(&mut tx, job_id).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Mark a job auto-cleared: retention purges it once it has ended.
    pub async fn clear_job(&self, caller: &Caller, job_id: Uuid) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        lock_job(&mut tx, caller, job_id).await?;
        sqlx::query("update job set auto_cleared = true, last_updated = now() where id = $1")
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        let job = fetch_job(&mut tx, job_id).await?;
        tx.commit().await?;
        self.changed();
        Ok(job)
    }
}

/// Text the store cannot hold is refused naming its field.
pub(super) fn no_nul(field: &str, value: &str) -> Result<()> {
    crate::domain::storable(value).map_err(|m| ServiceError::invalid(field, m))
}

/// A time bound within years 1 to 9999 (PostgreSQL stores nothing before 4713 BC, and nothing in
/// Stepwise starts before year 1).
fn in_calendar(field: &str, t: chrono::DateTime<chrono::Utc>) -> Result<()> {
    use chrono::Datelike;
    if !(1..=9999).contains(&t.year()) {
        return Err(ServiceError::invalid(
            field,
            "must be between 0001-01-01 and 9999-12-31",
        ));
    }
    Ok(())
}

pub(super) fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, f: &JobFilter) -> Result<()> {
    if !f.status.is_empty() {
        let statuses: Vec<&'static str> = f.status.iter().map(|s| s.as_str()).collect();
        qb.push(" and j.status = any(")
            .push_bind(statuses)
            .push(")");
    }
    if let Some(external) = f.external {
        qb.push(" and j.is_external = ").push_bind(external);
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        no_nul("q", q)?;
        qb.push(" and j.description_lower like lower(")
            .push_bind(like_pattern(q))
            .push(")");
        if f.q_match_case {
            qb.push(" and j.description like ")
                .push_bind(like_pattern(q));
        }
    }
    if let Some(c) = &f.correlation_id {
        let c = CorrelationId::parse(c).map_err(|m| ServiceError::invalid("correlation_id", m))?;
        qb.push(" and j.correlation_id = ")
            .push_bind(c.as_str().to_owned());
    }
    if let Some(c) = &f.correlation_id_not {
        let c = CorrelationId::parse(c).map_err(|m| ServiceError::invalid("correlation_id", m))?;
        qb.push(" and j.correlation_id is distinct from ")
            .push_bind(c.as_str().to_owned());
    }
    if let Some(owner) = f.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        no_nul("owner", owner)?;
        match Uuid::parse_str(owner) {
            Ok(id) => qb.push(" and j.owner = ").push_bind(id),
            // Resolved to the id first, so the (owner, start_time, id) index serves the page.
            Err(_) => qb
                .push(" and j.owner = (select id from app_user where username = ")
                .push_bind(super::users::local_name(owner).to_owned())
                .push(")"),
        };
    }
    if let Some(t) = f.started_after {
        in_calendar("started_after", t)?;
        qb.push(" and j.start_time >= ").push_bind(t);
    }
    if let Some(t) = f.started_before {
        in_calendar("started_before", t)?;
        qb.push(" and j.start_time < ").push_bind(t);
    }
    Ok(())
}

/// Jobs after the cursor.
fn push_after(qb: &mut QueryBuilder<'_, Postgres>, after: Option<(DateTime<Utc>, Uuid)>) {
    if let Some((time, id)) = after {
        qb.push(" and (j.start_time, j.id) < (")
            .push_bind(time)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
}

/// One page of `limit` rows from `limit + 1`, with the cursor of the next page if there is one.
fn page_of(rows: Vec<JobRow>, limit: i64) -> Result<JobPage> {
    let mut items = rows::jobs(rows)?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|j| encode_cursor(j.start_time, j.id))
    } else {
        None
    };
    Ok(JobPage { items, next_cursor })
}

/// `q` as a `like` pattern, lower-cased by PostgreSQL and matched against `description_lower`: a
/// substring, case-insensitive, exactly as `ilike` (which lower-cases both sides the same way).
fn like_pattern(q: &str) -> String {
    format!("%{}%", escape_like(q))
}

/// `%`, `_` and `\` match themselves in a `q` search.
fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn encode_cursor(time: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", time.timestamp_micros(), id.simple()))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid)> {
    let bad = || ServiceError::invalid("cursor", "is not a cursor this server gave out");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = text.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let time = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((time, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips() {
        let t = DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(t, id)).unwrap(), (t, id));
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("12.x")).is_err());
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
