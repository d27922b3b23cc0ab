//! `/ovirt-engine/api/users`: where a job's `<owner>` link leads.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

/// GET an oVirt path as `token`: (status, body).
async fn ovirt_get(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_jobs_owner_link_leads_to_its_user_for_those_who_may_see_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_status(
        app.post(
            "/api/roles",
            &json!({ "name": "InjectOnly", "action_groups": ["INJECT_EXTERNAL_TASKS"] }),
        )
        .await,
        201,
    )
    .await;
    let (injector_id, injector) = app.user_with_roles("injector", &["InjectOnly"]).await;
    let (_, viewer) = app.user_with_roles("looker", &["TaskViewer"]).await;

    // The owner href of an administrator's job, as the oVirt API writes it.
    let job = app.add_job("owned").await;
    let (status, xml) = ovirt_get(
        &app,
        &format!("/ovirt-engine/api/jobs/{}", id(&job)),
        &app.token,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let owner_href = xml
        .split("<owner href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the job names its owner")
        .to_owned();
    assert!(
        owner_href.starts_with("/ovirt-engine/api/users/"),
        "{owner_href}"
    );

    // The administrator, and a viewer (who sees every job's owner anyway), follow it.
    for token in [app.token.as_str(), viewer.as_str()] {
        let (status, user) = ovirt_get(&app, &owner_href, token).await;
        assert_eq!(status, 200, "{user}");
        assert!(
            user.contains(&format!("<user href=\"{owner_href}\"")),
            "{user}"
        );
        assert!(user.contains("<name>admin</name>"), "{user}");
        assert!(
            user.contains("<user_name>admin@internal</user_name>"),
            "{user}"
        );
    }
    // A user without VIEW_TASKS may read its own user, not another's.
    let own = format!("/ovirt-engine/api/users/{injector_id}");
    let (status, user) = ovirt_get(&app, &own, &injector).await;
    assert_eq!(status, 200, "{user}");
    assert!(user.contains("<name>injector</name>"), "{user}");
    let (status, fault) = ovirt_get(&app, &owner_href, &injector).await;
    assert_eq!(status, 403, "{fault}");
    assert!(
        fault.contains("<fault>") && fault.contains("your own user"),
        "{fault}"
    );

    // Unknown and malformed ids are faults, not errors.
    let (status, fault) = ovirt_get(
        &app,
        "/ovirt-engine/api/users/00000000-0000-0000-0000-000000000000",
        &app.token,
    )
    .await;
    assert_eq!(status, 404, "{fault}");
    let (status, fault) = ovirt_get(&app, "/ovirt-engine/api/users/nope", &app.token).await;
    assert_eq!(status, 404, "{fault}");
    assert!(fault.contains("no user with id nope"), "{fault}");

    // The list is for those who manage users; JSON on request.
    let r = app
        .client
        .get(app.url("/ovirt-engine/api/users"))
        .bearer_auth(&app.token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let listed = expect_status(r, 200).await;
    let names: Vec<&str> = listed["user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    // `stepwise-engine` owns the engine's own commands' jobs.
    assert_eq!(names, ["admin", "injector", "looker", "stepwise-engine"]);
    let (status, one) = ovirt_get(&app, "/ovirt-engine/api/users?max=1", &app.token).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one.matches("<user ").count(), 1, "{one}");
    assert!(one.contains("<name>admin</name>"), "{one}");
    let (status, fault) = ovirt_get(&app, "/ovirt-engine/api/users", &viewer).await;
    assert_eq!(status, 403, "{fault}");
    let (status, fault) = ovirt_get(
        &app,
        "/ovirt-engine/api/users?search=name%3Dadmin",
        &app.token,
    )
    .await;
    assert_eq!(status, 400, "{fault}");
}

/// A GET of an oVirt path with HTTP Basic credentials: (status, body).
async fn basic_get(app: &TestApp, path: &str, user: &str, password: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Successful sign-ins of `user` in the audit log.
async fn sign_ins(app: &TestApp, user: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_event where action = 'sign_in' and success and target = $1",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Scripts written for oVirt's engine `curl -u admin@internal:password`: the oVirt API takes HTTP
/// Basic as a sign-in (throttled and audited), believed for a while so that a stream of requests is
/// not one password check each; a wrong password is refused every time, and disabling the user
/// takes effect on the very next request.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn http_basic_signs_in_as_on_ovirts_engine(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (user_id, _) = app
        .user_with_roles("scripter", &["ExternalTasksCreator"])
        .await;
    let before = sign_ins(&app, "scripter").await;

    let added = app
        .client
        .post(app.url("/ovirt-engine/api/jobs"))
        .basic_auth("scripter@internal", Some("scripter-password"))
        .header("content-type", "application/xml")
        .body("<job><description>from curl</description></job>")
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let xml = added.text().await.unwrap();
    assert!(
        xml.contains(&format!(
            "<owner href=\"/ovirt-engine/api/users/{user_id}\" id=\"{user_id}\"/>"
        )),
        "{xml}"
    );
    let (status, listed) = basic_get(
        &app,
        "/ovirt-engine/api/jobs",
        "scripter",
        "scripter-password",
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed.contains("<description>from curl</description>"),
        "{listed}"
    );
    // Two requests, one sign-in: the second was believed without a password check.
    assert_eq!(sign_ins(&app, "scripter").await, before + 1);

    let (status, fault) = basic_get(
        &app,
        "/ovirt-engine/api/jobs",
        "scripter",
        "not-the-password",
    )
    .await;
    assert_eq!(status, 401, "{fault}");
    assert!(
        fault.contains("<fault>") && fault.contains("password is wrong"),
        "{fault}"
    );
    let garbled = app
        .client
        .get(app.url("/ovirt-engine/api/jobs"))
        .header("authorization", "Basic not*base64")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 401);
    let fault = garbled.text().await.unwrap();
    assert!(fault.contains("not base64 of user:password"), "{fault}");

    expect_status(
        app.post(&format!("/api/users/{user_id}/disable"), &json!({}))
            .await,
        200,
    )
    .await;
    let (status, _) = basic_get(
        &app,
        "/ovirt-engine/api/jobs",
        "scripter",
        "scripter-password",
    )
    .await;
    assert_eq!(status, 401);

    let none = app
        .client
        .get(app.url("/ovirt-engine/api/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let fault = none.text().await.unwrap();
    assert!(fault.contains("sign in first"), "{fault}");
    assert!(fault.contains("/ovirt-engine/sso/oauth/token"), "{fault}");
}
