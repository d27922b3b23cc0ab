//! What would otherwise pile up for ever is forgotten: spent bearer tokens and sessions, old audit
//! records, old exports with their files; and capabilities say how long each is kept.

use std::time::Duration;

use app::service::Engine;
use serde_json::json;
use sqlx::PgPool;
use stepwise::http::Settings;

use crate::helpers::*;

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn spent_bearer_tokens_and_sessions_go_a_day_after_they_lapse_and_api_tokens_stay(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let expired = app.sign_in(ADMIN, PASSWORD).await;
    let revoked = app.sign_in(ADMIN, PASSWORD).await;
    let lapsed_an_hour_ago = app.sign_in(ADMIN, PASSWORD).await;
    let minted = expect_status(
        app.post("/api/tokens", &json!({ "name": "backup plug-in" }))
            .await,
        201,
    )
    .await;
    let revoked_api = expect_status(
        app.post("/api/tokens", &json!({ "name": "old plug-in" }))
            .await,
        201,
    )
    .await;
    let revoke = app
        .delete(&format!("/api/tokens/{}", id(&revoked_api)))
        .await;
    assert!(revoke.status().is_success(), "{}", revoke.status());
    // Two days past: expired, revoked (a bearer token and the API token), a session expired.
    let hash = "sha256(convert_to($1, 'UTF8'))";
    for (token, change) in [
        (&expired, "expires_at = now() - interval '2 days'"),
        (&revoked, "revoked_at = now() - interval '2 days'"),
        (
            &lapsed_an_hour_ago,
            "expires_at = now() - interval '1 hour'",
        ),
    ] {
        let done = sqlx::query(&format!(
            "update access_token set {change} where token_hash = {hash}"
        ))
        .bind(token)
        .execute(&app.pool)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1, "tokens are kept as a SHA-256");
    }
    exec(
        &app.pool,
        "update access_token set revoked_at = now() - interval '2 days' where kind = 'api'
            and revoked_at is not null",
    )
    .await;
    exec(
        &app.pool,
        "insert into access_token (id, token_hash, user_id, kind, expires_at)
         select gen_random_uuid(), sha256('a session'::bytea), id, 'session',
                now() - interval '2 days' from app_user where username = 'admin'",
    )
    .await;
    let before = count(&app.pool, "select count(*) from access_token").await;

    let forgotten = Engine::new(app.pool.clone())
        .forget_spent_credentials()
        .await
        .unwrap();
    assert_eq!(
        forgotten, 3,
        "the expired and revoked bearer tokens and the session"
    );
    assert_eq!(
        count(&app.pool, "select count(*) from access_token").await,
        before - 3
    );
    // One lapsed within the day is still told why it is refused; the one in use still works.
    let refused = app.as_token(&lapsed_an_hour_ago).get("/api/jobs").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(app.get("/api/jobs").await.status(), 200);
    // API tokens stay listed, the revoked one too, and the minted one still works.
    let tokens = expect_status(app.get("/api/tokens").await, 200).await;
    let listed = tokens["items"].as_array().unwrap();
    for token in [&minted, &revoked_api] {
        assert!(
            listed.iter().any(|t| t["id"] == token["id"]),
            "{token} in {tokens}"
        );
    }
    let secret = minted["token"].as_str().unwrap();
    assert_eq!(app.as_token(secret).get("/api/jobs").await.status(), 200);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn audit_records_older_than_kept_are_forgotten(pool: PgPool) {
    let app = spawn_app(pool).await;
    for _ in 0..3 {
        app.sign_in(ADMIN, PASSWORD).await;
    }
    let all = count(&app.pool, "select count(*) from audit_event").await;
    assert!(all >= 4, "each sign-in is audited");
    exec(
        &app.pool,
        "update audit_event set at = now() - interval '100 days'
          where id in (select id from audit_event order by id limit 3)",
    )
    .await;
    let forgotten = Engine::new(app.pool.clone())
        .forget_old_audit_records(chrono::Duration::days(90))
        .await
        .unwrap();
    assert_eq!(forgotten, 3);
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    assert_eq!(audit["items"].as_array().unwrap().len() as i64, all - 3);
}

/// Run ExportJobs and wait for its file: the export's id and where the file is.
async fn export(app: &TestApp) -> (String, String) {
    let accepted = expect_status(
        app.post("/api/commands/ExportJobs", &json!({ "format": "jsonl" }))
            .await,
        202,
    )
    .await;
    for _ in 0..150 {
        let job = app.job(&accepted["job"]).await;
        if let Some(result) = job["result"]
            .as_str()
            .filter(|_| job["status"] == "finished")
        {
            let export_id = result.rsplit('/').next().unwrap().to_owned();
            let path: String =
                sqlx::query_scalar("select path from export_file where id = $1::uuid")
                    .bind(&export_id)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            return (export_id, path);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the export did not finish");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn exports_older_than_kept_go_with_their_files(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.add_job("to export").await;
    let (old, old_path) = export(&app).await;
    let (new, new_path) = export(&app).await;
    assert!(std::path::Path::new(&old_path).exists());
    sqlx::query(
        "update export_file set created_at = now() - interval '2 days' where id = $1::uuid",
    )
    .bind(&old)
    .execute(&app.pool)
    .await
    .unwrap();

    let forgotten = Engine::new(app.pool.clone())
        .forget_old_exports(chrono::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(forgotten, 1);
    assert!(
        !std::path::Path::new(&old_path).exists(),
        "its file is gone"
    );
    assert_eq!(app.get(&format!("/api/exports/{old}")).await.status(), 404);
    assert!(std::path::Path::new(&new_path).exists());
    assert_eq!(app.get(&format!("/api/exports/{new}")).await.status(), 200);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn capabilities_say_how_long_events_exports_and_audit_records_are_kept(pool: PgPool) {
    let settings = Settings {
        event_retention: chrono::Duration::hours(6),
        export_retention: chrono::Duration::hours(48),
        audit_retention: chrono::Duration::days(30),
        ..Settings::default()
    };
    let app = spawn_app_with(pool, settings).await;
    let caps = expect_status(app.get("/api/capabilities").await, 200).await;
    assert_eq!(caps["limits"]["event_replay_window_hours"], 6);
    assert_eq!(caps["limits"]["export_retention_hours"], 48);
    assert_eq!(caps["limits"]["audit_retention_days"], 30);
}
