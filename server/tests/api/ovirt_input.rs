//! Bad bodies on the oVirt API: a 400 fault naming the element at fault.

use sqlx::PgPool;

use crate::helpers::*;

/// POST an oVirt body as the admin: (status, fault text).
async fn ovirt_post(app: &TestApp, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .header("accept", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_bad_element_is_named_in_the_fault(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let end = format!("/ovirt-engine/api/jobs/{}/end", id(&job));
    let xml = "application/xml";
    for (path, content_type, body, expected) in [
        (
            "/ovirt-engine/api/jobs",
            xml,
            "<job><description>x</description><auto_cleared>maybe</auto_cleared></job>",
            "job.auto_cleared: invalid type: string \"maybe\", expected a boolean",
        ),
        (
            end.as_str(),
            xml,
            "<action><succeeded>perhaps</succeeded></action>",
            "action.succeeded: invalid type: string \"perhaps\", expected a boolean",
        ),
        (
            "/ovirt-engine/api/jobs",
            "application/json",
            r#"{"description": "x", "auto_cleared": "maybe"}"#,
            "job.auto_cleared: invalid type: string",
        ),
        (
            "/ovirt-engine/api/jobs",
            xml,
            "<job><description>x",
            "the XML body is not valid",
        ),
        (
            "/ovirt-engine/api/jobs",
            "application/json",
            r#"{"description": "x"} trailing"#,
            "the JSON body is not valid",
        ),
    ] {
        let (status, fault) = ovirt_post(&app, path, content_type, body).await;
        assert_eq!(status, 400, "{body}: {fault}");
        assert!(fault.contains(expected), "{body}: {fault}");
    }
    // Nothing was written by the refused requests.
    let listed = expect_status(app.get("/api/jobs").await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.job(&job).await["status"], "started");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_step_comes_with_its_progress_in_xml_or_json(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let steps = format!("/ovirt-engine/api/jobs/{}/steps", id(&job));
    let (xml, json) = ("application/xml", "application/json");
    for (content_type, body, shown) in [
        (
            xml,
            "<step><description>a</description><type>executing</type><progress>40</progress></step>",
            "<progress>40</progress>",
        ),
        (
            json,
            r#"{"description": "b", "type": "executing", "progress": 60}"#,
            r#""progress":60"#,
        ),
        (
            json,
            r#"{"description": "c", "type": "executing", "progress": "70"}"#,
            r#""progress":70"#,
        ),
    ] {
        let (status, answer) = ovirt_post(&app, &steps, content_type, body).await;
        assert_eq!(status, 201, "{body}: {answer}");
        assert!(answer.contains(shown), "{body}: {answer}");
    }
    for (content_type, body, expected) in [
        (
            xml,
            "<step><description>x</description><type>executing</type><progress>101</progress></step>",
            "step.progress must be between 0 and 100 (got 101)",
        ),
        (
            xml,
            "<step><description>x</description><type>executing</type><progress>half</progress></step>",
            "step.progress `half` is not a whole number",
        ),
        (
            xml,
            "<step><description>x</description><type>executing</type><status>finished</status><progress>5</progress></step>",
            "progress",
        ),
    ] {
        let (status, fault) = ovirt_post(&app, &steps, content_type, body).await;
        assert_eq!(status, 400, "{body}: {fault}");
        assert!(fault.contains(expected), "{body}: {fault}");
    }
    let listed = expect_status(app.get(&format!("/api/jobs/{}/steps", id(&job))).await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    assert_eq!(app.job(&job).await["progress"], 56, "(40 + 60 + 70) / 3");
}
