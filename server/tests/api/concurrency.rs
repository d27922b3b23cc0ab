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

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_burst_of_good_and_bad_adds_answers_each_request_on_its_own(pool: PgPool) {
    // Concurrent adds share transactions on the server; each must still get its own answer, and
    // only the good ones may leave a step, a number and an event behind.
    let app = spawn_app(pool).await;
    let (_, creator) = app
        .user_with_roles("creator", &["ExternalTasksCreator"])
        .await;
    let creator = app.as_token(&creator);
    let job = app.add_job("target").await;
    let parent = app.add_top_step(&job, "parent").await;
    let ended = app.add_job("ended").await;
    expect_status(
        app.end_job(&ended, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    let other = app.add_job("other").await;
    let foreign_parent = app.add_top_step(&other, "foreign").await;
    let missing = uuid::Uuid::now_v7().to_string();

    let requests = (0..60).map(|i| {
        let (app, creator) = (&app, &creator);
        let (job, parent, ended, foreign_parent, missing) =
            (&job, &parent, &ended, &foreign_parent, &missing);
        async move {
            let top = json!({ "description": format!("top {i}"), "type": "executing" });
            let (who, path, body, expected) = match i % 6 {
                0 => (app, format!("/api/jobs/{}/steps", id(job)), top, 201),
                1 => (
                    app,
                    format!("/api/jobs/{}/steps", id(job)),
                    json!({ "description": format!("sub {i}"), "type": "validating", "parent_id": id(parent) }),
                    201,
                ),
                2 => (app, format!("/api/jobs/{}/steps", id(ended)), top, 409),
                3 => (
                    app,
                    format!("/api/jobs/{}/steps", id(job)),
                    json!({ "description": "x", "type": "executing", "parent_id": id(foreign_parent), "parent_type": "step" }),
                    400,
                ),
                4 => (app, format!("/api/jobs/{missing}/steps"), top, 404),
                _ => (creator, format!("/api/jobs/{}/steps", id(job)), top, 403),
            };
            let response = who.post(&path, &body).await;
            (i, expected, expect_status(response, expected).await)
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    for (i, expected, body) in &outcomes {
        match expected {
            201 => {
                assert_eq!(body["job_id"], id(&job), "request {i}: {body}");
                assert_eq!(body["status"], "started");
                assert_eq!(body["is_external"], true);
            }
            400 => assert!(body["errors"][0]["field"] == "parent_id", "{body}"),
            _ => assert_eq!(body["status"], *expected, "request {i}: {body}"),
        }
    }
    let numbers = |kind: i32| {
        let mut n: Vec<i64> = outcomes
            .iter()
            .filter(|(i, ..)| i % 6 == kind)
            .map(|(.., b)| b["number"].as_i64().unwrap())
            .collect();
        n.sort_unstable();
        n
    };
    assert_eq!(
        numbers(0),
        (1..11).collect::<Vec<i64>>(),
        "top steps follow the parent"
    );
    assert_eq!(
        numbers(1),
        (0..10).collect::<Vec<i64>>(),
        "sub-steps under the parent"
    );
    for (i, _, b) in outcomes.iter().filter(|(i, ..)| i % 6 == 1) {
        assert_eq!(b["parent_step_id"], id(&parent), "request {i}");
        assert_eq!(b["type"], "validating");
    }

    let (steps, counted, created, updated): (i64, i32, i64, i64) = sqlx::query_as(
        "select (select count(*) from step where job_id = $1::uuid),
                (select step_count from job where id = $1::uuid),
                (select count(*) from event where job_id = $1::uuid and kind = 'step.created'),
                (select count(*) from event where job_id = $1::uuid and kind = 'step.updated')",
    )
    .bind(id(&job))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // The parent's child counter changed ten times: bookkeeping, not an event.
    assert_eq!((steps, counted, created, updated), (21, 21, 21, 0));
    let listed = app.get(&format!("/api/jobs/{}/steps", id(&job))).await;
    let listed = expect_status(listed, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 21);
}

/// What a burst of changes aims at: a job of 30 running leaves, a parent with a running sub-step and
/// a finished step; another job with a step; a step that does not exist; a user who may inject but
/// owns none of them.
struct Targets {
    creator: TestApp,
    job: Value,
    other: Value,
    leaves: Vec<Value>,
    parent: Value,
    done: Value,
    /// The answer to `done`'s end.
    first: Value,
    missing: Value,
    elsewhere: Value,
}

async fn targets(app: &TestApp) -> Targets {
    let (_, creator) = app
        .user_with_roles("creator", &["ExternalTasksCreator"])
        .await;
    let job = app.add_job("target").await;
    let other = app.add_job("other").await;
    let mut leaves = Vec::new();
    for i in 0..30 {
        leaves.push(app.add_top_step(&job, &format!("leaf {i}")).await);
    }
    let parent = app.add_top_step(&job, "parent").await;
    app.add_sub_step(&job, &parent, "child").await;
    let done = app.add_top_step(&job, "done").await;
    let first = expect_status(
        app.end_step(&job, &done, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    Targets {
        creator: app.as_token(&creator),
        elsewhere: app.add_top_step(&other, "elsewhere").await,
        missing: json!({ "id": uuid::Uuid::now_v7().to_string() }),
        job,
        other,
        leaves,
        parent,
        done,
        first,
    }
}

/// Concurrent ends share calls on the server (`change_batch`), which end only running steps without
/// sub-steps and hand the rest back to be ended alone; each request still gets its own answer, and
/// only the good ones end a step, leave an event and move the job's progress.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_burst_of_good_and_bad_ends_answers_each_request_on_its_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let Targets {
        creator,
        job,
        leaves,
        parent,
        done,
        first,
        missing,
        elsewhere,
        ..
    } = targets(&app).await;

    let requests = (0..60).map(|i| {
        let (app, creator, job, leaves) = (&app, &creator, &job, &leaves);
        let (parent, done, missing, elsewhere) = (&parent, &done, &missing, &elsewhere);
        async move {
            let (who, step, body, expected) = match i % 6 {
                // Every leaf ended once, half of them into another phase.
                0..=2 => {
                    let n = i / 6 * 3 + i % 6;
                    let leaf = &leaves[n as usize];
                    let body = if n % 2 == 0 {
                        json!({ "status": "finished" })
                    } else {
                        json!({ "status": "aborted", "type": "finalizing" })
                    };
                    (app, leaf, body, 200)
                }
                3 => match i % 4 {
                    1 => (app, done, json!({ "status": "finished" }), 200),
                    _ => (app, done, json!({ "status": "aborted" }), 409),
                },
                4 => match i % 4 {
                    0 => (app, missing, json!({ "status": "finished" }), 404),
                    _ => (app, parent, json!({ "status": "finished" }), 409),
                },
                _ => match i % 4 {
                    1 => (app, elsewhere, json!({ "status": "finished" }), 404),
                    _ => (creator, &leaves[0], json!({ "status": "finished" }), 403),
                },
            };
            let response = who.end_step(job, step, body).await;
            (i, expected, expect_status(response, expected).await)
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    for (i, expected, body) in &outcomes {
        match (i % 6, expected) {
            (0..=2, _) => {
                let n = i / 6 * 3 + i % 6;
                assert_eq!(body["id"], id(&leaves[n as usize]), "request {i}");
                let (status, phase) = if n % 2 == 0 {
                    ("finished", "executing")
                } else {
                    ("aborted", "finalizing")
                };
                assert_eq!(body["status"], status, "request {i}: {body}");
                assert_eq!(body["type"], phase, "request {i}: {body}");
                assert!(body["end_time"].is_string(), "request {i}: {body}");
                assert_eq!(*body, app.step(&job, &leaves[n as usize]).await);
            }
            (3, 200) => assert_eq!(*body, first, "a retry answers the step as it ended"),
            (4, 409) => assert!(
                body["ids"].as_array().is_some_and(|ids| ids.len() == 1),
                "{body}"
            ),
            _ => assert_eq!(body["status"], *expected, "request {i}: {body}"),
        }
    }

    let (finished, aborted, running, ends): (i64, i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'finished' and parent_step_id is null),
                count(*) filter (where status = 'aborted'),
                count(*) filter (where status = 'started'),
                (select count(*) from event where job_id = $1::uuid and kind = 'step.updated')
           from step where job_id = $1::uuid",
    )
    .bind(id(&job))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // 15 leaves and `done` finished, 15 leaves aborted; the parent and its child still running; one
    // event per end (`done`'s first end included).
    assert_eq!((finished, aborted, running, ends), (16, 15, 2, 31));
    let job_now = app.job(&job).await;
    assert_eq!(job_now["status"], "started");
    // 31 of the 32 top-level steps ended, the parent at 0: 3,100 / 32 in whole numbers (the tree's
    // roll-up divides so, and the list now does too).
    assert_eq!(job_now["progress"], 96);
    assert!(job_now["last_updated"].as_str() > first["end_time"].as_str());
}

/// Progress reports share calls with ends on the server (`change_batch`), which change only running
/// steps without sub-steps and hand the rest back to be written alone; each request still gets its
/// own answer, a report that changes nothing leaves no event, and the job's progress follows.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_burst_of_progress_reports_and_ends_answers_each_request_on_its_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let Targets {
        creator,
        job,
        other,
        leaves,
        parent,
        done,
        missing,
        elsewhere,
        ..
    } = targets(&app).await;

    let requests = (0..60usize).map(|i| {
        let (app, creator, leaves) = (&app, &creator, &leaves);
        let (job, parent, done, missing, elsewhere) = (&job, &parent, &done, &missing, &elsewhere);
        async move {
            let m = i / 6;
            let (response, expected) = match (i % 6, i % 4) {
                // Leaves 0..=19 report n * 5 %; leaves 20..=29 end.
                (0 | 1, _) => (
                    report(app, job, &leaves[m * 2 + i % 6], (m * 2 + i % 6) as i64 * 5).await,
                    200,
                ),
                (2, _) => (
                    app.end_step(job, &leaves[20 + m], json!({ "status": "finished" }))
                        .await,
                    200,
                ),
                // The parent of a running sub-step has progress of its own too.
                (3, 1) => (report(app, job, parent, 40).await, 200),
                // Leaf 0 again, with what it reports above: no change.
                (3, _) => (report(app, job, &leaves[0], 0).await, 200),
                (4, 0) => (report(app, job, missing, 10).await, 404),
                (4, _) => (report(app, job, done, 10).await, 409),
                (_, 1) => (report(app, job, elsewhere, 10).await, 404),
                _ => (report(creator, job, &leaves[0], 10).await, 403),
            };
            (i, expected, expect_status(response, expected).await)
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    for (i, expected, body) in &outcomes {
        let m = i / 6;
        match (i % 6, i % 4) {
            (0 | 1, _) => {
                let n = m * 2 + i % 6;
                assert_eq!(body["id"], id(&leaves[n]), "request {i}");
                assert_eq!(body["status"], "started", "request {i}: {body}");
                assert_eq!(body["progress"], n * 5, "request {i}: {body}");
                assert_eq!(*body, app.step(&job, &leaves[n]).await);
            }
            (2, _) => {
                assert_eq!(body["id"], id(&leaves[20 + m]), "request {i}");
                assert_eq!(body["status"], "finished", "request {i}: {body}");
            }
            (3, 1) => {
                assert_eq!(body["id"], id(&parent), "request {i}");
                assert_eq!(body["progress"], 40, "request {i}: {body}");
            }
            (3, _) => assert_eq!(body["progress"], 0, "request {i}: {body}"),
            _ => assert_eq!(body["status"], *expected, "request {i}: {body}"),
        }
    }

    let (reported, finished, updates): (i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where progress is not null),
                count(*) filter (where status = 'finished'),
                (select count(*) from event where job_id = $1::uuid and kind = 'step.updated')
           from step where job_id = $1::uuid",
    )
    .bind(id(&job))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // 20 leaves and the parent reported, 10 leaves and `done` finished; one event per change
    // (`done`'s end included), none for the reports that changed nothing.
    assert_eq!((reported, finished, updates), (21, 11, 32));
    let other_step = app.step(&other, &elsewhere).await;
    assert!(other_step["progress"].is_null(), "{other_step}");
    let job_now = app.job(&job).await;
    // 32 top-level steps: leaves 0..=19 at 0, 5, .., 95 %, 10 leaves and `done` at 100, the parent
    // at 40: 2,090 / 32, rounded.
    assert_eq!(job_now["progress"], 65);
    assert_eq!(job_now["status"], "started");
}

async fn report(who: &TestApp, job: &Value, step: &Value, progress: i64) -> reqwest::Response {
    let path = format!("/api/jobs/{}/steps/{}/progress", id(job), id(step));
    who.post(&path, &json!({ "progress": progress })).await
}

/// Requests sent together share one write (the group commit); each still gets its own answer:
/// the accepted ones their steps, numbered without gaps, the refused ones the reason that applies
/// to them, and nothing of a refused request is written.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn requests_written_together_each_get_their_own_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("open").await;
    let ended_job = app.add_job("ended").await;
    let parent = app.add_top_step(&job, "parent").await;
    let ended_parent = app.add_top_step(&job, "ended parent").await;
    expect_status(
        app.end_step(&job, &ended_parent, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    expect_status(
        app.end_job(&ended_job, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    let other_job = app.add_job("other").await;
    let foreign = app.add_top_step(&other_job, "foreign").await;
    let missing = uuid::Uuid::new_v4().to_string();

    let under = |parent: &str, i: usize| json!({ "description": format!("req {i}"), "type": "executing", "parent_id": parent, "parent_type": "step" });
    let top = |i: usize| json!({ "description": format!("req {i}"), "type": "executing" });
    // (job, body, expected status, what the answer must say)
    let mut requests: Vec<(String, Value, u16, &str)> = Vec::new();
    for i in 0..40 {
        let request = match i % 8 {
            0 | 1 => (id(&job).to_owned(), top(i), 201, "top"),
            2 | 3 => (id(&job).to_owned(), under(id(&parent), i), 201, "child"),
            4 => (id(&ended_job).to_owned(), top(i), 409, "has ended"),
            5 => (
                id(&job).to_owned(),
                under(id(&ended_parent), i),
                409,
                "has ended",
            ),
            6 => (
                id(&job).to_owned(),
                under(id(&foreign), i),
                400,
                "another job",
            ),
            _ => (missing.clone(), top(i), 404, "not found"),
        };
        requests.push(request);
    }
    let sends = requests.iter().map(|(job_id, body, _, _)| {
        let app = &app;
        async move {
            let response = app.post(&format!("/api/jobs/{job_id}/steps"), body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let answers = futures::future::join_all(sends).await;

    let (mut tops, mut children) = (Vec::new(), Vec::new());
    for ((_, body, expected, says), (status, answer)) in requests.iter().zip(&answers) {
        assert_eq!(status, expected, "{body} -> {answer}");
        match *says {
            "top" => {
                assert_eq!(answer["description"], body["description"]);
                assert_eq!(answer["parent_step_id"], Value::Null);
                tops.push(answer["number"].as_i64().unwrap());
            }
            "child" => {
                assert_eq!(answer["description"], body["description"]);
                assert_eq!(answer["parent_step_id"], parent["id"]);
                children.push(answer["number"].as_i64().unwrap());
            }
            reason => {
                let detail = answer["detail"].as_str().unwrap_or_default();
                assert!(detail.contains(reason), "{body} -> {answer}");
            }
        }
    }
    tops.sort_unstable();
    children.sort_unstable();
    // The job already had two top-level steps (0 and 1).
    assert_eq!(tops, (2..12).collect::<Vec<i64>>());
    assert_eq!(children, (0..10).collect::<Vec<i64>>());
    let written: i64 =
        sqlx::query_scalar("select count(*) from step where description like 'req %'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(written, 20);
    let counted: (i32, i32) =
        sqlx::query_as("select step_count, root_count from job where id = $1::uuid")
            .bind(id(&job))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(counted, (22, 12));
}

/// A client that gives up mid-request (a timeout, a closed tab, a load generator that stops) does not
/// cut the server's database work short: what started finishes, its answer simply not delivered.
/// Before, the request's future was dropped where it stood; one dropped while its `BEGIN` was on the
/// wire left its pooled connection inside a transaction, so whatever ran on that connection next
/// without a transaction of its own (the shared step write, the event sequencer) stayed uncommitted.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_request_its_client_abandons_still_finishes_and_leaves_no_transaction_open(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Hold new jobs back: the request will wait inside its transaction, after its `BEGIN`.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("lock table job in share mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let impatient = reqwest::Client::new();
    let request = impatient
        .post(app.url("/api/jobs"))
        .bearer_auth(&app.token)
        .json(&json!({ "description": "abandoned by its client" }))
        .send();
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(300), request).await;
    assert!(gave_up.is_err(), "the request should still be waiting");
    drop(impatient);
    // Time for the server to see the connection gone, then let the job through.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    blocker.commit().await.unwrap();
    let mut written = 0;
    for _ in 0..50 {
        written = sqlx::query_scalar::<_, i64>(
            "select count(*) from job where description = 'abandoned by its client'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if written > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(written, 1, "the abandoned request finished its work");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let open: Vec<(i32, String)> = sqlx::query_as(
        "select pid, query from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()
            and state like 'idle in transaction%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(
        open.is_empty(),
        "connections left inside a transaction: {open:?}"
    );
}
