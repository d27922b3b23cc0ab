use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn adding_a_job_answers_201_with_location_and_the_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .post(
            "/api/jobs",
            &json!({ "description": "  Backup VM 7  ", "auto_cleared": true }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/jobs/{}", id(&job)));
    assert_eq!(job["description"], "Backup VM 7");
    assert_eq!(job["status"], "started");
    assert_eq!(job["is_external"], true);
    assert_eq!(job["auto_cleared"], true);
    assert_eq!(job["owner_name"], ADMIN);
    assert!(job["end_time"].is_null());
    assert!(job["start_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.job(&job).await, job);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_correlation_id_header_is_recorded_and_echoed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth(&app.token)
        .header("Correlation-Id", "deploy-42")
        .json(&json!({ "description": "d" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["correlation-id"], "deploy-42");
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["correlation_id"], "deploy-42");

    let by_query = app
        .post(
            "/api/jobs?correlation_id=q_1",
            &json!({ "description": "d" }),
        )
        .await;
    assert_eq!(by_query.headers()["correlation-id"], "q_1");
    assert_eq!(
        by_query.json::<serde_json::Value>().await.unwrap()["correlation_id"],
        "q_1"
    );

    // In the body, by the name the job shows it (it used to be ignored); the header may repeat it.
    let in_body = expect_status(
        app.post(
            "/api/jobs",
            &json!({ "description": "d", "correlation_id": "body-7" }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(in_body["correlation_id"], "body-7");
    let both = app
        .post(
            "/api/jobs?correlation_id=body-8",
            &json!({ "description": "d", "correlation_id": "body-8" }),
        )
        .await;
    assert_eq!(expect_status(both, 201).await["correlation_id"], "body-8");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_correlation_id_in_the_body_is_checked_as_the_headers_is(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (query, body) in [
        (
            "",
            json!({ "description": "d", "correlation_id": "no spaces allowed" }),
        ),
        ("", json!({ "description": "d", "correlation_id": "" })),
        ("", json!({ "description": "d", "correlation_id": 42 })),
        (
            "?correlation_id=one",
            json!({ "description": "d", "correlation_id": "other" }),
        ),
    ] {
        let response = app.post(&format!("/api/jobs{query}"), &body).await;
        expect_problem(response, 400, "correlation_id").await;
    }
    let list = expect_status(app.get("/api/jobs").await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing added");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_bad_correlation_id_is_refused_naming_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth(&app.token)
        .header("Correlation-Id", "no spaces allowed")
        .json(&json!({ "description": "d" }))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "Correlation-Id").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_job_closes_its_running_steps_with_its_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let a = app.add_top_step(&job, "a").await;
    let b = app.add_sub_step(&job, &a, "b").await;
    let done = app.add_top_step(&job, "done").await;
    expect_status(
        app.end_step(&job, &done, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;

    let ended = expect_status(app.end_job(&job, json!({ "status": "aborted" })).await, 200).await;
    assert_eq!(ended["status"], "aborted");
    assert!(ended["end_time"].is_string());
    assert_eq!(app.step(&job, &a).await["status"], "aborted");
    assert_eq!(app.step(&job, &b).await["status"], "aborted");
    assert_eq!(app.step(&job, &done).await["status"], "finished");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_job_with_force_aborts_its_running_steps(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let a = app.add_top_step(&job, "a").await;
    let ended = expect_status(
        app.end_job(&job, json!({ "status": "finished", "force": true }))
            .await,
        200,
    )
    .await;
    assert_eq!(ended["status"], "finished");
    assert_eq!(app.step(&job, &a).await["status"], "aborted");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn succeeded_is_accepted_instead_of_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let ok = app.add_job("ok").await;
    let bad = app.add_job("bad").await;
    assert_eq!(
        expect_status(app.end_job(&ok, json!({ "succeeded": true })).await, 200).await["status"],
        "finished"
    );
    assert_eq!(
        expect_status(app.end_job(&bad, json!({ "succeeded": false })).await, 200).await["status"],
        "failed"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_finished_job_again_is_a_no_op(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let first = expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    let again = expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    assert_eq!(first["end_time"], again["end_time"]);
    assert_eq!(again["status"], "finished");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_an_ended_job_with_another_status_conflicts_unless_forced(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let first = expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    expect_problem(
        app.end_job(&job, json!({ "status": "failed" })).await,
        409,
        "force",
    )
    .await;
    let corrected = expect_status(
        app.end_job(&job, json!({ "status": "failed", "force": true }))
            .await,
        200,
    )
    .await;
    assert_eq!(corrected["status"], "failed");
    assert_eq!(
        corrected["end_time"], first["end_time"],
        "a correction keeps the end time"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_job_needs_an_end_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    expect_problem(app.end_job(&job, json!({})).await, 400, "status").await;
    expect_problem(
        app.end_job(&job, json!({ "status": "started" })).await,
        400,
        "status",
    )
    .await;
    expect_problem(
        app.end_job(&job, json!({ "status": "unknown" })).await,
        400,
        "status",
    )
    .await;
    expect_problem(
        app.end_job(&job, json!({ "status": "aborted", "succeeded": true }))
            .await,
        400,
        "succeeded",
    )
    .await;
    assert_eq!(
        app.job(&job).await["status"],
        "started",
        "nothing half-written"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_job_in_unknown_state_may_be_ended_normally(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    sqlx::query("update job set status = 'unknown' where id = $1::uuid")
        .bind(id(&job))
        .execute(&app.pool)
        .await
        .unwrap();
    let ended = expect_status(app.end_job(&job, json!({ "status": "failed" })).await, 200).await;
    assert_eq!(ended["status"], "failed");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn clearing_a_job_marks_it_auto_cleared(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    assert_eq!(job["auto_cleared"], false);
    let cleared = expect_status(
        app.post(&format!("/api/jobs/{}/clear", id(&job)), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(cleared["auto_cleared"], true);
    assert_eq!(app.job(&job).await["auto_cleared"], true);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn unknown_jobs_are_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let missing = "00000000-0000-0000-0000-000000000001";
    expect_problem(app.get(&format!("/api/jobs/{missing}")).await, 404, missing).await;
    expect_problem(
        app.post(
            &format!("/api/jobs/{missing}/end"),
            &json!({"status": "finished"}),
        )
        .await,
        404,
        missing,
    )
    .await;
    expect_problem(
        app.post(&format!("/api/jobs/{missing}/clear"), &json!({}))
            .await,
        404,
        missing,
    )
    .await;
    expect_problem(
        app.get(&format!("/api/jobs/{missing}/steps")).await,
        404,
        missing,
    )
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn last_updated_moves_when_a_step_changes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.add_top_step(&job, "s").await;
    let after = app.job(&job).await;
    assert!(after["last_updated"].as_str().unwrap() > job["last_updated"].as_str().unwrap());
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_job_with_include_steps_embeds_its_tree(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let a = app.add_top_step(&job, "a").await;
    app.add_sub_step(&job, &a, "a.0").await;
    app.add_top_step(&job, "b").await;
    let full = expect_status(
        app.get(&format!("/api/jobs/{}?include=steps", id(&job)))
            .await,
        200,
    )
    .await;
    let steps = full["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["description"], "a");
    assert_eq!(steps[0]["children"][0]["description"], "a.0");
    assert_eq!(steps[1]["description"], "b");
    assert!(app.job(&job).await.get("steps").is_none());
    expect_problem(
        app.get(&format!("/api/jobs/{}?include=everything", id(&job)))
            .await,
        400,
        "include",
    )
    .await;
}
