use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_api_needs_a_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/api/jobs")).send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"stepwise\""
    );
    expect_problem(response, 401, "Authorization").await;
    let response = app
        .client
        .get(app.url("/api/jobs"))
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "token").await;
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .json(&json!({ "description": "anonymous" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn health_and_the_token_endpoint_need_no_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // oVirt-style user names work too.
    app.sign_in("admin@internal", PASSWORD).await;
}

/// RFC 6749 asks for a form; a JSON object with the same fields is taken too, and a body that is
/// neither gets a clear `invalid_request`.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_token_endpoint_takes_json_too(pool: PgPool) {
    let app = spawn_app(pool).await;
    let post = |content_type: &'static str, body: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/auth/token"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let body = json!({ "grant_type": "password", "username": ADMIN, "password": PASSWORD });
    let (status, token) = post("application/json; charset=utf-8", body.to_string()).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "bearer");
    let jobs = app
        .client
        .get(app.url("/api/jobs"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);

    let (status, refused) = post("application/json", r#"{"grant_type": "password""#.into()).await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"], "invalid_request");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("JSON object"),
        "{refused}"
    );
    let body = json!({ "grant_type": "password", "username": 5 });
    let (status, refused) = post("application/json", body.to_string()).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // `curl -d '{...}'` sends JSON labelled as a form: the answer says so.
    let body = json!({ "grant_type": "password", "username": ADMIN, "password": PASSWORD });
    let (status, refused) = post("application/x-www-form-urlencoded", body.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json"),
        "{refused}"
    );
    let body = json!({ "grant_type": "password", "username": ADMIN, "password": "wrong" });
    let (status, wrong) = post("application/json", body.to_string()).await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn wrong_credentials_get_the_same_oauth_error_for_unknown_users(pool: PgPool) {
    let app = spawn_app(pool).await;
    let try_sign_in = |user: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/auth/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s1, wrong_password) = try_sign_in(ADMIN, "wrong").await;
    let (s2, unknown_user) = try_sign_in("ghost", "wrong").await;
    assert_eq!((s1, s2), (400, 400));
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password["error"], "invalid_grant");

    let r = app
        .client
        .post(app.url("/api/auth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_expired_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    sqlx::query("update access_token set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    expect_problem(app.get("/api/jobs").await, 401, "expired").await;
}
