use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn concurrent_ends_of_one_step_have_one_winner_and_the_rest_follow_the_rules(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let s = app.add_top_step(&job, "s").await;
    // Half ask for `finished`, half for `aborted`: exactly one status wins; asking again for the
    // winner's status is a no-op (200), for the other a 409.
    let requests = (0..20).map(|i| {
        let status = if i % 2 == 0 { "finished" } else { "aborted" };
        let app = &app;
        let job = &job;
        let s = &s;
        async move {
            (
                status,
                app.end_step(job, s, json!({ "status": status, "fail_job": false }))
                    .await
                    .status()
                    .as_u16(),
            )
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    let final_status = app.step(&job, &s).await["status"]
        .as_str()
        .unwrap()
        .to_owned();
    for (asked, code) in outcomes {
        if asked == final_status {
            assert_eq!(code, 200, "asking for the winning status");
        } else {
            assert_eq!(code, 409, "asking for a losing status");
        }
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn concurrent_adds_under_one_parent_get_distinct_contiguous_numbers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let parent = app.add_top_step(&job, "parent").await;
    let adds = (0..25).map(|i| {
        let app = &app;
        let job = &job;
        let parent = &parent;
        async move { app.add_sub_step(job, parent, &format!("child {i}")).await }
    });
    let children: Vec<Value> = futures::future::join_all(adds).await;
    let mut numbers: Vec<i64> = children
        .iter()
        .map(|c| c["number"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..25).collect::<Vec<i64>>());

    let tops = (0..25).map(|i| {
        let app = &app;
        let job = &job;
        async move { app.add_top_step(job, &format!("top {i}")).await }
    });
    let tops: Vec<Value> = futures::future::join_all(tops).await;
    let mut numbers: Vec<i64> = tops.iter().map(|c| c["number"].as_i64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..26).collect::<Vec<i64>>());
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_job_ended_while_steps_are_being_added_leaves_no_running_step(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let path = format!("/api/jobs/{}/steps", id(&job));
    let adds = (0..15).map(|i| {
        let app = &app;
        let path = &path;
        async move {
            app.post(
                path,
                &json!({ "description": format!("s{i}"), "type": "executing" }),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let end = async {
        app.end_job(&job, json!({ "status": "finished" }))
            .await
            .status()
            .as_u16()
    };
    let (codes, end_code) = futures::future::join(futures::future::join_all(adds), end).await;
    assert_eq!(end_code, 200);
    assert!(codes.iter().all(|c| *c == 201 || *c == 409), "{codes:?}");
    let running: i64 = sqlx::query_scalar("select count(*) from step where status = 'started'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        running, 0,
        "every step added before the end was closed by it"
    );
}
