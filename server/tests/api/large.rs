//! Jobs holding many steps: reads of several jobs' steps at once stay within one load's budget
//! (`MAX_STEPS_PER_LOAD`, as many steps as one job may hold) whatever the jobs hold.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

/// Give `job` `n` more running steps directly in the store, as a plug-in would over time.
async fn fill(app: &TestApp, job: &Value, n: i32) {
    let job_id: uuid::Uuid = id(job).parse().unwrap();
    sqlx::query(
        "insert into step (id, job_id, number, depth, step_type, description, status, is_external)
         select gen_random_uuid(), $1, g, 1, 'executing', 'filler', 'started', true
           from generate_series(0, $2 - 1) g",
    )
    .bind(job_id)
    .bind(n)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update job set step_count = $2, root_count = $2 where id = $1")
        .bind(job_id)
        .bind(n)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// Three jobs, oldest first: one step, the most one job may hold, one step.
async fn three_jobs(app: &TestApp) -> (Value, Value, Value) {
    let oldest = app.add_job("large oldest").await;
    app.add_top_step(&oldest, "only").await;
    let big = app.add_job("large big").await;
    fill(app, &big, 100_000).await;
    let newest = app.add_job("large newest").await;
    app.add_top_step(&newest, "only").await;
    (oldest, big, newest)
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_ovirt_list_following_steps_ends_where_one_load_is_full(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, _, newest) = three_jobs(&app).await;
    let list = |query: &'static str| {
        app.client
            .get(app.url(&format!("/ovirt-engine/api/jobs{query}")))
            .bearer_auth(&app.token)
            .header("Accept", "application/json")
            .send()
    };
    let answer: Value = list("?follow=steps").await.unwrap().json().await.unwrap();
    let jobs = answer["job"].as_array().unwrap();
    // The newest job's one step and the big job's 100,000 are more than one load: the list ends
    // after the newest, with its steps.
    assert_eq!(jobs.len(), 1, "{answer:.2000}");
    assert_eq!(jobs[0]["id"], newest["id"]);
    assert_eq!(jobs[0]["steps"]["step"][0]["description"], "only");
    // Without steps the list holds all three.
    let answer: Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(answer["job"].as_array().unwrap().len(), 3);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_export_of_jobs_with_many_steps_holds_every_step(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (oldest, big, newest) = three_jobs(&app).await;
    let accepted = expect_status(
        app.post(
            "/api/commands/ExportJobs",
            &json!({ "format": "jsonl", "filter": { "q": "large" } }),
        )
        .await,
        202,
    )
    .await;
    let mut result = Value::Null;
    for _ in 0..600 {
        let job = app.job(&accepted["job"]).await;
        if job["end_time"].is_string() {
            result = job;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(result["status"], "finished", "{result}");
    let url = result["result"]
        .as_str()
        .unwrap()
        .split(": ")
        .nth(1)
        .unwrap()
        .to_owned();
    let text = expect_text(app.get(&url).await).await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps_of = |job: &Value| {
        lines
            .iter()
            .find(|l| l["id"] == job["id"])
            .map(|l| l["steps"].as_array().unwrap().len())
    };
    assert_eq!(lines.len(), 3);
    assert_eq!(steps_of(&newest), Some(1));
    assert_eq!(steps_of(&big), Some(100_000));
    assert_eq!(steps_of(&oldest), Some(1));
}

async fn expect_text(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn large_reads_of_steps_wait_for_room_and_small_ones_never_do(pool: PgPool) {
    use app::service::step_room::ROOM;
    let app = spawn_app(pool).await;
    let engine = app::service::Engine::new(app.pool.clone());
    // One job more than fill the room, each holding the most steps a job may (only their counts
    // matter to the room).
    let full = (ROOM / 100_000) as usize;
    let mut big = Vec::new();
    for i in 0..=full {
        let job = app.add_job(&format!("big {i}")).await;
        let job_id: uuid::Uuid = id(&job).parse().unwrap();
        sqlx::query("update job set step_count = 100000 where id = $1")
            .bind(job_id)
            .execute(&app.pool)
            .await
            .unwrap();
        big.push(job_id);
    }
    let small = app.add_job("small").await;
    let small: uuid::Uuid = id(&small).parse().unwrap();

    let mut held = Vec::new();
    for job_id in &big[..full] {
        held.push(engine.room_for_steps(&[*job_id]).await.unwrap());
    }
    assert_eq!(
        engine.steps_in_room(),
        ROOM,
        "{full} full jobs fill the room"
    );
    let wait = Duration::from_millis(300);
    assert!(
        tokio::time::timeout(wait, engine.room_for_steps(&[big[full]]))
            .await
            .is_err(),
        "one more full job waits"
    );
    tokio::time::timeout(wait, engine.room_for_steps(&[small]))
        .await
        .expect("a small read never waits")
        .unwrap();
    // Several jobs read together count together, at most one load.
    held.pop();
    let last = tokio::time::timeout(Duration::from_secs(5), engine.room_for_steps(&big))
        .await
        .expect("room is given back when a read ends")
        .unwrap();
    assert_eq!(engine.steps_in_room(), ROOM);
    drop(held);
    drop(last);
    assert_eq!(engine.steps_in_room(), 0);
}

/// A job opened in the Tasks pane (the `get_job` server function) takes its share of the same room
/// as the REST reads, and keeps it until its answer has been sent.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_large_job_opened_in_the_tasks_pane_waits_for_room_too(pool: PgPool) {
    use app::service::step_room::{ROOM, SMALL_READ};
    let app = spawn_app(pool).await;
    // Signed in as the browser is: a session cookie, from this server's own origin.
    let signed_in = app
        .client
        .post(app.url("/sfn/sign_in"))
        .header("origin", &app.base)
        .form(&[("username", ADMIN), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let open = |job: &Value| {
        app.client
            .post(app.url("/sfn/get_job"))
            .header("origin", &app.base)
            .header("cookie", &cookie)
            .json(&json!({ "job_id": id(job) }))
            .send()
    };

    // Full jobs that together fill the room, opened by a client that does not take their answers
    // (tens of megabytes: far more than the connections buffer), so their room stays taken.
    let mut held = Vec::new();
    for i in 0..(ROOM / 100_000) {
        let job = app.add_job(&format!("full {i}")).await;
        fill(&app, &job, 100_000).await;
        let response = open(&job).await.unwrap();
        assert_eq!(response.status(), 200);
        held.push(response);
    }
    let wide = app.add_job("wide").await;
    fill(&app, &wide, SMALL_READ as i32 + 500).await;
    let small = app.add_job("small").await;
    app.add_top_step(&small, "only").await;

    let wait = Duration::from_millis(500);
    let opened: Value = tokio::time::timeout(wait, async {
        open(&small).await.unwrap().json().await.unwrap()
    })
    .await
    .expect("a small job opens at once while the room is full");
    assert_eq!(opened["steps"].as_array().unwrap().len(), 1);
    // A large job waits, in the pane as over REST, while the answers above are still unsent.
    let rest = app
        .client
        .get(app.url(&format!("/api/jobs/{}/steps", id(&wide))))
        .bearer_auth(&app.token)
        .send();
    assert!(
        tokio::time::timeout(wait, rest).await.is_err(),
        "a large REST read waits while the room is full"
    );
    let opening = tokio::spawn(open(&wide));
    tokio::time::sleep(wait).await;
    assert!(
        !opening.is_finished(),
        "a large job waits while the room is full"
    );
    // One of the held answers is dropped unread: its room comes back and the job opens.
    drop(held.pop());
    let response = tokio::time::timeout(Duration::from_secs(20), opening)
        .await
        .expect("the job opens once there is room")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let opened: Value = response.json().await.unwrap();
    assert_eq!(
        opened["steps"].as_array().unwrap().len(),
        SMALL_READ as usize + 500
    );
}
