use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_retried_add_job_returns_the_original_and_creates_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({ "description": "once" });
    let first = post_with_key(&app, "/api/jobs", "k-1", &body).await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = post_with_key(&app, "/api/jobs", "k-1", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(count(&app, "select count(*) from job").await, 1);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_retried_add_step_creates_one_step(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let path = format!("/api/jobs/{}/steps", id(&job));
    let body = json!({ "description": "s", "type": "executing" });
    let a: Value = expect_status(post_with_key(&app, &path, "step-key", &body).await, 201).await;
    let b: Value = expect_status(post_with_key(&app, &path, "step-key", &body).await, 201).await;
    assert_eq!(a, b);
    assert_eq!(count(&app, "select count(*) from step").await, 1);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn racing_retries_with_one_key_create_one_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({ "description": "raced" });
    let responses =
        futures::future::join_all((0..10).map(|_| post_with_key(&app, "/api/jobs", "race", &body)))
            .await;
    let mut ids = std::collections::HashSet::new();
    for r in responses {
        let job = expect_status(r, 201).await;
        ids.insert(id(&job).to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&app, "select count(*) from job").await, 1);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_same_key_with_another_request_is_a_422(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_status(
        post_with_key(&app, "/api/jobs", "k", &json!({ "description": "a" })).await,
        201,
    )
    .await;
    let response = post_with_key(&app, "/api/jobs", "k", &json!({ "description": "b" })).await;
    expect_problem(response, 422, "Idempotency-Key").await;
    assert_eq!(count(&app, "select count(*) from job").await, 1);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_key_older_than_a_day_is_forgotten(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({ "description": "a" });
    expect_status(post_with_key(&app, "/api/jobs", "old", &body).await, 201).await;
    sqlx::query("update idempotency_key set created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    expect_status(post_with_key(&app, "/api/jobs", "old", &body).await, 201).await;
    assert_eq!(count(&app, "select count(*) from job").await, 2);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_refused_request_does_not_use_up_its_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = post_with_key(&app, "/api/jobs", "k", &json!({ "description": "" })).await;
    expect_problem(response, 400, "description").await;
    expect_status(
        post_with_key(&app, "/api/jobs", "k", &json!({ "description": "ok" })).await,
        201,
    )
    .await;
}
