//! The UI's server functions: the same permissions as the REST routes, a cookie session, and
//! cross-site requests refused.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

/// A browser-like session: the cookie and this server's own origin.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
    origin: String,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Browser<'a> {
        Browser {
            app,
            cookie: None,
            origin: app.base.clone(),
        }
    }

    async fn sign_in(&mut self, username: &str, password: &str) -> u16 {
        let response = self
            .app
            .client
            .post(self.app.url("/sfn/sign_in"))
            .header("origin", &self.origin)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Strict"),
                "{set}"
            );
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        response.status().as_u16()
    }

    async fn call(&self, endpoint: &str, body: &Value) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .post(self.app.url(&format!("/sfn/{endpoint}")))
            .header("origin", &self.origin)
            .json(body);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn server_functions_enforce_the_same_permissions_as_the_rest_routes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, creator_token) = app
        .user_with_roles("creator", &["ExternalTasksCreator"])
        .await;
    let (target, _) = app.user_with_roles("target", &[]).await;
    app.user_with_roles("viewer", &["TaskViewer"]).await;
    let creator = app.as_token(&creator_token);

    let mut viewer = Browser::new(&app);
    assert_eq!(viewer.sign_in("viewer", "viewer-password").await, 200);
    let mut admin = Browser::new(&app);
    assert_eq!(admin.sign_in(ADMIN, PASSWORD).await, 200);
    let nobody = Browser::new(&app);

    // (endpoint, body, the viewer may) — the administrator may do all of them.
    let job = creator.add_job("owned by the creator").await;
    let token = expect_status(app.post("/api/tokens", &json!({ "name": "t" })).await, 201).await;
    let cases: Vec<(&str, Value, bool)> = vec![
        (
            "list_jobs",
            json!({ "filter": {}, "cursor": null, "limit": null }),
            true,
        ),
        ("get_job", json!({ "job_id": id(&job) }), true),
        (
            "end_job",
            json!({ "job_id": id(&job), "status": "aborted", "force": true }),
            false,
        ),
        ("clear_job", json!({ "job_id": id(&job) }), false),
        ("list_users", json!({}), false),
        (
            "create_user",
            json!({ "username": "made-in-ui", "password": "long enough" }),
            false,
        ),
        (
            "set_user_disabled",
            json!({ "user_id": target, "disabled": true }),
            false,
        ),
        (
            "set_user_role",
            json!({ "user_id": target, "role": "TaskViewer", "attach": true }),
            false,
        ),
        (
            "reset_password",
            json!({ "user_id": target, "password": "a new long one" }),
            false,
        ),
        ("list_roles", json!({}), false),
        (
            "create_role",
            json!({ "name": "UiRole", "action_groups": ["VIEW_TASKS"] }),
            false,
        ),
        (
            "change_role",
            json!({ "name": "UiRole", "action_groups": ["VIEW_TASKS", "MANAGE_TASKS"] }),
            false,
        ),
        ("delete_role", json!({ "name": "UiRole" }), false),
        ("list_tokens", json!({}), false),
        (
            "create_token",
            json!({ "name": "from the ui", "user_id": null }),
            false,
        ),
        ("revoke_token", json!({ "token_id": id(&token) }), false),
        ("list_audit", json!({ "before": null }), false),
        ("retention_settings", json!({}), true),
        (
            "set_retention_settings",
            json!({ "finished_minutes": 15, "unsuccessful_minutes": 90, "interval_seconds": 900 }),
            false,
        ),
        ("reset_retention_settings", json!({}), false),
    ];
    for (endpoint, body, viewer_may) in &cases {
        let (code, _) = nobody.call(endpoint, body).await;
        assert_eq!(code, 401, "{endpoint} as nobody");
        let (code, answer) = viewer.call(endpoint, body).await;
        if *viewer_may {
            assert_eq!(code, 200, "{endpoint} as viewer: {answer}");
        } else {
            assert_eq!(code, 403, "{endpoint} as viewer: {answer}");
        }
        let (code, answer) = admin.call(endpoint, body).await;
        assert_eq!(code, 200, "{endpoint} as admin: {answer}");
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_cross_site_request_with_the_session_cookie_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("target of the forgery").await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in(ADMIN, PASSWORD).await, 200);
    browser.origin = "http://evil.example".into();
    let (code, _) = browser
        .call(
            "end_job",
            &json!({ "job_id": id(&job), "status": "aborted", "force": true }),
        )
        .await;
    assert_eq!(code, 403);
    // The REST API refuses a cookie-borne change from another site just the same.
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{}/end", id(&job))))
        .header("cookie", browser.cookie.clone().unwrap())
        .header("origin", "http://evil.example")
        .json(&json!({ "status": "aborted" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.job(&job).await["status"], "started");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn signing_out_ends_the_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in(ADMIN, PASSWORD).await, 200);
    let (_, me) = browser.call("me", &json!({})).await;
    assert_eq!(me["username"], ADMIN);
    let (code, _) = browser.call("sign_out", &json!({})).await;
    assert_eq!(code, 200);
    let (_, me) = browser.call("me", &json!({})).await;
    assert_eq!(me, Value::Null);
    let (code, _) = browser
        .call(
            "list_jobs",
            &json!({ "filter": {}, "cursor": null, "limit": null }),
        )
        .await;
    assert_eq!(code, 401);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_wrong_password_in_the_ui_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in(ADMIN, "wrong").await, 401);
    assert!(browser.cookie.is_none());
}

/// Anyone signed in changes their own password, proving the current one: a wrong one is a failed
/// sign-in (audited, throttled), the new one works at once, and no one can do it signed out.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_user_changes_their_own_password_by_giving_the_current_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.user_with_roles("viewer", &["TaskViewer"]).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let nobody = Browser::new(&app);
    let (code, _) = nobody
        .call(
            "change_my_password",
            &change("viewer-password", "a-new-password"),
        )
        .await;
    assert_eq!(code, 401);

    let mut viewer = Browser::new(&app);
    assert_eq!(viewer.sign_in("viewer", "viewer-password").await, 200);
    let (code, answer) = viewer
        .call("change_my_password", &change("a-guess", "a-new-password"))
        .await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer.to_string().contains("current_password"), "{answer}");
    let (code, answer) = viewer
        .call("change_my_password", &change("viewer-password", "short"))
        .await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer.to_string().contains("new_password"), "{answer}");

    let (code, answer) = viewer
        .call(
            "change_my_password",
            &change("viewer-password", "a-new-password"),
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        Browser::new(&app)
            .sign_in("viewer", "viewer-password")
            .await,
        401
    );
    assert_eq!(
        Browser::new(&app).sign_in("viewer", "a-new-password").await,
        200
    );

    let audit = expect_status(app.get("/api/audit").await, 200).await;
    let mine: Vec<(String, bool)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "viewer")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["success"] == true,
            )
        })
        .collect();
    assert!(
        mine.contains(&("password_changed".to_owned(), true)),
        "{mine:?}"
    );
    assert!(mine.contains(&("sign_in".to_owned(), false)), "{mine:?}");
}
