//! Bad input of every kind: a 4xx naming the field, never a 500.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn malformed_json_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(
        app.post_raw("/api/jobs", "application/json", "{\"description\": ")
            .await,
        400,
        "body",
    )
    .await;
    expect_problem(
        app.post_raw("/api/jobs", "application/json", "").await,
        400,
        "body",
    )
    .await;
    expect_problem(
        app.post_raw("/api/jobs", "application/json", "[1,2]").await,
        400,
        "body",
    )
    .await;
    expect_problem(
        app.post_raw(
            "/api/jobs",
            "application/json",
            "{\"description\": \"a\"} trailing",
        )
        .await,
        400,
        "body",
    )
    .await;
}

/// A JSON number where a whole one is expected says so, not which Rust integer type it is.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_fraction_for_a_whole_number_is_refused_in_plain_words(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let step = app.add_top_step(&job, "s").await;
    let progress = format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&step));
    for (path, body, field) in [
        (
            "/api/jobs",
            json!({ "description": "x", "timeout_seconds": 1.5 }),
            "timeout_seconds",
        ),
        (progress.as_str(), json!({ "progress": 50.5 }), "progress"),
    ] {
        let body = expect_status(app.post(path, &body).await, 400).await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.ends_with("is not a whole number"), "{message}");
    }
}

/// A bad number or flag in a query string is refused in plain words, naming the parameter.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn bad_query_numbers_and_flags_are_named_in_plain_words(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (query, field, message) in [
        ("/api/jobs?limit=abc", "limit", "must be a whole number"),
        ("/api/jobs?limit=", "limit", "must be a whole number"),
        (
            "/api/jobs?limit=99999999999999999999",
            "limit",
            "is out of range",
        ),
        (
            "/api/jobs?external=maybe",
            "external",
            "must be `true` or `false`",
        ),
        (
            "/api/events?last_event_id=abc",
            "last_event_id",
            "must be a whole number",
        ),
        (
            "/api/events?last_event_id=-1",
            "last_event_id",
            "must be an event sequence number",
        ),
        (
            "/api/events?job_id=42",
            "job_id",
            "is not a valid id (a UUID)",
        ),
        (
            "/api/jobs?status=started&status=failed",
            "status",
            "is given more than once; give it once (where it takes several values, separate them with commas)",
        ),
    ] {
        let body = expect_status(app.get(query).await, 400).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        assert_eq!(body["errors"][0]["message"], message, "{query}: {body}");
    }
}

/// `started_after` / `started_before` take an RFC 3339 time (an offset's `+` may arrive unencoded,
/// as a space) or a date; anything else is a 400 saying what is expected.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn list_times_are_rfc_3339_or_dates(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.add_job("j").await;
    let count = |query: &'static str| {
        let app = &app;
        async move {
            let body = expect_status(app.get(&format!("/api/jobs?{query}")).await, 200).await;
            body["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("started_after=2000-01-01").await, 1);
    assert_eq!(count("started_before=2000-01-01").await, 0);
    assert_eq!(count("started_after=2000-01-01T00:00:00Z").await, 1);
    assert_eq!(count("started_after=2000-01-01T01:00:00+01:00").await, 1);
    assert_eq!(count("started_after=2000-01-01T01:00:00%2B01:00").await, 1);
    assert_eq!(count("started_before=2999-01-01").await, 1);
    for bad in ["yesterday", "2026-13-01", "1700000000"] {
        let body = expect_problem(
            app.get(&format!("/api/jobs?started_after={bad}")).await,
            400,
            "started_after",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "started_after", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("RFC 3339"), "{message}");
        assert!(message.contains(bad), "{message}");
    }
}

/// The `field` of a problem's error is the field itself: a missing one (serde reports it at its
/// parent), a nested one, and a malformed id in the path.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_error_names_exactly_the_field_at_fault(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let steps = format!("/api/jobs/{}/steps", id(&job));
    let step = app.add_top_step(&job, "s").await;
    let cases = [
        (
            app.post("/api/jobs", &json!({})).await,
            "description",
            "is required",
        ),
        (
            app.post(&steps, &json!({ "description": "s" })).await,
            "type",
            "is required",
        ),
        (
            app.post(
                &steps,
                &json!({ "description": "s", "type": "executing", "parent_step": {} }),
            )
            .await,
            "parent_step.id",
            "is required",
        ),
        (
            app.post(
                "/api/jobs/not-a-uuid/steps",
                &json!({ "description": "s", "type": "executing" }),
            )
            .await,
            "job_id",
            "`not-a-uuid` is not a valid id (a UUID)",
        ),
        (
            app.post(
                &format!("/api/jobs/{}/steps/nope/end", id(&job)),
                &json!({ "status": "finished" }),
            )
            .await,
            "step_id",
            "`nope` is not a valid id (a UUID)",
        ),
        (
            app.post(
                &format!("/api/jobs/x/steps/{}/end", id(&step)),
                &json!({ "status": "finished" }),
            )
            .await,
            "job_id",
            "`x` is not a valid id (a UUID)",
        ),
    ];
    for (response, field, message) in cases {
        let body = expect_status(response, 400).await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["message"], message, "{body}");
        assert_eq!(body["detail"], format!("{field}: {message}"), "{body}");
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn wrong_types_and_missing_fields_name_the_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(app.post("/api/jobs", &json!({})).await, 400, "description").await;
    expect_problem(
        app.post("/api/jobs", &json!({ "description": 7 })).await,
        400,
        "description",
    )
    .await;
    expect_problem(
        app.post("/api/jobs", &json!({ "description": "   " }))
            .await,
        400,
        "description",
    )
    .await;
    expect_problem(
        app.post("/api/jobs", &json!({ "description": "x".repeat(4001) }))
            .await,
        400,
        "description",
    )
    .await;
    expect_problem(
        app.post(
            "/api/jobs",
            &json!({ "description": "d", "auto_cleared": "yes" }),
        )
        .await,
        400,
        "auto_cleared",
    )
    .await;
    let job = app.add_job("j").await;
    let steps = format!("/api/jobs/{}/steps", id(&job));
    expect_problem(
        app.post(&steps, &json!({ "description": "s" })).await,
        400,
        "type",
    )
    .await;
    expect_problem(
        app.post(&steps, &json!({ "description": "s", "type": "cooking" }))
            .await,
        400,
        "type",
    )
    .await;
    expect_problem(
        app.post(
            &steps,
            &json!({ "description": "s", "type": "executing", "parent_id": "nope" }),
        )
        .await,
        400,
        "parent_id",
    )
    .await;
    expect_problem(
        app.post(
            &steps,
            &json!({ "description": "s", "type": "executing", "parent_type": "vm" }),
        )
        .await,
        400,
        "parent_type",
    )
    .await;
    expect_problem(
        app.post(
            &steps,
            &json!({ "description": "s", "type": "executing", "parent_step": { "id": 3 } }),
        )
        .await,
        400,
        "parent_step.id",
    )
    .await;
    expect_problem(
        app.end_job(&job, json!({ "status": "done" })).await,
        400,
        "status",
    )
    .await;
    expect_problem(
        app.end_job(&job, json!({ "status": "finished", "force": "yes" }))
            .await,
        400,
        "force",
    )
    .await;
    let list = expect_status(app.get(&format!("/api/jobs/{}/steps", id(&job))).await, 200).await;
    assert_eq!(list["items"], json!([]), "nothing was half-written");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn descriptions_round_trip_whatever_characters_they_hold(pool: PgPool) {
    let app = spawn_app(pool).await;
    let text = "<b>\"quotes\" & 'apostrophes'</b> ✓ 日本語 \u{1F600} back\\slash";
    let job = app.add_job(text).await;
    assert_eq!(job["description"], text);
    assert_eq!(app.job(&job).await["description"], text);
    expect_problem(
        app.post("/api/jobs", &json!({ "description": "nul\u{0}byte" }))
            .await,
        400,
        "description",
    )
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn bad_ids_in_the_path_name_the_parameter(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(app.get("/api/jobs/not-a-uuid").await, 400, "job_id").await;
    let job = app.add_job("j").await;
    expect_problem(
        app.get(&format!("/api/jobs/{}/steps/42", id(&job))).await,
        400,
        "step_id",
    )
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn oversized_bodies_are_a_413(pool: PgPool) {
    let app = spawn_app(pool).await;
    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let response = app.post_raw("/api/jobs", "application/json", big).await;
    expect_problem(response, 413, "bytes").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_body_that_is_not_json_is_a_415(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .post_raw("/api/jobs", "text/plain", "description=x")
        .await;
    expect_problem(response, 415, "JSON").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn unknown_routes_and_methods_are_problems_too(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(app.get("/api/nothing-here").await, 404, "route").await;
    let response = app.delete("/api/jobs").await;
    expect_problem(response, 405, "method").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_openapi_document_covers_every_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = expect_status(
        app.client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/end",
        "/api/jobs/{job_id}/clear",
        "/api/jobs/{job_id}/steps",
        "/api/jobs/{job_id}/steps/{step_id}",
        "/api/jobs/{job_id}/steps/{step_id}/end",
        "/api/jobs/{job_id}/steps/{step_id}/progress",
        "/api/auth/token",
        "/api/capabilities",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is missing");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

/// The document must say what the server does, or generated clients break: every reference
/// resolves, parameters are where they are sent, errors come as `application/problem+json`, and an
/// end without an outcome is invalid by the schema as it is by the server.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_openapi_document_says_what_the_server_does(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = expect_status(app.get("/api/openapi.json").await, 200).await;
    let schemas = &doc["components"]["schemas"];

    fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.contains(&"#/components/schemas/StepNode"));
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} is not a schema reference"));
        assert!(schemas.get(name).is_some(), "{target} does not resolve");
    }

    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{method} {path}");
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let placed = parameter["in"].as_str().unwrap();
                let in_template = path.contains(&format!("{{{name}}}"));
                assert_eq!(
                    placed == "path",
                    in_template,
                    "{at}: `{name}` is in {placed}"
                );
                if placed == "header" {
                    assert_ne!(
                        parameter["schema"]["type"],
                        json!(["string", "null"]),
                        "{at}"
                    );
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let content = response["content"].as_object();
                if status.starts_with('4') && path != "/api/auth/token" {
                    let types: Vec<_> = content.unwrap().keys().collect();
                    assert_eq!(types, ["application/problem+json"], "{at} {status}");
                }
            }
            if path != "/api/auth/token" {
                assert!(
                    operation["responses"].get("401").is_some(),
                    "{at} has no 401"
                );
            }
            if operation["requestBody"]["content"]
                .get("application/json")
                .is_some()
            {
                for status in ["400", "413", "415"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{at} has no {status}"
                    );
                }
            }
        }
    }
    assert!(operations >= 29, "{operations} operations");
    let token = &doc["paths"]["/api/auth/token"]["post"];
    assert_eq!(token["security"], json!([]), "signing in needs no token");

    // What the document says, the server does: the listed error type, and the ends' rule.
    let refused = app.get("/api/jobs?limit=0").await;
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let job = app.add_job("ends").await;
    expect_problem(app.end_job(&job, json!({})).await, 400, "status").await;
    let bad_parent = app
        .post(
            &format!("/api/jobs/{}/steps", id(&job)),
            &json!({"description": "s", "type": "executing", "parent_id": ""}),
        )
        .await;
    let bad_parent = expect_problem(bad_parent, 400, "parent_id").await;
    assert_eq!(
        bad_parent["errors"][0]["message"],
        "is not a valid id (a UUID)"
    );
    let end = schemas["EndJob"].to_string();
    assert!(
        end.contains("anyOf") && end.contains("\"succeeded\""),
        "{end}"
    );
}

/// JSON Schema counts `42.0` as an integer, and some clients write whole numbers so.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn whole_numbers_may_be_written_with_a_fraction_of_zero(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = expect_status(
        app.post(
            "/api/jobs",
            &json!({"description": "leased", "timeout_seconds": 600.0}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(job["timeout_seconds"], 600);
    let step = app.add_top_step(&job, "copy").await;
    let path = format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&step));
    let step = expect_status(app.post(&path, &json!({"progress": 42.0})).await, 200).await;
    assert_eq!(step["progress"], 42);
    let refused = expect_problem(
        app.post(&path, &json!({"progress": 42.5})).await,
        400,
        "progress",
    )
    .await;
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("`42.5` is not a whole number"));
    expect_problem(
        app.post(
            "/api/jobs",
            &json!({"description": "leased", "timeout_seconds": 600.5}),
        )
        .await,
        400,
        "timeout_seconds",
    )
    .await;
    // An empty time bound, as an empty form field sends it, is no bound.
    let page = expect_status(
        app.get("/api/jobs?started_after=&started_before=").await,
        200,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn capabilities_report_the_limits(pool: PgPool) {
    let app = spawn_app(pool).await;
    let caps = expect_status(app.get("/api/capabilities").await, 200).await;
    assert_eq!(caps["limits"]["description_max_chars"], 4000);
    assert_eq!(caps["limits"]["result_max_chars"], 4000);
    assert_eq!(caps["limits"]["step_depth_max"], 32);
    assert_eq!(caps["limits"]["steps_per_job_max"], 100000);
    assert_eq!(caps["limits"]["page_size_max"], 500);
    assert_eq!(caps["limits"]["request_body_max_bytes"], 1048576);
    assert_eq!(
        caps["step_types"],
        json!(["validating", "executing", "finalizing", "unknown"])
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn text_the_store_cannot_hold_is_refused_naming_its_field(pool: PgPool) {
    // PostgreSQL's text cannot hold NUL; each place a caller's text reaches a query says so itself.
    let app = spawn_app(pool).await;
    expect_problem(app.get("/api/jobs?q=a%00b").await, 400, "q").await;
    expect_problem(app.get("/api/jobs?owner=a%00b").await, 400, "owner").await;
    expect_problem(app.get("/api/jobs?q=a%00b&status=started").await, 400, "q").await;
    expect_problem(
        app.post("/api/tokens", &json!({ "name": "a\u{0}b" })).await,
        400,
        "name",
    )
    .await;
    let me = expect_status(app.get("/api/users").await, 200).await;
    let admin_id = me["items"][0]["id"].as_str().unwrap().to_owned();
    let attach = app
        .client
        .put(app.url(&format!("/api/users/{admin_id}/roles/Task%00Viewer")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    expect_status(attach, 404).await;
    // A sign-in with such a name is a wrong name like any other.
    let sign_in = app
        .client
        .post(app.url("/api/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ad\u{0}min"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status().as_u16(), 400);
    let body: serde_json::Value = sign_in.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn times_outside_the_calendar_are_refused_naming_the_field(pool: PgPool) {
    // Before 4713 BC PostgreSQL holds no time at all: that was a 500.
    let app = spawn_app(pool).await;
    expect_problem(
        app.get("/api/jobs?started_before=-5000-01-01T00:00:00Z")
            .await,
        400,
        "started_before",
    )
    .await;
    expect_problem(
        app.get("/api/jobs?started_after=-262000-01-01T00:00:00Z")
            .await,
        400,
        "started_after",
    )
    .await;
    expect_problem(
        app.get("/api/jobs?started_after=%2B300000-01-01T00:00:00Z")
            .await,
        400,
        "started_after",
    )
    .await;
    expect_status(
        app.get("/api/jobs?started_after=0001-01-01T00:00:00Z&started_before=9999-12-31T23:59:59Z")
            .await,
        200,
    )
    .await;
}

/// A base URL given with a trailing slash (the oVirt SDK joins `…/ovirt-engine/api/` and `/jobs`
/// into `…/api//jobs`), or a path built with one too many, names the same route; the UI's own
/// paths are not touched.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn doubled_and_trailing_slashes_under_the_apis_name_the_same_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = expect_status(
        app.post("/api/jobs/", &json!({ "description": "slash" }))
            .await,
        201,
    )
    .await;
    let read = expect_status(app.get(&format!("/api//jobs/{}/", id(&job))).await, 200).await;
    assert_eq!(read["description"], "slash");
    let listed = expect_status(app.get("/api/jobs/?limit=1").await, 200).await;
    assert_eq!(listed["items"][0]["id"], job["id"], "{listed}");
    for path in [
        "/ovirt-engine/api/",
        "/ovirt-engine/api//jobs",
        &format!("/ovirt-engine/api//jobs/{}/steps/", id(&job)),
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.token)
            .header("accept", "application/xml")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("<fault>"), "{path}: {text}");
    }
    let listed = app
        .client
        .get(app.url("/ovirt-engine/api//jobs"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(id(&job)), "{listed}");
    // `/api/` is the API's, not the UI's: a problem, not the page.
    let response = app.get("/api/").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
