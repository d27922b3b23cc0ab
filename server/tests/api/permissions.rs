//! Every route and every server function, called as nobody (401), as a user without the needed
//! permission (403) and as one with it (success). A route missing from the table fails the test.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Plain,
    Viewer,
    Creator,
    OtherCreator,
    Admin,
}

struct People {
    plain: String,
    viewer: String,
    creator: String,
    other_creator: String,
    target_id: String,
}

impl People {
    fn token(&self, who: Who, admin: &str) -> String {
        match who {
            Who::Plain => self.plain.clone(),
            Who::Viewer => self.viewer.clone(),
            Who::Creator => self.creator.clone(),
            Who::OtherCreator => self.other_creator.clone(),
            Who::Admin => admin.to_owned(),
        }
    }
}

/// A fresh job (with a step) owned by the creator, for each case.
struct Fixture {
    job: String,
    step: String,
    token_id: String,
    export_id: String,
    /// A role made here that nobody holds.
    role: String,
}

struct Case {
    method: &'static str,
    path: &'static str,
    body: Value,
    denied: &'static [Who],
    allowed: Who,
}

const VIEW: (&[Who], Who) = (&[Who::Plain], Who::Viewer);
const INJECT: (&[Who], Who) = (&[Who::Plain, Who::Viewer], Who::Creator);
const OWNER: (&[Who], Who) = (&[Who::Plain, Who::Viewer, Who::OtherCreator], Who::Creator);
const USERS: (&[Who], Who) = (&[Who::Plain, Who::Viewer, Who::Creator], Who::Admin);
const ANYONE: (&[Who], Who) = (&[], Who::Plain);
/// RUN_INTERNAL_COMMANDS with VIEW_TASKS.
const EXPORT: (&[Who], Who) = (&[Who::Plain, Who::Viewer, Who::Creator], Who::Admin);
/// The export's owner (the administrator made it).
const EXPORT_OWNER: (&[Who], Who) = (&[Who::Plain, Who::Viewer], Who::Admin);
/// MANAGE_TASKS.
const MANAGE: (&[Who], Who) = (&[Who::Plain, Who::Viewer, Who::Creator], Who::Admin);

fn case(
    method: &'static str,
    path: &'static str,
    body: Value,
    rule: (&'static [Who], Who),
) -> Case {
    Case {
        method,
        path,
        body,
        denied: rule.0,
        allowed: rule.1,
    }
}

fn rest_cases() -> Vec<Case> {
    vec![
        case("GET", "/api/capabilities", json!(null), ANYONE),
        case("GET", "/api/events", json!(null), VIEW),
        case("POST", "/api/jobs", json!({ "description": "d" }), INJECT),
        case("GET", "/api/jobs", json!(null), VIEW),
        case("GET", "/api/jobs/{job_id}", json!(null), VIEW),
        case(
            "POST",
            "/api/jobs/{job_id}/end",
            json!({ "status": "finished" }),
            OWNER,
        ),
        case("POST", "/api/jobs/{job_id}/clear", json!({}), OWNER),
        case(
            "POST",
            "/api/jobs/{job_id}/steps",
            json!({ "description": "s", "type": "executing" }),
            OWNER,
        ),
        case("GET", "/api/jobs/{job_id}/steps", json!(null), VIEW),
        case(
            "GET",
            "/api/jobs/{job_id}/steps/{step_id}",
            json!(null),
            VIEW,
        ),
        case(
            "POST",
            "/api/jobs/{job_id}/steps/{step_id}/end",
            json!({ "status": "finished" }),
            OWNER,
        ),
        case(
            "POST",
            "/api/jobs/{job_id}/steps/{step_id}/progress",
            json!({ "progress": 5 }),
            OWNER,
        ),
        case(
            "POST",
            "/api/users",
            json!({ "username": "new-user", "password": "long enough" }),
            USERS,
        ),
        case("GET", "/api/users", json!(null), USERS),
        case("POST", "/api/users/{user_id}/disable", json!(null), USERS),
        case("POST", "/api/users/{user_id}/enable", json!(null), USERS),
        case(
            "POST",
            "/api/users/{user_id}/password",
            json!({ "password": "another long one" }),
            USERS,
        ),
        case(
            "PUT",
            "/api/users/{user_id}/roles/{role_name}",
            json!(null),
            USERS,
        ),
        case(
            "DELETE",
            "/api/users/{user_id}/roles/{role_name}",
            json!(null),
            USERS,
        ),
        case("GET", "/api/roles", json!(null), USERS),
        case(
            "PUT",
            "/api/roles/{role_name}",
            json!({ "action_groups": ["VIEW_TASKS"] }),
            USERS,
        ),
        case("DELETE", "/api/roles/{role_name}", json!(null), USERS),
        case(
            "POST",
            "/api/roles",
            json!({ "name": "Custom", "action_groups": ["VIEW_TASKS"] }),
            USERS,
        ),
        case("POST", "/api/tokens", json!({ "name": "plug-in" }), USERS),
        case("GET", "/api/tokens", json!(null), USERS),
        case("DELETE", "/api/tokens/{token_id}", json!(null), USERS),
        case("GET", "/api/audit", json!(null), USERS),
        case("POST", "/api/jobs/{job_id}/heartbeat", json!(null), OWNER),
        case(
            "POST",
            "/api/commands/{name}",
            json!({ "format": "jsonl" }),
            EXPORT,
        ),
        case("GET", "/api/exports/{export_id}", json!(null), EXPORT_OWNER),
        case("GET", "/api/settings/retention", json!(null), VIEW),
        case(
            "PUT",
            "/api/settings/retention",
            json!({ "finished_minutes": 20, "unsuccessful_minutes": 60, "interval_seconds": 600 }),
            MANAGE,
        ),
        case("DELETE", "/api/settings/retention", json!(null), MANAGE),
    ]
}

async fn fixture(app: &TestApp, people: &People) -> Fixture {
    let creator = app.as_token(&people.creator);
    let job = creator.add_job("fixture").await;
    let step = creator.add_top_step(&job, "fixture step").await;
    let token = expect_status(
        app.post("/api/tokens", &json!({ "name": "fixture" })).await,
        201,
    )
    .await;
    let export_id = uuid::Uuid::now_v7();
    let path = app.exports.path().join(format!("{export_id}.jsonl"));
    std::fs::write(&path, "{}\n").unwrap();
    sqlx::query(
        "insert into export_file (id, owner, format, path)
         select $1, id, 'jsonl', $2 from app_user where username = 'admin'",
    )
    .bind(export_id)
    .bind(path.to_string_lossy().to_string())
    .execute(&app.pool)
    .await
    .unwrap();
    let role = format!("Fixture-{}", uuid::Uuid::new_v4().simple());
    expect_status(
        app.post(
            "/api/roles",
            &json!({ "name": role, "action_groups": ["VIEW_TASKS"] }),
        )
        .await,
        201,
    )
    .await;
    Fixture {
        role,
        job: id(&job).to_owned(),
        step: id(&step).to_owned(),
        token_id: id(&token).to_owned(),
        export_id: export_id.to_string(),
    }
}

fn fill(path: &str, f: &Fixture, people: &People) -> String {
    // A role of its own is changed or deleted; a shipped one is given and taken.
    let role = if path.starts_with("/api/roles/") {
        f.role.as_str()
    } else {
        "TaskViewer"
    };
    path.replace("{job_id}", &f.job)
        .replace("{step_id}", &f.step)
        .replace("{user_id}", &people.target_id)
        .replace("{role_name}", role)
        .replace("{token_id}", &f.token_id)
        .replace("{export_id}", &f.export_id)
        .replace("{name}", "ExportJobs")
        .replace("{export_id}", &f.export_id)
        .replace("{name}", "ExportJobs")
}

async fn call(app: &TestApp, method: &str, path: &str, body: &Value, token: Option<&str>) -> u16 {
    let mut request = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if !body.is_null() {
        request = request.json(body);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn people(app: &TestApp) -> People {
    let (_, plain) = app.user_with_roles("plain", &[]).await;
    let (_, viewer) = app.user_with_roles("viewer", &["TaskViewer"]).await;
    let (_, creator) = app
        .user_with_roles("creator", &["ExternalTasksCreator"])
        .await;
    let (_, other_creator) = app
        .user_with_roles("other-creator", &["ExternalTasksCreator"])
        .await;
    // The user the administration routes act on.
    let (target_id, _) = app.user_with_roles("target", &[]).await;
    People {
        plain,
        viewer,
        creator,
        other_creator,
        target_id,
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn every_route_refuses_nobody_and_the_unpermitted_and_serves_the_permitted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let people = people(&app).await;

    // The table covers every route the OpenAPI document lists.
    let doc = expect_status(
        app.client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    documented.remove(&("POST".to_owned(), "/api/auth/token".to_owned()));
    let cases = rest_cases();
    let tabled: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_owned(), c.path.to_owned()))
        .collect();
    assert_eq!(
        documented, tabled,
        "every documented route is in the permission table"
    );

    for case in &cases {
        let f = fixture(&app, &people).await;
        let path = fill(case.path, &f, &people);
        assert_eq!(
            call(&app, case.method, &path, &case.body, None).await,
            401,
            "{} {} as nobody",
            case.method,
            case.path
        );
        for who in case.denied {
            let token = people.token(*who, &app.token);
            let code = call(&app, case.method, &path, &case.body, Some(&token)).await;
            assert_eq!(code, 403, "{} {} as {who:?}", case.method, case.path);
        }
        let token = people.token(case.allowed, &app.token);
        let code = call(&app, case.method, &path, &case.body, Some(&token)).await;
        assert!(
            (200..300).contains(&code),
            "{} {} as {:?} gave {code}",
            case.method,
            case.path,
            case.allowed
        );
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn manage_tasks_may_change_any_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let people = people(&app).await;
    let f = fixture(&app, &people).await;
    let ended = app
        .post(
            &format!("/api/jobs/{}/end", f.job),
            &json!({ "status": "aborted" }),
        )
        .await;
    let ended = expect_status(ended, 200).await;
    // Its plug-in's author sees who ended it; a word given, or said before, is kept instead.
    assert_eq!(ended["result"], format!("Ended by {ADMIN}"), "{ended}");
    let corrected = app
        .post(
            &format!("/api/jobs/{}/end", f.job),
            &json!({ "status": "failed", "force": true }),
        )
        .await;
    assert_eq!(
        expect_status(corrected, 200).await["result"],
        format!("Ended by {ADMIN}")
    );
    let creator = app.as_token(&people.creator);
    let job = creator.add_job("ended with a word").await;
    let ended = app
        .end_job(
            &job,
            json!({ "status": "aborted", "result": "host in maintenance" }),
        )
        .await;
    assert_eq!(
        expect_status(ended, 200).await["result"],
        "host in maintenance"
    );
    let own = creator.add_job("ended by its owner").await;
    let ended = expect_status(
        creator.end_job(&own, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    assert!(ended.get("result").is_none(), "{ended}");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_revoked_api_token_is_refused_on_the_next_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (creator_id, _) = app
        .user_with_roles("plugin", &["ExternalTasksCreator"])
        .await;
    let token = expect_status(
        app.post(
            "/api/tokens",
            &json!({ "name": "ci", "user_id": creator_id }),
        )
        .await,
        201,
    )
    .await;
    let secret = token["token"].as_str().unwrap().to_owned();
    let plugin = app.as_token(&secret);
    let job = plugin.add_job("from the plug-in").await;
    assert_eq!(job["owner"].as_str().unwrap(), creator_id);
    let listed = expect_status(app.get("/api/tokens").await, 200).await;
    assert!(
        listed["items"][0].get("token").is_none(),
        "secrets are shown once"
    );
    let revoke = app.delete(&format!("/api/tokens/{}", id(&token))).await;
    assert_eq!(revoke.status(), 204);
    expect_problem(plugin.get("/api/jobs").await, 401, "revoked").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_disabled_user_is_refused_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (user_id, token) = app.user_with_roles("soon-gone", &["TaskViewer"]).await;
    let viewer = app.as_token(&token);
    expect_status(viewer.get("/api/jobs").await, 200).await;
    expect_status(
        app.post(&format!("/api/users/{user_id}/disable"), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(viewer.get("/api/jobs").await.status(), 401);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn failed_sign_ins_are_throttled_and_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/auth/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", ADMIN),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await, 400);
    }
    // Even the right password is refused while throttled.
    assert_eq!(attempt(PASSWORD).await, 429);
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    let failures = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "sign_in" && e["success"] == false && e["address"] == "127.0.0.1"
        })
        .count();
    assert_eq!(failures, 5);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn roles_can_be_created_attached_and_detached(pool: PgPool) {
    let app = spawn_app(pool).await;
    let roles = expect_status(app.get("/api/roles").await, 200).await;
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"SuperUser")
            && names.contains(&"ExternalTasksCreator")
            && names.contains(&"TaskViewer")
    );
    let creator = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ExternalTasksCreator")
        .unwrap();
    assert_eq!(
        creator["action_groups"],
        json!(["INJECT_EXTERNAL_TASKS", "VIEW_TASKS"])
    );

    expect_status(
        app.post(
            "/api/roles",
            &json!({ "name": "Injector", "action_groups": ["INJECT_EXTERNAL_TASKS"] }),
        )
        .await,
        201,
    )
    .await;
    expect_problem(
        app.post(
            "/api/roles",
            &json!({ "name": "Injector", "action_groups": [] }),
        )
        .await,
        409,
        "Injector",
    )
    .await;
    expect_problem(
        app.post(
            "/api/roles",
            &json!({ "name": "Bad", "action_groups": ["FLY"] }),
        )
        .await,
        400,
        "action_groups",
    )
    .await;

    let (user_id, token) = app.user_with_roles("inj", &["Injector"]).await;
    let injector = app.as_token(&token);
    injector.add_job("allowed").await;
    assert_eq!(
        injector.get("/api/jobs").await.status(),
        403,
        "Injector cannot view"
    );
    let detach = app
        .delete(&format!("/api/users/{user_id}/roles/Injector"))
        .await;
    assert_eq!(detach.status(), 200);
    assert_eq!(
        injector
            .post("/api/jobs", &json!({ "description": "x" }))
            .await
            .status(),
        403
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_role_given_or_a_user_disabled_takes_effect_on_the_very_next_request(pool: PgPool) {
    // Tokens are cached for a moment after a check; a change of roles or users must not wait for it.
    let app = spawn_app(pool).await;
    let (user_id, token) = app.user_with_roles("plugin", &[]).await;
    let plugin = app.as_token(&token);
    let job = json!({ "description": "from the plug-in" });
    expect_status(plugin.post("/api/jobs", &job).await, 403).await;
    app.give_role(&user_id, "ExternalTasksCreator").await;
    expect_status(plugin.post("/api/jobs", &job).await, 201).await;
    let disabled = app
        .post(&format!("/api/users/{user_id}/disable"), &json!({}))
        .await;
    expect_status(disabled, 200).await;
    expect_status(plugin.post("/api/jobs", &job).await, 401).await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_role_made_here_is_changed_for_its_holders_at_once_and_deleted_once_nobody_holds_it(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let send = |method: &str, path: &str, body: Option<Value>| {
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&app.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    expect_status(
        app.post(
            "/api/roles",
            &json!({ "name": "Ops", "action_groups": ["VIEW_TASKS"] }),
        )
        .await,
        201,
    )
    .await;
    let (ops_id, ops_token) = app.user_with_roles("ops", &["Ops"]).await;
    let ops = app.as_token(&ops_token);
    expect_status(ops.get("/api/jobs").await, 200).await;
    expect_status(
        ops.post("/api/jobs", &json!({ "description": "d" })).await,
        403,
    )
    .await;

    let changed = expect_status(
        send(
            "PUT",
            "/api/roles/Ops",
            Some(json!({ "action_groups": ["INJECT_EXTERNAL_TASKS", "VIEW_TASKS", "VIEW_TASKS"] })),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        changed,
        json!({ "name": "Ops", "builtin": false, "action_groups": ["INJECT_EXTERNAL_TASKS", "VIEW_TASKS"] })
    );
    // At once, not after the token cache's second.
    expect_status(
        ops.post("/api/jobs", &json!({ "description": "d" })).await,
        201,
    )
    .await;

    // Shipped roles are fixed; unknown ones are not found; bad permissions are named.
    for (method, path, body, code) in [
        (
            "PUT",
            "/api/roles/SuperUser",
            Some(json!({ "action_groups": [] })),
            409,
        ),
        ("DELETE", "/api/roles/TaskViewer", None, 409),
        (
            "PUT",
            "/api/roles/Nope",
            Some(json!({ "action_groups": [] })),
            404,
        ),
        ("DELETE", "/api/roles/Nope", None, 404),
    ] {
        let answer = send(method, path, body).await.unwrap();
        assert_eq!(answer.status().as_u16(), code, "{method} {path}");
    }
    expect_problem(
        send(
            "PUT",
            "/api/roles/Ops",
            Some(json!({ "action_groups": ["ROOT"] })),
        )
        .await
        .unwrap(),
        400,
        "action_groups",
    )
    .await;

    // Held: refused, naming who holds it; once taken away, deleted.
    let held = expect_status(send("DELETE", "/api/roles/Ops", None).await.unwrap(), 409).await;
    assert!(held["detail"].as_str().unwrap().contains("ops"), "{held}");
    expect_status(
        send("DELETE", &format!("/api/users/{ops_id}/roles/Ops"), None)
            .await
            .unwrap(),
        200,
    )
    .await;
    expect_status(send("DELETE", "/api/roles/Ops", None).await.unwrap(), 204).await;
    let roles = expect_status(app.get("/api/roles").await, 200).await;
    assert!(!roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "Ops"));
    expect_status(send("DELETE", "/api/roles/Ops", None).await.unwrap(), 404).await;
    let audit = expect_status(app.get("/api/audit").await, 200).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "Ops")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"role_changed") && actions.contains(&"role_deleted"),
        "{actions:?}"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn nobody_can_open_the_engines_own_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    let engine = "00000000-0000-7000-8000-000000000001";
    let users = expect_status(app.get("/api/users").await, 200).await["items"].clone();
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "stepwise-engine")
        .expect("the engine's user is listed")
        .clone();
    assert_eq!(listed["builtin"], true, "{listed}");
    assert_eq!(listed["disabled"], true, "{listed}");
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["username"] != "stepwise-engine")
        .all(|u| u["builtin"] == false));

    // Each change an administrator could make to open it is refused, naming the user.
    for (path, body) in [
        (format!("/api/users/{engine}/enable"), json!(null)),
        (format!("/api/users/{engine}/disable"), json!(null)),
        (
            format!("/api/users/{engine}/password"),
            json!({ "password": "a new engine password" }),
        ),
    ] {
        let refused = expect_status(app.post(&path, &body).await, 409).await;
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("stepwise-engine"),
            "{path}: {refused}"
        );
    }
    let role = app
        .client
        .put(app.url(&format!("/api/users/{engine}/roles/SuperUser")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    expect_status(role, 409).await;
    expect_problem(
        app.post(
            "/api/tokens",
            &json!({ "name": "as the engine", "user_id": engine }),
        )
        .await,
        400,
        "user_id",
    )
    .await;

    // Nothing was written: still locked, no roles, no tokens, and it cannot sign in.
    let (disabled, hash, roles, tokens): (bool, String, i64, i64) = sqlx::query_as(
        "select disabled, password_hash,
                (select count(*) from user_role where user_id = u.id),
                (select count(*) from access_token where user_id = u.id)
           from app_user u where id = $1::uuid",
    )
    .bind(engine)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((disabled, hash.as_str(), roles, tokens), (true, "!", 0, 0));
    let sign_in = app
        .client
        .post(app.url("/api/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "stepwise-engine"),
            ("password", "a new engine password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status().as_u16(), 400);

    // Nor can the store be made to open it behind the service's back.
    let opened = sqlx::query("update app_user set disabled = false where id = $1::uuid")
        .bind(engine)
        .execute(&app.pool)
        .await;
    assert!(
        opened.is_err(),
        "the store let the engine's user be enabled"
    );
}

/// A script knows its users by name: the administration paths take a user name (or oVirt's
/// `name@internal`) where they take an id; only for those who manage users.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_user_is_named_in_an_administration_path_by_id_or_by_name(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, token) = app.user_with_roles("plugin.one", &[]).await;
    // An administrator's call that must succeed: its answer.
    let ok = |method: reqwest::Method, path: &str| {
        let sent = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&app.token)
            .send();
        async move { expect_status(sent.await.unwrap(), 200).await }
    };
    let user = ok(
        reqwest::Method::PUT,
        "/api/users/plugin.one/roles/ExternalTasksCreator",
    )
    .await;
    assert_eq!(user["roles"], json!(["ExternalTasksCreator"]), "{user}");
    app.as_token(&token).add_job("now allowed").await;
    let user = ok(
        reqwest::Method::DELETE,
        "/api/users/plugin.one@internal/roles/ExternalTasksCreator",
    )
    .await;
    assert_eq!(user["roles"], json!([]), "{user}");
    let user = ok(reqwest::Method::POST, "/api/users/plugin.one/disable").await;
    assert_eq!(user["disabled"], true);
    expect_status(
        app.post(
            "/api/users/plugin.one/password",
            &json!({ "password": "another-password" }),
        )
        .await,
        200,
    )
    .await;
    let missing = expect_status(app.post("/api/users/nobody/enable", &json!({})).await, 404).await;
    assert_eq!(missing["detail"], "there is no user named nobody");
    expect_problem(
        app.post("/api/users/bob%20smith/enable", &json!({})).await,
        400,
        "user_id",
    )
    .await;
    // A plug-in's API token is minted for its user by name too, the name the token then shows.
    ok(reqwest::Method::POST, "/api/users/plugin.one/enable").await;
    ok(
        reqwest::Method::PUT,
        "/api/users/plugin.one/roles/ExternalTasksCreator",
    )
    .await;
    let minted = expect_status(
        app.post(
            "/api/tokens",
            &json!({ "name": "backups", "username": "plugin.one@internal" }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(minted["username"], "plugin.one", "{minted}");
    let job = app
        .as_token(minted["token"].as_str().unwrap())
        .add_job("by the minted token")
        .await;
    assert_eq!(job["owner_name"], "plugin.one");
    for (body, message) in [
        (
            json!({ "name": "t", "username": "nobody" }),
            "there is no user named nobody",
        ),
        (
            json!({ "name": "t", "username": "plugin.one", "user_id": job["owner"] }),
            "",
        ),
        (
            json!({ "name": "t", "username": "admin", "user_id": job["owner"] }),
            "names another user than `user_id`; give one of them",
        ),
        (
            json!({ "name": "t", "username": "bob smith" }),
            "is not a user name: it must be 1 to 100 letters, digits, '.', '_' or '-'",
        ),
    ] {
        let response = app.post("/api/tokens", &body).await;
        if message.is_empty() {
            expect_status(response, 201).await;
        } else {
            let problem = expect_problem(response, 400, "username").await;
            assert_eq!(problem["errors"][0]["message"], message, "{body}");
        }
    }
    // Without MANAGE_USERS a name is not even looked up.
    let (_, viewer) = app.user_with_roles("viewer", &["TaskViewer"]).await;
    assert_eq!(
        app.as_token(&viewer)
            .post("/api/users/plugin.one/enable", &json!({}))
            .await
            .status(),
        403
    );
}
