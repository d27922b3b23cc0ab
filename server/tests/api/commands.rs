//! Internal commands, capabilities, retention and stale jobs, through REST on a real database.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use stepwise::background::Pacing;
use stepwise::http::Settings;

use crate::helpers::*;

/// Wait until the job has ended (or fail after 15 s).
async fn ended(app: &TestApp, job_id: &str) -> Value {
    for _ in 0..150 {
        let job = expect_status(
            app.get(&format!("/api/jobs/{job_id}?include=steps")).await,
            200,
        )
        .await;
        if job["end_time"].is_string() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_id} did not end");
}

/// The journal's `(status, result)` for each event of one job or step of that kind, in order.
async fn journal(pool: &PgPool, kind: &str, entity: &Value) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "select data->>'status', data->>'result' from event
          where kind = $1 and data->>'id' = $2 order by id",
    )
    .bind(kind)
    .bind(id(entity))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The audit log as read, and its records of one action.
async fn audit_records(app: &TestApp, action: &str) -> (Value, Vec<Value>) {
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    let records = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect();
    (audit, records)
}

async fn run(app: &TestApp, name: &str, query: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/commands/{name}{query}"), &body)
        .await
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn capabilities_list_the_monitored_commands_and_all_commands(pool: PgPool) {
    let app = spawn_app(pool).await;
    let caps = expect_status(app.get("/api/capabilities").await, 200).await;
    let monitored: Vec<&str> = caps["monitored_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(monitored, vec!["EndJobs", "CleanupJobs", "ExportJobs"]);
    let role = caps["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "CreateRole")
        .unwrap();
    assert_eq!(role["monitored"], false);
    let end = &caps["monitored_commands"][0];
    assert!(end["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "status" && p["required"] == true));
    assert_eq!(
        caps["job_statuses"],
        json!(["started", "finished", "failed", "aborted", "unknown"])
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn end_jobs_previews_then_ends_the_matching_jobs_as_an_internal_job(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let a = app.add_job("nightly a").await;
    let b = app.add_job("nightly b").await;
    let other = app.add_job("keep me").await;
    let step = app.add_top_step(&a, "running step").await;

    let preview = expect_status(
        run(
            &app,
            "EndJobs",
            "",
            json!({ "filter": { "q": "nightly" }, "status": "aborted", "dry_run": true }),
        )
        .await,
        202,
    )
    .await;
    let preview_job = ended(&app, id(&preview["job"])).await;
    assert_eq!(preview_job["result"], "Dry run: 2 job(s) would be affected");
    assert_eq!(
        app.job(&a).await["status"],
        "started",
        "a dry run changes nothing"
    );

    let accepted = run(
        &app,
        "EndJobs",
        "",
        json!({ "filter": { "q": "nightly" }, "status": "aborted" }),
    )
    .await;
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(location, format!("/api/jobs/{}", id(&accepted["job"])));
    assert_eq!(accepted["job"]["is_external"], false);
    let job = ended(&app, id(&accepted["job"])).await;
    assert_eq!(job["status"], "finished");
    assert_eq!(job["result"], "Ended 2 job(s) as aborted");
    // Its end and its outcome are one change: a subscriber sees the job end once, saying how.
    assert_eq!(
        journal(&pool, "job.updated", &job).await,
        [(
            "finished".to_owned(),
            Some("Ended 2 job(s) as aborted".to_owned())
        )]
    );
    let phases: Vec<(&str, &str)> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["type"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        vec![
            ("validating", "finished"),
            ("executing", "finished"),
            ("finalizing", "finished")
        ]
    );
    assert!(job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["is_external"] == false));
    assert_eq!(app.job(&a).await["status"], "aborted");
    assert_eq!(app.job(&b).await["status"], "aborted");
    assert_eq!(app.step(&a, &step).await["status"], "aborted");
    assert_eq!(app.job(&other).await["status"], "started");
    // Each ended job says who ended it and by which run, for its plug-in's author.
    let said = format!("Ended by {ADMIN} with EndJobs (job {})", id(&job));
    assert_eq!(app.job(&a).await["result"], said.as_str());
    assert_eq!(app.job(&b).await["result"], said.as_str());
    assert!(app.job(&other).await.get("result").is_none());
    // The bulk end is in the audit log, which outlives its auto-cleared job; the dry run is not.
    let (audit, records) = audit_records(&app, "jobs_ended").await;
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["actor"], ADMIN);
    assert_eq!(records[0]["success"], true);
    assert!(records[0]["target"].as_str().unwrap().contains(id(&job)));
    let detail = records[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Ended 2 job(s) as aborted") && detail.contains(r#""q":"nightly""#),
        "{detail}"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_monitored_command_runs_inside_a_plugin_job_and_step(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let plugin_job = app.add_job("plug-in job").await;
    let plugin_step = app.add_top_step(&plugin_job, "plug-in step").await;
    app.add_job("to export").await;
    let accepted = expect_status(
        run(
            &app,
            "ExportJobs",
            &format!("?job_id={}&step_id={}", id(&plugin_job), id(&plugin_step)),
            json!({ "format": "jsonl" }),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(accepted["job"]["id"], plugin_job["id"]);
    let container = &accepted["step"];
    assert_eq!(container["parent_step_id"], plugin_step["id"]);
    assert_eq!(container["is_external"], false);
    for _ in 0..150 {
        if app.step(&plugin_job, container).await["status"] != "started" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = app.step(&plugin_job, container).await;
    assert_eq!(done["status"], "finished");
    assert!(
        done["result"]
            .as_str()
            .unwrap()
            .starts_with("Exported 2 job(s)"),
        "{done}"
    );
    // Its phases' progress moves its own (events while it runs, without a result); one change
    // ends it and says how.
    let changes = journal(&pool, "step.updated", container).await;
    let (running, ends): (Vec<_>, Vec<_>) = changes.iter().partition(|(s, _)| s == "started");
    assert!(running.iter().all(|(_, r)| r.is_none()), "{changes:?}");
    assert_eq!(
        ends.len(),
        1,
        "one change ends it and says how: {changes:?}"
    );
    assert_eq!(ends[0].0, "finished");
    assert_eq!(ends[0].1.as_deref(), done["result"].as_str());
    let tree = expect_status(
        app.get(&format!("/api/jobs/{}/steps?tree=true", id(&plugin_job)))
            .await,
        200,
    )
    .await;
    let phases = &tree["items"][0]["children"][0]["children"];
    assert_eq!(phases.as_array().unwrap().len(), 3, "{tree}");
    assert_eq!(
        app.job(&plugin_job).await["status"],
        "started",
        "the plug-in's job goes on"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_command_that_is_not_monitored_refuses_job_id_and_otherwise_answers_at_once(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    expect_problem(
        run(
            &app,
            "CreateRole",
            &format!("?job_id={}", id(&job)),
            json!({ "name": "R1", "action_groups": [] }),
        )
        .await,
        400,
        "job_id",
    )
    .await;
    let done = expect_status(
        run(
            &app,
            "CreateRole",
            "",
            json!({ "name": "R1", "action_groups": ["VIEW_TASKS"] }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["result"]["name"], "R1");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn unknown_commands_and_bad_parameters_are_refused_naming_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(run(&app, "Reboot", "", json!({})).await, 404, "Reboot").await;
    expect_problem(run(&app, "EndJobs", "", json!({})).await, 400, "status").await;
    expect_problem(
        run(&app, "EndJobs", "", json!({ "status": "done" })).await,
        400,
        "status",
    )
    .await;
    expect_problem(
        run(
            &app,
            "EndJobs",
            "",
            json!({ "status": "aborted", "fitler": {} }),
        )
        .await,
        400,
        "fitler",
    )
    .await;
    expect_problem(
        run(&app, "ExportJobs", "", json!({ "format": "xml" })).await,
        400,
        "format",
    )
    .await;
    expect_problem(
        run(&app, "CleanupJobs", "", json!({ "older_than_minutes": -1 })).await,
        400,
        "older_than_minutes",
    )
    .await;
    // An age too large to be an interval is refused, not wrapped (it once wrapped to a minute in
    // the future, and so matched every ended job).
    for (body, field) in [
        (
            json!({ "older_than_minutes": i64::MAX }),
            "older_than_minutes",
        ),
        (
            json!({ "older_than_minutes": 52_560_001 }),
            "older_than_minutes",
        ),
        (
            json!({ "older_than_minutes_unsuccessful": -1 }),
            "older_than_minutes_unsuccessful",
        ),
    ] {
        expect_problem(run(&app, "CleanupJobs", "", body).await, 400, field).await;
    }
    expect_problem(
        run(
            &app,
            "EndJobs",
            "?step_id=00000000-0000-0000-0000-000000000001",
            json!({ "status": "aborted" }),
        )
        .await,
        400,
        "step_id",
    )
    .await;
    let missing = "00000000-0000-0000-0000-0000000000ff";
    expect_problem(
        run(
            &app,
            "EndJobs",
            &format!("?job_id={missing}"),
            json!({ "status": "aborted" }),
        )
        .await,
        404,
        missing,
    )
    .await;
    let (_, viewer) = app.user_with_roles("v", &["TaskViewer"]).await;
    let viewer = app.as_token(&viewer);
    assert_eq!(
        run(&viewer, "ExportJobs", "", json!({ "format": "csv" }))
            .await
            .status(),
        403
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn cleanup_deletes_only_ended_jobs_old_enough(pool: PgPool) {
    let app = spawn_app(pool).await;
    let old = app.add_job("old").await;
    app.add_top_step(&old, "its step").await;
    expect_status(
        app.end_job(&old, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    sqlx::query("update job set end_time = now() - interval '2 hours' where id = $1::uuid")
        .bind(id(&old))
        .execute(&app.pool)
        .await
        .unwrap();
    let recent = app.add_job("recent").await;
    expect_status(
        app.end_job(&recent, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    let running = app.add_job("running").await;

    let dry = expect_status(
        run(
            &app,
            "CleanupJobs",
            "",
            json!({ "older_than_minutes": 60, "dry_run": true }),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(
        ended(&app, id(&dry["job"])).await["result"],
        "Dry run: 1 job(s) would be affected"
    );
    let oldest_age = expect_status(
        run(
            &app,
            "CleanupJobs",
            "",
            json!({ "older_than_minutes": 52_560_000, "dry_run": true }),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(
        ended(&app, id(&oldest_age["job"])).await["result"],
        "Dry run: 0 job(s) would be affected"
    );
    expect_status(app.get(&format!("/api/jobs/{}", id(&old))).await, 200).await;

    let real = expect_status(
        run(&app, "CleanupJobs", "", json!({ "older_than_minutes": 60 })).await,
        202,
    )
    .await;
    assert_eq!(
        ended(&app, id(&real["job"])).await["result"],
        "Deleted 1 ended job(s)"
    );
    assert_eq!(
        app.get(&format!("/api/jobs/{}", id(&old))).await.status(),
        404
    );
    expect_status(app.get(&format!("/api/jobs/{}", id(&recent))).await, 200).await;
    expect_status(app.get(&format!("/api/jobs/{}", id(&running))).await, 200).await;
    // The deletion is in the audit log (with no filter: every job old enough); dry runs are not.
    let (audit, records) = audit_records(&app, "jobs_deleted").await;
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(
        records[0]["detail"], "Deleted 1 ended job(s); every job",
        "{audit}"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn exports_are_downloadable_by_their_owner_in_jsonl_and_csv(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("exported \"quoted\", with comma").await;
    let s1 = app.add_top_step(&job, "s1").await;
    // What the plug-in said as it ended the step and the job goes out with them.
    expect_status(
        app.end_step(
            &job,
            &s1,
            json!({ "status": "failed", "fail_job": false, "result": "disk gone" }),
        )
        .await,
        200,
    )
    .await;
    expect_status(
        app.end_job(&job, json!({ "status": "failed", "result": "gave up" }))
            .await,
        200,
    )
    .await;
    for (format, check) in [
        ("jsonl", "\"description\":\"s1\""),
        ("csv", "\"exported \"\"quoted\"\", with comma\""),
    ] {
        let accepted = expect_status(
            run(
                &app,
                "ExportJobs",
                "",
                json!({ "format": format, "filter": { "q": "exported" } }),
            )
            .await,
            202,
        )
        .await;
        let result = ended(&app, id(&accepted["job"])).await["result"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = result.split(": ").nth(1).unwrap().to_owned();
        let file = app.get(&url).await;
        assert_eq!(file.status(), 200);
        let text = file.text().await.unwrap();
        assert!(text.contains(check), "{format}: {text}");
        if format == "jsonl" {
            assert_eq!(text.lines().count(), 1);
            let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(line["steps"][0]["description"], "s1");
            assert_eq!(line["result"], "gave up");
            assert_eq!(line["steps"][0]["result"], "disk gone");
        } else {
            assert_eq!(text.lines().count(), 2, "a header and a row per step");
            let header = text.lines().next().unwrap();
            assert!(
                header.ends_with(",step_end_time,job_result,step_result"),
                "{header}"
            );
            assert!(
                text.lines().nth(1).unwrap().ends_with(",gave up,disk gone"),
                "{text}"
            );
        }
        let (_, other) = app
            .user_with_roles(&format!("other-{format}"), &["TaskViewer"])
            .await;
        assert_eq!(app.as_token(&other).get(&url).await.status(), 403);
    }
}

fn fast() -> Settings {
    Settings {
        pacing: Pacing {
            sweep: Duration::from_millis(200),
            retention_interval: Duration::from_millis(700),
            retention_finished_minutes: 0,
            retention_unsuccessful_minutes: 0,
            ..Pacing::default()
        },
        ..Settings::default()
    }
}

/// Whether the job is gone (404) within 10 s.
async fn purged_within_10_s(app: &TestApp, job: &Value) -> bool {
    for _ in 0..50 {
        if app.get(&format!("/api/jobs/{}", id(job))).await.status() == 404 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// An auto-cleared job, finished.
async fn finished_auto_cleared_job(app: &TestApp) -> Value {
    let job = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "auto", "auto_cleared": true }),
        )
        .await,
        201,
    )
    .await;
    expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    job
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn retention_purges_ended_auto_cleared_jobs_as_an_internal_cleanup_job(pool: PgPool) {
    let app = spawn_app_with(pool, fast()).await;
    let gone = finished_auto_cleared_job(&app).await;
    let kept = app.add_job("not auto-cleared").await;
    expect_status(
        app.end_job(&kept, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    let running = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "auto running", "auto_cleared": true }),
        )
        .await,
        201,
    )
    .await;

    assert!(purged_within_10_s(&app, &gone).await);
    expect_status(app.get(&format!("/api/jobs/{}", id(&kept))).await, 200).await;
    assert_eq!(
        app.job(&running).await["status"],
        "started",
        "a running job is never touched"
    );
    let internal = expect_status(
        app.get("/api/jobs?external=false&q=auto-cleared").await,
        200,
    )
    .await;
    assert!(
        !internal["items"].as_array().unwrap().is_empty(),
        "the pass shows as an internal job"
    );
    // Retention's routine passes are not a person's act: not in the audit log.
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    assert!(
        !audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "jobs_deleted"),
        "{audit}"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_lapsed_lease_makes_the_job_and_its_running_steps_unknown(pool: PgPool) {
    let app = spawn_app_with(pool, fast()).await;
    let leased = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "leased", "timeout_seconds": 1 }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(leased["timeout_seconds"], 1);
    let step = app.add_top_step(&leased, "s").await;
    let kept = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "kept alive", "timeout_seconds": 2 }),
        )
        .await,
        201,
    )
    .await;
    let reported = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "reported on", "timeout_seconds": 2 }),
        )
        .await,
        201,
    )
    .await;
    let reported_step = app.add_top_step(&reported, "r").await;
    let report = format!(
        "/api/jobs/{}/steps/{}/progress",
        id(&reported),
        id(&reported_step)
    );
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        expect_status(
            app.post(&format!("/api/jobs/{}/heartbeat", id(&kept)), &json!({}))
                .await,
            200,
        )
        .await;
        // The same figure now and then: a report renews the lease even when it changes nothing.
        let progress = i / 2 * 10;
        expect_status(
            app.post(&report, &json!({ "progress": progress })).await,
            200,
        )
        .await;
    }
    assert_eq!(app.job(&leased).await["status"], "unknown");
    assert_eq!(app.step(&leased, &step).await["status"], "unknown");
    assert_eq!(
        app.job(&kept).await["status"],
        "started",
        "heartbeats renew the lease"
    );
    assert_eq!(
        app.job(&reported).await["status"],
        "started",
        "progress reports renew the lease"
    );
    // A step in `unknown` may still report progress: its plug-in is alive after all.
    let late = expect_status(
        app.post(
            &format!("/api/jobs/{}/steps/{}/progress", id(&leased), id(&step)),
            &json!({ "progress": 70 }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&late["status"], &late["progress"]),
        (&json!("unknown"), &json!(70))
    );
    // An unknown job may still be ended normally.
    expect_status(
        app.end_job(&leased, json!({ "status": "failed" })).await,
        200,
    )
    .await;
    expect_problem(
        app.post(
            "/api/jobs",
            &json!({ "description": "x", "timeout_seconds": 0 }),
        )
        .await,
        400,
        "timeout_seconds",
    )
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_internal_job_of_a_dead_process_becomes_unknown(pool: PgPool) {
    let app = spawn_app_with(pool, fast()).await;
    let owner: uuid::Uuid = sqlx::query_scalar("select id from app_user where username = 'admin'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // A process that stopped beating a minute ago, with a command still running.
    let dead = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into engine_process (id, heartbeat_at) values ($1, now() - interval '1 minute')",
    )
    .bind(dead)
    .execute(&app.pool)
    .await
    .unwrap();
    let job = uuid::Uuid::now_v7();
    sqlx::query("insert into job (id, description, status, is_external, owner, process_id) values ($1, 'EndJobs', 'started', false, $2, $3)")
        .bind(job).bind(owner).bind(dead).execute(&app.pool).await.unwrap();
    let plugin = app.add_job("plug-in jobs survive restarts").await;
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if app.job(&json!({ "id": job.to_string() })).await["status"] == "unknown" {
            break;
        }
    }
    assert_eq!(
        app.job(&json!({ "id": job.to_string() })).await["status"],
        "unknown"
    );
    assert_eq!(app.job(&plugin).await["status"], "started");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn retention_settings_are_changed_by_those_who_manage_tasks_and_the_next_pass_uses_them(
    pool: PgPool,
) {
    // Configured to keep ended jobs for 10 and 60 minutes, looking every 0.7 s.
    let app = spawn_app_with(
        pool,
        Settings {
            pacing: Pacing {
                retention_interval: Duration::from_millis(700),
                retention_finished_minutes: 10,
                retention_unsuccessful_minutes: 60,
                ..Pacing::default()
            },
            ..Settings::default()
        },
    )
    .await;
    let configured = expect_status(app.get("/api/settings/retention").await, 200).await;
    assert_eq!(configured["source"], "configuration");
    assert_eq!(
        (
            &configured["finished_minutes"],
            &configured["unsuccessful_minutes"],
            &configured["interval_seconds"]
        ),
        (&json!(10), &json!(60), &json!(1)),
        "{configured}"
    );
    assert!(configured.get("updated_by").is_none());

    let job = finished_auto_cleared_job(&app).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    expect_status(app.get(&format!("/api/jobs/{}", id(&job))).await, 200).await;

    // Who may: a viewer reads, only MANAGE_TASKS changes; nobody without a token.
    let (_, viewer_token) = app.user_with_roles("viewer", &["TaskViewer"]).await;
    let viewer = app.as_token(&viewer_token);
    expect_status(viewer.get("/api/settings/retention").await, 200).await;
    let figures =
        json!({ "finished_minutes": 0, "unsuccessful_minutes": 0, "interval_seconds": 1 });
    expect_status(put_retention(&viewer, &figures).await, 403).await;
    expect_status(delete_retention(&viewer).await, 403).await;
    let nobody = app.as_token("not-a-token");
    expect_status(put_retention(&nobody, &figures).await, 401).await;

    // Bad figures name their field and change nothing.
    for (body, field) in [
        (
            json!({ "finished_minutes": -1, "unsuccessful_minutes": 0, "interval_seconds": 1 }),
            "finished_minutes",
        ),
        (
            json!({ "finished_minutes": 0, "unsuccessful_minutes": 525601, "interval_seconds": 1 }),
            "unsuccessful_minutes",
        ),
        (
            json!({ "finished_minutes": 0, "unsuccessful_minutes": 0, "interval_seconds": 0 }),
            "interval_seconds",
        ),
        (
            json!({ "finished_minutes": 0, "unsuccessful_minutes": 0 }),
            "interval_seconds",
        ),
        (
            json!({ "finished_minutes": "soon", "unsuccessful_minutes": 0, "interval_seconds": 1 }),
            "finished_minutes",
        ),
    ] {
        expect_problem(put_retention(&app, &body).await, 400, field).await;
    }
    let unchanged = expect_status(app.get("/api/settings/retention").await, 200).await;
    assert_eq!(unchanged, configured);

    // Stored: every process's next pass uses them.
    let stored = expect_status(put_retention(&app, &figures).await, 200).await;
    assert_eq!(stored["source"], "stored");
    assert_eq!(stored["finished_minutes"], 0);
    assert_eq!(stored["updated_by"], ADMIN);
    assert!(stored["updated_at"].is_string());
    assert!(
        purged_within_10_s(&app, &job).await,
        "the pass after the change purged the job"
    );
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    let changed = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "retention_changed")
        .expect("the change is audited");
    assert_eq!(changed["actor"], ADMIN);
    assert!(changed["detail"].as_str().unwrap().contains("0 min"));

    // Put back: the configuration again.
    let reset = expect_status(delete_retention(&app).await, 200).await;
    assert_eq!(reset, configured);
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "retention_reset"));
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn retention_settings_stored_by_another_process_are_taken_up_without_waiting_an_hour(
    pool: PgPool,
) {
    // This process looks once an hour by its configuration; another process (here, the same row
    // written directly, as another server process writes it) stores "every second, keep nothing".
    let app = spawn_app_with(
        pool.clone(),
        Settings {
            pacing: Pacing {
                sweep: Duration::from_millis(200),
                retention_interval: Duration::from_secs(3600),
                retention_finished_minutes: 0,
                retention_unsuccessful_minutes: 0,
                ..Pacing::default()
            },
            ..Settings::default()
        },
    )
    .await;
    let job = finished_auto_cleared_job(&app).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    expect_status(app.get(&format!("/api/jobs/{}", id(&job))).await, 200).await;
    sqlx::query(
        "insert into retention_setting
             (finished_minutes, unsuccessful_minutes, interval_seconds, updated_by)
         values (0, 0, 1, 'elsewhere')",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        purged_within_10_s(&app, &job).await,
        "the stored interval replaced the hour this process was waiting"
    );
}

async fn put_retention(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/settings/retention"))
        .bearer_auth(&app.token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn delete_retention(app: &TestApp) -> reqwest::Response {
    app.delete("/api/settings/retention").await
}

/// A command's parameters are read as a request body is: a missing one is named itself, types in
/// plain words; its filter takes the forms the jobs list's query takes (statuses separated by
/// commas, a date for a time bound).
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_commands_parameters_are_refused_naming_them_and_its_filter_reads_as_the_lists(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let body = expect_problem(run(&app, "ExportJobs", "", json!({})).await, 400, "format").await;
    assert_eq!(body["errors"][0]["message"], "is required", "{body}");
    expect_problem(
        run(&app, "EndJobs", "", json!({ "filter": {} })).await,
        400,
        "status",
    )
    .await;
    let body = expect_problem(
        run(
            &app,
            "ExportJobs",
            "",
            json!({ "format": "csv", "filter": 5 }),
        )
        .await,
        400,
        "filter",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .ends_with("expected an object"),
        "{body}"
    );
    let body = expect_problem(
        run(
            &app,
            "ExportJobs",
            "",
            json!({ "format": "csv", "filter": { "status": "failed,bogus" } }),
        )
        .await,
        400,
        "filter.status",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("`bogus`"),
        "{body}"
    );

    let running = app.add_job("sweep me").await;
    let failed = app.add_job("sweep me too").await;
    expect_status(
        app.end_job(&failed, json!({ "status": "failed" })).await,
        200,
    )
    .await;
    app.add_job("but not me").await;
    let today = chrono::Utc::now().date_naive().to_string();
    for filter in [
        json!({ "q": "sweep", "status": "started, failed", "started_after": today }),
        json!({ "q": "sweep", "status": ["started", "failed"], "started_before": null }),
    ] {
        let preview = expect_status(
            run(
                &app,
                "EndJobs",
                "",
                json!({ "filter": filter, "status": "aborted", "dry_run": true }),
            )
            .await,
            202,
        )
        .await;
        let preview = ended(&app, id(&preview["job"])).await;
        assert_eq!(
            preview["result"], "Dry run: 1 job(s) would be affected",
            "{filter}: only the running one of the two can be ended"
        );
    }
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let preview = expect_status(
        run(
            &app,
            "EndJobs",
            "",
            json!({ "filter": { "q": "sweep", "started_after": tomorrow }, "status": "aborted", "dry_run": true }),
        )
        .await,
        202,
    )
    .await;
    let preview = ended(&app, id(&preview["job"])).await;
    assert_eq!(preview["result"], "Dry run: 0 job(s) would be affected");
    assert_eq!(app.job(&running).await["status"], "started");
}
