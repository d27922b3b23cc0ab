//! `spawn_app`: a migrated fresh database (from `#[sqlx::test]`), the server on a free port, a signed-in
//! administrator, and typed request helpers.

use app::service::Engine;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use stepwise::http::Settings;
use stepwise::startup::Application;

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub pool: PgPool,
    /// Stops the server (its event listener holds a connection) when the test ends.
    pub stop: Option<std::sync::Arc<tokio::sync::watch::Sender<bool>>>,
    /// Where the server writes exports; removed, with what it holds, when the test ends.
    pub exports: std::sync::Arc<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The last handle on this server stops it.
        if let Some(stop) = self.stop.take() {
            if std::sync::Arc::strong_count(&stop) == 1 {
                let _ = stop.send(true);
            }
        }
    }
}

/// Run a server until its `TestApp` is dropped.
pub fn run(server: Application) -> std::sync::Arc<tokio::sync::watch::Sender<bool>> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(server.run_until_stopped(async move {
        let _ = stopped.changed().await;
    }));
    std::sync::Arc::new(stop)
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, Settings::default()).await
}

pub async fn spawn_app_with(pool: PgPool, mut settings: Settings) -> TestApp {
    let exports = export_dir();
    settings.export_dir = exports.path().to_path_buf();
    Engine::new(pool.clone())
        .ensure_admin(ADMIN, PASSWORD)
        .await
        .expect("admin created");
    let app = Application::for_tests(pool.clone(), settings)
        .await
        .expect("server starts");
    let base = format!("http://{}", app.address());
    let stop = run(app);
    let client = reqwest::Client::new();
    let mut test_app = TestApp {
        base,
        client,
        token: String::new(),
        pool,
        stop: Some(stop),
        exports: std::sync::Arc::new(exports),
    };
    test_app.token = test_app.sign_in(ADMIN, PASSWORD).await;
    test_app
}

/// A fresh directory for a test server's exports.
pub fn export_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("stepwise-test-exports-")
        .tempdir()
        .expect("a temporary directory")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "sign-in of {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.without_body(reqwest::Method::GET, path).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.without_body(reqwest::Method::DELETE, path).await
    }

    async fn without_body(&self, method: reqwest::Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Add a job; panics unless 201.
    pub async fn add_job(&self, description: &str) -> Value {
        expect_status(
            self.post("/api/jobs", &json!({ "description": description }))
                .await,
            201,
        )
        .await
    }

    /// Add a step; panics unless 201.
    pub async fn add_step(&self, job: &Value, body: Value) -> Value {
        let path = format!("/api/jobs/{}/steps", id(job));
        expect_status(self.post(&path, &body).await, 201).await
    }

    /// Add a step directly under the job.
    pub async fn add_top_step(&self, job: &Value, description: &str) -> Value {
        self.add_step(
            job,
            json!({ "description": description, "type": "executing" }),
        )
        .await
    }

    /// Add a step under `parent`.
    pub async fn add_sub_step(&self, job: &Value, parent: &Value, description: &str) -> Value {
        self.add_step(
            job,
            json!({ "description": description, "type": "executing", "parent_id": id(parent), "parent_type": "step" }),
        )
        .await
    }

    pub async fn end_step(&self, job: &Value, step: &Value, body: Value) -> Response {
        self.post(
            &format!("/api/jobs/{}/steps/{}/end", id(job), id(step)),
            &body,
        )
        .await
    }

    pub async fn end_job(&self, job: &Value, body: Value) -> Response {
        self.post(&format!("/api/jobs/{}/end", id(job)), &body)
            .await
    }

    pub async fn job(&self, job: &Value) -> Value {
        expect_status(self.get(&format!("/api/jobs/{}", id(job))).await, 200).await
    }

    pub async fn step(&self, job: &Value, step: &Value) -> Value {
        expect_status(
            self.get(&format!("/api/jobs/{}/steps/{}", id(job), id(step)))
                .await,
            200,
        )
        .await
    }
}

impl TestApp {
    /// A new user holding `roles`, signed in: (user id, bearer token).
    pub async fn user_with_roles(&self, name: &str, roles: &[&str]) -> (String, String) {
        let password = format!("{name}-password");
        let user = expect_status(
            self.post(
                "/api/users",
                &json!({ "username": name, "password": password }),
            )
            .await,
            201,
        )
        .await;
        let user_id = id(&user).to_owned();
        for role in roles {
            self.give_role(&user_id, role).await;
        }
        let token = self.sign_in(name, &password).await;
        (user_id, token)
    }

    /// Give a user a role; panics unless 200.
    pub async fn give_role(&self, user_id: &str, role: &str) {
        let r = self
            .client
            .put(self.url(&format!("/api/users/{user_id}/roles/{role}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        expect_status(r, 200).await;
    }

    /// The same app, acting with another token.
    pub fn as_token(&self, token: &str) -> TestApp {
        TestApp {
            base: self.base.clone(),
            client: self.client.clone(),
            token: token.to_owned(),
            pool: self.pool.clone(),
            stop: self.stop.clone(),
            exports: self.exports.clone(),
        }
    }
}

pub fn id(entity: &Value) -> &str {
    entity["id"].as_str().expect("an id")
}

/// Assert the status, then parse the body as JSON.
pub async fn expect_status(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Assert a problem+json answer with `status` whose `errors` (or detail) name `field`.
pub async fn expect_problem(response: Response, status: u16, field: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = expect_status(response, status).await;
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["status"], status);
    let named = body["errors"]
        .as_array()
        .map(|errors| errors.iter().any(|e| e["field"] == field))
        .unwrap_or(false)
        || body["detail"].as_str().unwrap_or("").contains(field);
    assert!(named, "problem does not name `{field}`: {body}");
    body
}
