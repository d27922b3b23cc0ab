use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn steps_are_numbered_per_level_and_listed_parent_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let a = app.add_top_step(&job, "a").await;
    let b = app.add_top_step(&job, "b").await;
    let a0 = app.add_sub_step(&job, &a, "a0").await;
    let a1 = app.add_sub_step(&job, &a, "a1").await;
    let a00 = app.add_sub_step(&job, &a0, "a00").await;
    assert_eq!(
        (a["number"].clone(), b["number"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(
        (
            a0["number"].clone(),
            a1["number"].clone(),
            a00["number"].clone()
        ),
        (json!(0), json!(1), json!(0))
    );
    assert_eq!(a0["parent_step_id"], a["id"]);
    assert!(a["parent_step_id"].is_null());
    assert_eq!(a0["job_id"], job["id"]);
    assert_eq!(a0["type"], "executing");
    assert_eq!(a0["is_external"], true);

    let flat = expect_status(app.get(&format!("/api/jobs/{}/steps", id(&job))).await, 200).await;
    let order: Vec<&str> = flat["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["description"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec!["a", "a0", "a00", "a1", "b"]);

    let tree = expect_status(
        app.get(&format!("/api/jobs/{}/steps?tree=true", id(&job)))
            .await,
        200,
    )
    .await;
    assert_eq!(
        tree["items"][0]["children"][0]["children"][0]["description"],
        "a00"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn every_form_of_naming_the_parent_is_accepted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let top = app
        .add_step(&job, json!({ "description": "t", "type": "validating", "parent_id": id(&job), "parent_type": "job" }))
        .await;
    assert!(top["parent_step_id"].is_null());
    let seed = app
        .add_step(&job, json!({ "description": "s", "type": "executing", "parentId": id(&top), "parentType": "step" }))
        .await;
    assert_eq!(seed["parent_step_id"], top["id"]);
    let ovirt = app
        .add_step(
            &job,
            json!({ "description": "o", "type": "finalizing", "parent_step": { "id": id(&top) } }),
        )
        .await;
    assert_eq!(ovirt["parent_step_id"], top["id"]);
    let inferred = app
        .add_step(
            &job,
            json!({ "description": "i", "type": "executing", "parent_id": id(&seed) }),
        )
        .await;
    assert_eq!(inferred["parent_step_id"], seed["id"]);
    // The name a step's own representation gives its parent (it used to be ignored, so the step
    // went to the top level).
    let echoed = app
        .add_step(
            &job,
            json!({ "description": "e", "type": "executing", "parent_step_id": id(&seed) }),
        )
        .await;
    assert_eq!(echoed["parent_step_id"], seed["id"]);
    let top_again = app
        .add_step(
            &job,
            json!({ "description": "n", "type": "executing", "parent_step_id": null }),
        )
        .await;
    assert!(top_again["parent_step_id"].is_null());

    // Two names for two different parents: refused, naming the field, and nothing added.
    let url = format!("/api/jobs/{}/steps", id(&job));
    for (body, field) in [
        (
            json!({ "description": "x", "type": "executing", "parent_step_id": id(&seed), "parent_step": { "id": id(&top) } }),
            "parent_step_id",
        ),
        (
            json!({ "description": "x", "type": "executing", "parent_step_id": id(&seed), "parent_id": id(&top) }),
            "parent_step_id",
        ),
        (
            json!({ "description": "x", "type": "executing", "parent_step": { "id": id(&seed) }, "parent_id": id(&top) }),
            "parent_step",
        ),
    ] {
        expect_problem(app.post(&url, &body).await, 400, field).await;
    }
    let all = expect_status(app.get(&url).await, 200).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn adding_a_step_to_an_ended_job_conflicts(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    let response = app
        .post(
            &format!("/api/jobs/{}/steps", id(&job)),
            &json!({ "description": "late", "type": "executing" }),
        )
        .await;
    expect_problem(response, 409, id(&job)).await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_parent_step_of_another_job_or_missing_or_ended_is_refused_naming_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let other = app.add_job("other").await;
    let foreign = app.add_top_step(&other, "foreign").await;
    let path = format!("/api/jobs/{}/steps", id(&job));

    let body = expect_problem(
        app.post(&path, &json!({ "description": "x", "type": "executing", "parent_id": id(&foreign), "parent_type": "step" })).await,
        400,
        "parent_id",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains(id(&foreign)));

    let missing = "00000000-0000-0000-0000-0000000000aa";
    expect_problem(
        app.post(
            &path,
            &json!({ "description": "x", "type": "executing", "parent_step": { "id": missing } }),
        )
        .await,
        404,
        missing,
    )
    .await;

    let ended = app.add_top_step(&job, "ended").await;
    expect_status(
        app.end_step(&job, &ended, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    expect_problem(
        app.post(&path, &json!({ "description": "x", "type": "executing", "parent_id": id(&ended), "parent_type": "step" })).await,
        409,
        id(&ended),
    )
    .await;

    expect_problem(
        app.post(&path, &json!({ "description": "x", "type": "executing", "parent_id": id(&other), "parent_type": "job" })).await,
        400,
        "parent_id",
    )
    .await;
    expect_problem(
        app.post(
            &path,
            &json!({ "description": "x", "type": "executing", "parent_type": "step" }),
        )
        .await,
        400,
        "parent_id",
    )
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_finished_step_again_is_a_no_op_and_another_status_conflicts_unless_forced(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let s = app.add_top_step(&job, "s").await;
    let first = expect_status(
        app.end_step(&job, &s, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    assert_eq!(first["status"], "finished");
    let again = expect_status(
        app.end_step(&job, &s, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    assert_eq!(again["end_time"], first["end_time"]);
    expect_problem(
        app.end_step(&job, &s, json!({ "status": "aborted" })).await,
        409,
        "force",
    )
    .await;
    let forced = expect_status(
        app.end_step(&job, &s, json!({ "status": "aborted", "force": true }))
            .await,
        200,
    )
    .await;
    assert_eq!(forced["status"], "aborted");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_step_with_running_sub_steps_lists_them_unless_forced(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let parent = app.add_top_step(&job, "parent").await;
    let child = app.add_sub_step(&job, &parent, "child").await;
    let grandchild = app.add_sub_step(&job, &child, "grandchild").await;

    let refused = expect_problem(
        app.end_step(&job, &parent, json!({ "status": "finished" }))
            .await,
        409,
        id(&child),
    )
    .await;
    let ids: Vec<&str> = refused["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&id(&child)) && ids.contains(&id(&grandchild)),
        "{refused}"
    );
    assert_eq!(
        app.step(&job, &parent).await["status"],
        "started",
        "nothing half-written"
    );

    let ended = expect_status(
        app.end_step(
            &job,
            &parent,
            json!({ "status": "finished", "force": true }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["status"], "finished");
    assert_eq!(app.step(&job, &child).await["status"], "aborted");
    assert_eq!(app.step(&job, &grandchild).await["status"], "aborted");
    assert_eq!(app.job(&job).await["status"], "started");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_failed_step_fails_its_job_and_its_other_running_steps(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let bad = app.add_top_step(&job, "bad").await;
    let other = app.add_top_step(&job, "other").await;
    let done = app.add_top_step(&job, "done").await;
    expect_status(
        app.end_step(&job, &done, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;

    expect_status(
        app.end_step(&job, &bad, json!({ "status": "failed" }))
            .await,
        200,
    )
    .await;
    let j = app.job(&job).await;
    assert_eq!(j["status"], "failed");
    assert!(j["end_time"].is_string());
    assert_eq!(app.step(&job, &other).await["status"], "failed");
    assert_eq!(app.step(&job, &done).await["status"], "finished");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn fail_job_false_keeps_the_job_running(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let bad = app.add_top_step(&job, "bad").await;
    let other = app.add_top_step(&job, "other").await;
    expect_status(
        app.end_step(&job, &bad, json!({ "status": "failed", "fail_job": false }))
            .await,
        200,
    )
    .await;
    assert_eq!(app.job(&job).await["status"], "started");
    assert_eq!(app.step(&job, &other).await["status"], "started");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn ending_a_step_can_move_it_to_another_phase(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let s = app
        .add_step(&job, json!({ "description": "s", "type": "validating" }))
        .await;
    let ended = expect_status(
        app.end_step(
            &job,
            &s,
            json!({ "status": "finished", "type": "finalizing" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["type"], "finalizing");
}

/// oVirt's `StepEnum.UNKNOWN`, which its Ansible module gives every step it adds: a step whose phase
/// is not stated, kept and reported as such, and a phase it may move to when it ends.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_step_of_unknown_type_is_kept_as_such(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let s = app
        .add_step(&job, json!({ "description": "s", "type": "unknown" }))
        .await;
    assert_eq!(s["type"], "unknown");
    let got = expect_status(
        app.get(&format!("/api/jobs/{}/steps/{}", id(&job), id(&s)))
            .await,
        200,
    )
    .await;
    assert_eq!(got["type"], "unknown");
    let other = app.add_top_step(&job, "o").await;
    let ended = expect_status(
        app.end_step(
            &job,
            &other,
            json!({ "status": "finished", "type": "unknown" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["type"], "unknown");
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_step_may_be_recorded_as_already_ended(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let s = app
        .add_step(
            &job,
            json!({ "description": "s", "type": "executing", "status": "finished" }),
        )
        .await;
    assert_eq!(s["status"], "finished");
    assert!(s["end_time"].is_string());
    let response = app
        .post(
            &format!("/api/jobs/{}/steps", id(&job)),
            &json!({ "description": "u", "type": "executing", "status": "unknown" }),
        )
        .await;
    expect_problem(response, 400, "status").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn progress_is_set_and_rolled_up_to_parents_without_their_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let parent = app.add_top_step(&job, "parent").await;
    let a = app.add_sub_step(&job, &parent, "a").await;
    let b = app.add_sub_step(&job, &parent, "b").await;
    let path = |s: &serde_json::Value| format!("/api/jobs/{}/steps/{}/progress", id(&job), id(s));

    let a_now = expect_status(app.post(&path(&a), &json!({ "progress": 40 })).await, 200).await;
    assert_eq!(a_now["progress"], 40);
    expect_status(
        app.end_step(&job, &b, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        app.step(&job, &parent).await["progress"],
        70,
        "(40 + 100) / 2"
    );

    expect_problem(
        app.post(&path(&a), &json!({ "progress": 101 })).await,
        400,
        "progress",
    )
    .await;
    expect_problem(
        app.post(&path(&a), &json!({ "progress": "half" })).await,
        400,
        "progress",
    )
    .await;
    expect_problem(
        app.post(&path(&b), &json!({ "progress": 10 })).await,
        409,
        id(&b),
    )
    .await;
}

/// A step that failed or was aborted shows its own progress only: not the roll-up of the sub-steps
/// its end closed (100 %, as if its work were done), in its answer, a read, the tree and its event.
/// A sub-step keeps the progress it had reached.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_aborted_parent_shows_no_roll_up_of_the_sub_steps_its_end_closed(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let job = app.add_job("j").await;
    let parent = app.add_top_step(&job, "copy disks").await;
    let a = app.add_sub_step(&job, &parent, "disk 1").await;
    app.add_sub_step(&job, &parent, "disk 2").await;
    let path = format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&a));
    expect_status(app.post(&path, &json!({ "progress": 40 })).await, 200).await;
    assert_eq!(
        app.step(&job, &parent).await["progress"],
        20,
        "(40 + 0) / 2"
    );

    let ended = app
        .end_step(&job, &parent, json!({ "status": "aborted", "force": true }))
        .await;
    let ended = expect_status(ended, 200).await;
    assert_eq!(ended["status"], "aborted");
    assert_eq!(ended["progress"], Value::Null, "{ended}");
    assert_eq!(app.step(&job, &parent).await, ended);
    let a_now = app.step(&job, &a).await;
    assert_eq!(
        (&a_now["status"], &a_now["progress"]),
        (&json!("aborted"), &json!(40))
    );
    let tree = expect_status(
        app.get(&format!("/api/jobs/{}/steps?tree=true", id(&job)))
            .await,
        200,
    )
    .await;
    assert_eq!(tree["items"][0]["progress"], Value::Null, "{tree}");
    let event_has_progress: bool = sqlx::query_scalar(
        "select data ? 'progress' from event
          where kind = 'step.updated' and data->>'id' = $1 order by id desc limit 1",
    )
    .bind(id(&parent))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!event_has_progress);
}

/// Ending a step or setting its progress answers the step exactly as reading it then shows it: a
/// step without sub-steps is its own row, one with them rolled up over them. Either also renews the
/// job's `last_updated`.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_end_or_progress_answers_the_step_as_a_read_shows_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let parent = app.add_top_step(&job, "parent").await;
    let a = app.add_sub_step(&job, &parent, "a").await;
    let b = app.add_sub_step(&job, &parent, "b").await;
    // Each call answers 200 with the step; each answer must equal a read made right after it.
    let (app, job) = (&app, &job);
    let answer_as_read = |step: &Value, action: &str, body: Value| {
        let path = format!("/api/jobs/{}/steps/{}/{action}", id(job), id(step));
        let step = step.clone();
        async move {
            let answer = expect_status(app.post(&path, &body).await, 200).await;
            assert_eq!(answer, app.step(job, &step).await, "{path}");
            answer
        }
    };

    let before = app.job(job).await["last_updated"].clone();
    answer_as_read(&a, "progress", json!({ "progress": 40 })).await;
    assert_ne!(app.job(job).await["last_updated"], before);
    let b_now = answer_as_read(
        &b,
        "end",
        json!({ "status": "finished", "type": "finalizing" }),
    )
    .await;
    assert_eq!(b_now["type"], "finalizing");

    // A parent with progress of its own answers that, not its sub-steps' mean.
    let other = app.add_top_step(job, "other").await;
    app.add_sub_step(job, &other, "c").await;
    let other_now = answer_as_read(&other, "progress", json!({ "progress": 10 })).await;
    assert_eq!(other_now["progress"], 10);

    answer_as_read(&a, "end", json!({ "status": "finished" })).await;
    let last = app.job(job).await["last_updated"].clone();
    let failed = json!({ "status": "failed", "fail_job": false });
    let parent_ended = answer_as_read(&parent, "end", failed.clone()).await;
    assert_eq!(parent_ended["status"], "failed");
    assert_eq!(
        parent_ended["progress"],
        Value::Null,
        "a failed step shows no roll-up, though both its sub-steps ended"
    );
    assert_ne!(app.job(job).await["last_updated"], last);
    // A retry answers the same step again.
    assert_eq!(answer_as_read(&parent, "end", failed).await, parent_ended);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn nesting_deeper_than_the_limit_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let mut parent = app.add_top_step(&job, "depth 1").await;
    for depth in 2..=32 {
        parent = app
            .add_sub_step(&job, &parent, &format!("depth {depth}"))
            .await;
    }
    let response = app
        .post(
            &format!("/api/jobs/{}/steps", id(&job)),
            &json!({ "description": "too deep", "type": "executing", "parent_id": id(&parent), "parent_type": "step" }),
        )
        .await;
    expect_problem(response, 400, "parent_id").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_job_holds_at_most_the_step_limit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    // Put the job at its limit directly rather than adding 100,000 steps over HTTP.
    sqlx::query("update job set step_count = 100000 where id = $1::uuid")
        .bind(id(&job))
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .post(
            &format!("/api/jobs/{}/steps", id(&job)),
            &json!({ "description": "one too many", "type": "executing" }),
        )
        .await;
    expect_problem(response, 409, "100000").await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_step_is_found_only_under_its_own_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("j").await;
    let other = app.add_job("other").await;
    let s = app.add_top_step(&job, "s").await;
    expect_problem(
        app.get(&format!("/api/jobs/{}/steps/{}", id(&other), id(&s)))
            .await,
        404,
        id(&s),
    )
    .await;
    expect_problem(
        app.end_step(&other, &s, json!({ "status": "finished" }))
            .await,
        404,
        id(&s),
    )
    .await;
}

/// A job's progress, in its detail and in the list: the mean over its top-level steps of 100 for an
/// ended one and its own progress (or its sub-steps' roll-up, or 0) for a running one, once any is
/// informative; sub-steps count only through their parents. The job keeps the sums (migrations
/// `job_progress_kept_on_the_job`, `step_progress_rolled_up_on_write`), so every way a top-level step
/// changes must move them.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_jobs_progress_is_the_mean_of_its_top_level_steps_in_detail_and_list(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("rolled up").await;
    let progress_of = |job: Value| {
        let app = &app;
        async move {
            let detail = app.job(&job).await["progress"].clone();
            let list = expect_status(app.get("/api/jobs?limit=200").await, 200).await;
            let row = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["id"] == job["id"])
                .expect("the job is listed")
                .clone();
            assert_eq!(row["progress"], detail, "list and detail agree");
            detail
        }
    };
    assert_eq!(progress_of(job.clone()).await, Value::Null, "no steps");
    let a = app.add_top_step(&job, "a").await;
    let b = app.add_top_step(&job, "b").await;
    let _c = app.add_top_step(&job, "c").await;
    let sub = app.add_sub_step(&job, &a, "a.1").await;
    assert_eq!(
        progress_of(job.clone()).await,
        Value::Null,
        "nothing reported yet"
    );
    let path = |s: &Value| format!("/api/jobs/{}/steps/{}/progress", id(&job), id(s));
    expect_status(app.post(&path(&a), &json!({ "progress": 40 })).await, 200).await;
    assert_eq!(progress_of(job.clone()).await, 13, "(40 + 0 + 0) / 3");
    expect_status(app.post(&path(&sub), &json!({ "progress": 90 })).await, 200).await;
    assert_eq!(
        progress_of(job.clone()).await,
        13,
        "a sub-step counts only through its parent"
    );
    expect_status(
        app.end_step(&job, &b, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        progress_of(job.clone()).await,
        46,
        "(40 + 100 + 0) / 3, in whole numbers as the tree's roll-up divides (the list rounded to 47)"
    );
    app.add_step(
        &job,
        json!({ "description": "d", "type": "executing", "status": "finished" }),
    )
    .await;
    assert_eq!(
        progress_of(job.clone()).await,
        60,
        "(40 + 100 + 0 + 100) / 4"
    );
    expect_status(app.post(&path(&a), &json!({ "progress": 80 })).await, 200).await;
    assert_eq!(
        progress_of(job.clone()).await,
        70,
        "(80 + 100 + 0 + 100) / 4"
    );
    expect_status(
        app.end_job(&job, json!({ "status": "finished" })).await,
        200,
    )
    .await;
    assert_eq!(progress_of(job.clone()).await, 100, "a finished job");

    // Failing a step fails the job: no progress for a failed job.
    let other = app.add_job("fails").await;
    let x = app.add_top_step(&other, "x").await;
    expect_status(
        app.end_step(&other, &x, json!({ "status": "failed" }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        progress_of(other.clone()).await,
        Value::Null,
        "a failed job"
    );
    // A forced correction of an ended step moves the sums too.
    let third = app.add_job("corrected").await;
    let y = app.add_top_step(&third, "y").await;
    app.add_top_step(&third, "z").await;
    expect_status(
        app.end_step(
            &third,
            &y,
            json!({ "status": "aborted", "fail_job": false }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(progress_of(third.clone()).await, 50, "(100 + 0) / 2");
}

async fn set_progress(app: &TestApp, job: &Value, step: &Value, progress: usize) {
    let path = format!("/api/jobs/{}/steps/{}/progress", id(job), id(step));
    expect_status(app.post(&path, &json!({ "progress": progress })).await, 200).await;
}

/// A job's progress as the list and a plain read give it (the sums its row keeps), and as its detail
/// gives it (the whole tree rolled up).
async fn both_progresses(app: &TestApp, job: &Value) -> (Value, Value, Value) {
    let row = app.job(job).await;
    let listed = expect_status(
        app.get(&format!(
            "/api/jobs?q={}",
            row["description"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    let tree = expect_status(
        app.get(&format!("/api/jobs/{}?include=steps", id(job)))
            .await,
        200,
    )
    .await;
    (
        listed["items"][0]["progress"].clone(),
        row["progress"].clone(),
        tree["progress"].clone(),
    )
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_jobs_progress_in_the_list_rolls_its_sub_steps_up_as_its_detail_does(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("migrate web-07").await;
    let validate = app.add_top_step(&job, "validate").await;
    expect_status(
        app.end_step(&job, &validate, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    let copy = app.add_top_step(&job, "copy disks").await;
    let disks = [
        app.add_sub_step(&job, &copy, "disk 1").await,
        app.add_sub_step(&job, &copy, "disk 2").await,
        app.add_sub_step(&job, &copy, "disk 3").await,
    ];
    app.add_top_step(&job, "switch over").await;
    expect_status(
        app.end_step(&job, &disks[0], json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    set_progress(&app, &job, &disks[1], 60).await;
    // Disk 3 is half-way through its only sub-step.
    let chunk = app.add_sub_step(&job, &disks[2], "disk 3 chunk").await;
    set_progress(&app, &job, &chunk, 30).await;
    // copy disks: (100 + 60 + 30) / 3 = 63; the job: (100 + 63 + 0) / 3 = 54. The list said 33, from
    // the top-level steps' own figures only.
    assert_eq!(
        both_progresses(&app, &job).await,
        (json!(54), json!(54), json!(54))
    );
    // A new sub-step is more work to do: copy disks (100 + 60 + 30 + 0) / 4 = 47, the job 49.
    app.add_sub_step(&job, &copy, "disk 4").await;
    assert_eq!(
        both_progresses(&app, &job).await,
        (json!(49), json!(49), json!(49))
    );
    // Forcing copy disks to an end aborts what runs under it: it counts 100 at once.
    expect_status(
        app.end_step(&job, &copy, json!({ "status": "aborted", "force": true }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        both_progresses(&app, &job).await,
        (json!(66), json!(66), json!(66))
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn random_trees_show_the_same_progress_in_the_list_as_in_their_detail(pool: PgPool) {
    let app = spawn_app(pool).await;
    // A fixed xorshift sequence: the same trees on every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for j in 0..4 {
        let job = app.add_job(&format!("random tree {j}")).await;
        // Running steps, by id, with their depth.
        let mut running: Vec<(Value, usize)> = Vec::new();
        for op in 0..60 {
            let pick = next(10);
            if running.is_empty() || pick < 4 {
                // Add a step: at the top or under a running one, running or already ended.
                let mut body = json!({ "description": format!("s{op}"), "type": "executing" });
                let mut depth = 1;
                if !running.is_empty() && next(3) > 0 {
                    let (parent, d) = &running[next(running.len())];
                    body["parent_id"] = parent["id"].clone();
                    depth = d + 1;
                }
                if next(4) == 0 {
                    body["status"] = json!("finished");
                }
                let step = app.add_step(&job, body).await;
                if step["status"] == "started" && depth < 6 {
                    running.push((step, depth));
                }
            } else if pick < 7 {
                let (step, _) = &running[next(running.len())];
                set_progress(&app, &job, step, next(101)).await;
            } else {
                // End one, with whatever runs under it, as one of the three ends.
                let (step, _) = running.remove(next(running.len()));
                let status = ["finished", "failed", "aborted"][next(3)];
                expect_status(
                    app.end_step(
                        &job,
                        &step,
                        json!({ "status": status, "force": true, "fail_job": false }),
                    )
                    .await,
                    200,
                )
                .await;
                let under: Vec<Value> =
                    expect_status(app.get(&format!("/api/jobs/{}/steps", id(&job))).await, 200)
                        .await["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|s| s["status"] != "started")
                        .map(|s| s["id"].clone())
                        .collect();
                running.retain(|(s, _)| !under.contains(&s["id"]));
            }
            if op % 5 == 4 {
                let (listed, row, tree) = both_progresses(&app, &job).await;
                assert_eq!((&listed, &row), (&tree, &tree), "job {j}, after op {op}");
            }
        }
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_step_may_be_added_with_its_progress(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("with progress").await;
    let top = app
        .add_step(
            &job,
            json!({ "description": "copy", "type": "executing", "progress": 30 }),
        )
        .await;
    assert_eq!(top["progress"], 30);
    assert_eq!(app.step(&job, &top).await["progress"], 30);
    assert_eq!(
        both_progresses(&app, &job).await,
        (json!(30), json!(30), json!(30))
    );
    // Under a parent without progress of its own: it rolls up (30 + 0) / 2 = 15, the job too.
    let parent = app.add_top_step(&job, "parent").await;
    app.add_step(
        &job,
        json!({ "description": "a", "type": "executing", "parent_id": id(&parent), "progress": 30 }),
    )
    .await;
    app.add_sub_step(&job, &parent, "b").await;
    assert_eq!(
        both_progresses(&app, &job).await,
        (json!(22), json!(22), json!(22)),
        "(30 + 15) / 2"
    );
    // Refused, naming the field, and nothing added.
    let url = format!("/api/jobs/{}/steps", id(&job));
    for body in [
        json!({ "description": "x", "type": "executing", "progress": 101 }),
        json!({ "description": "x", "type": "executing", "progress": -1 }),
        json!({ "description": "x", "type": "executing", "progress": "half" }),
        json!({ "description": "x", "type": "executing", "status": "finished", "progress": 50 }),
    ] {
        expect_problem(app.post(&url, &body).await, 400, "progress").await;
    }
    let all = expect_status(app.get(&url).await, 200).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_plug_in_says_how_a_step_and_a_job_went_as_it_ends_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.add_job("backup of vm-7").await;
    let copy = app.add_top_step(&job, "copy disks").await;
    let other = app.add_top_step(&job, "register").await;

    // Bad words are refused naming the field, and nothing changes.
    for bad in [json!(""), json!("   "), json!("x".repeat(4001)), json!(7)] {
        expect_problem(
            app.end_step(&job, &copy, json!({ "status": "failed", "result": bad }))
                .await,
            400,
            "result",
        )
        .await;
    }
    assert_eq!(app.step(&job, &copy).await["status"], "started");
    assert_eq!(app.job(&job).await["status"], "started");

    // A failure with its reason: kept on the step (trimmed), the job fails as always.
    let failed = expect_status(
        app.end_step(
            &job,
            &copy,
            json!({ "status": "failed", "result": "  no space left on datastore-2 \n" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(failed["result"], "no space left on datastore-2");
    assert_eq!(
        app.step(&job, &copy).await["result"],
        "no space left on datastore-2"
    );
    assert_eq!(app.step(&job, &other).await["status"], "failed");
    assert!(app.step(&job, &other).await.get("result").is_none());

    // A retry of the same end changes nothing, whatever it says; a forced correction does.
    let retried = expect_status(
        app.end_step(
            &job,
            &copy,
            json!({ "status": "failed", "result": "other words" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(retried["result"], "no space left on datastore-2");
    let corrected = expect_status(
        app.end_step(
            &job,
            &copy,
            json!({ "status": "aborted", "force": true, "result": "cancelled by the operator" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (corrected["status"].as_str(), corrected["result"].as_str()),
        (Some("aborted"), Some("cancelled by the operator"))
    );

    // A job's end says how it went too, through the same rules.
    let job2 = app.add_job("import template").await;
    expect_problem(
        app.end_job(&job2, json!({ "status": "finished", "result": "" }))
            .await,
        400,
        "result",
    )
    .await;
    let ended = expect_status(
        app.end_job(
            &job2,
            json!({ "status": "finished", "result": "imported 3 disks" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["result"], "imported 3 disks");
    let again = expect_status(
        app.end_job(&job2, json!({ "succeeded": true, "result": "said again" }))
            .await,
        200,
    )
    .await;
    assert_eq!(again["result"], "imported 3 disks");
    // An end without words keeps what was said.
    let forced = expect_status(
        app.end_job(&job2, json!({ "status": "failed", "force": true }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (forced["status"].as_str(), forced["result"].as_str()),
        (Some("failed"), Some("imported 3 disks"))
    );
    // The event stream carries it like any change.
    let events: i64 = sqlx::query_scalar(
        "select count(*) from event where job_id = $1::uuid and data::text like '%imported 3 disks%'",
    )
    .bind(id(&job2))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(events >= 1);
}
