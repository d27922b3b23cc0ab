//! The event journal and `GET /api/events`: resumable, exactly once, in order, across processes.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use stepwise::http::Settings;
use stepwise::startup::Application;

use crate::helpers::*;

/// A parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<i64>,
    event: String,
    data: Value,
}

/// An open event stream.
struct Subscription {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Subscription {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<i64>) -> Subscription {
        let mut request = app
            .client
            .get(app.url(&format!("/api/events{query}")))
            .bearer_auth(&app.token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Subscription {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or None after `wait` of silence.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        sse.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        sse.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && sse.id.is_none() {
                    continue; // a comment
                }
                sse.data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some(sse);
            }
            match tokio::time::timeout(wait, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Whether the server ends the stream within `wait` (events and comments before the end are
    /// passed over).
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(None | Some(Err(_))) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Events until `count` have arrived (panics after 10 s of silence).
    async fn take(&mut self, count: usize) -> Vec<Sse> {
        let mut out = Vec::new();
        while out.len() < count {
            match self.next(Duration::from_secs(10)).await {
                Some(e) => out.push(e),
                None => panic!("only {} of {count} events arrived: {out:?}", out.len()),
            }
        }
        out
    }
}

/// End the step, then its job, both `finished`.
async fn finish_step_then_job(app: &TestApp, job: &Value, step: &Value) {
    let step_end = app
        .end_step(job, step, json!({ "status": "finished" }))
        .await;
    expect_status(step_end, 200).await;
    expect_status(app.end_job(job, json!({ "status": "finished" })).await, 200).await;
}

/// A second server process on the same database, with its own connection pool.
async fn second_process(app: &TestApp) -> TestApp {
    let options = app.pool.connect_options().as_ref().clone();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await
        .unwrap();
    let settings = Settings {
        export_dir: app.exports.path().to_path_buf(),
        ..Settings::default()
    };
    let server = Application::for_tests(pool.clone(), settings)
        .await
        .unwrap();
    let base = format!("http://{}", server.address());
    let stop = run(server);
    let other = TestApp {
        base,
        client: reqwest::Client::new(),
        token: String::new(),
        pool,
        stop: Some(stop),
        exports: app.exports.clone(),
    };
    let token = other.sign_in(ADMIN, PASSWORD).await;
    other.as_token(&token)
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_change_through_one_process_reaches_a_subscriber_of_another(pool: PgPool) {
    let one = spawn_app(pool).await;
    let two = second_process(&one).await;
    let mut sub = Subscription::open(&two, "", None).await;
    let job = one.add_job("made on process one").await;
    let step = one.add_top_step(&job, "a step").await;
    let events = sub.take(2).await;
    assert_eq!(events[0].event, "job.created");
    assert_eq!(events[0].data["data"]["description"], "made on process one");
    assert_eq!(events[0].data["data"]["owner_name"], ADMIN);
    assert_eq!(events[1].event, "step.created");
    assert_eq!(events[1].data["data"]["id"], step["id"]);
    assert_eq!(events[1].data["data"]["type"], "executing");
    assert!(events[1].id.unwrap() > events[0].id.unwrap());
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn resuming_with_last_event_id_yields_exactly_the_missed_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut sub = Subscription::open(&app, "", None).await;
    let job = app.add_job("j").await;
    let seen = sub.take(1).await;
    let last = seen[0].id.unwrap();
    drop(sub);
    // While disconnected: a step, its progress, its end, the job's end.
    let step = app.add_top_step(&job, "s").await;
    expect_status(
        app.post(
            &format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&step)),
            &json!({ "progress": 50 }),
        )
        .await,
        200,
    )
    .await;
    finish_step_then_job(&app, &job, &step).await;

    // Through a process started since, which holds none of them in memory: from the journal.
    let two = second_process(&app).await;
    let mut resumed = Subscription::open(&two, "", Some(last)).await;
    let missed = resumed.take(4).await;
    let kinds: Vec<&str> = missed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "step.created",
            "step.updated",
            "step.updated",
            "job.updated"
        ]
    );
    assert_eq!(missed[1].data["data"]["progress"], 50);
    assert_eq!(missed[3].data["data"]["status"], "finished");
    let ids: Vec<i64> = missed.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > last);
    assert!(
        resumed.next(Duration::from_millis(600)).await.is_none(),
        "nothing twice"
    );

    // The query parameter works as the header does.
    let mut by_query = Subscription::open(&app, &format!("?last_event_id={last}"), None).await;
    assert_eq!(by_query.take(4).await.len(), 4);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_subscriber_back_while_others_follow_resumes_from_memory(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut watcher = Subscription::open(&app, "", None).await;
    let mut sub = Subscription::open(&app, "", None).await;
    let job = app.add_job("j").await;
    let last = sub.take(1).await[0].id.unwrap();
    drop(sub);
    let step = app.add_top_step(&job, "s").await;
    finish_step_then_job(&app, &job, &step).await;
    let seen = watcher.take(4).await;
    assert_eq!(seen[0].id, Some(last));
    // The hub keeps what it has broadcast: a subscriber coming back from a position among those
    // needs no query, so the journal may even have lost them.
    sqlx::query("delete from event where seq > $1")
        .bind(last)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut resumed = Subscription::open(&app, "", Some(last)).await;
    let missed = resumed.take(3).await;
    let ids = |events: &[Sse]| events.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&missed), ids(&seen[1..]));
    assert_eq!(missed[2].data, seen[3].data);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());
    // And follows on from there.
    let later = app.add_job("later").await;
    assert_eq!(resumed.take(1).await[0].data["data"]["id"], later["id"]);
    // A filter applies to what memory holds as to the journal.
    let filtered = format!("?job_id={}&last_event_id={last}", id(&later));
    let mut only_later = Subscription::open(&app, &filtered, None).await;
    let events = only_later.take(1).await;
    assert_eq!(events[0].data["data"]["id"], later["id"]);
    assert!(only_later.next(Duration::from_millis(300)).await.is_none());
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_event_spells_its_job_or_step_as_the_rest_api_does(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut live = Subscription::open(&app, "", None).await;
    let job = app.add_job("copy disks").await;
    let step = app.add_top_step(&job, "disk 1").await;
    let path = format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&step));
    expect_status(app.post(&path, &json!({ "progress": 40 })).await, 200).await;
    // A change of the job's own while its step reports 40 %: the job as the answer gives it.
    let cleared = app
        .post(&format!("/api/jobs/{}/clear", id(&job)), &json!({}))
        .await;
    let cleared = expect_status(cleared, 200).await;
    assert_eq!(cleared["progress"], 40);
    finish_step_then_job(&app, &job, &step).await;
    let (read_job, read_step) = (app.job(&job).await, app.step(&job, &step).await);
    let events = live.take(6).await;
    let replayed = Subscription::open(&app, "", Some(0)).await.take(6).await;
    for (how, events) in [("live", events), ("replayed", replayed)] {
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "job.created",
                "step.created",
                "step.updated",
                "job.updated",
                "step.updated",
                "job.updated"
            ],
            "{how}"
        );
        assert_eq!(events[3].data["data"], cleared, "{how}");
        assert_eq!(events[4].data["data"], read_step, "{how}");
        assert_eq!(events[5].data["data"], read_job, "{how}");
        // The job as created: its times in the same spelling as the job read later.
        assert_eq!(
            events[0].data["data"]["start_time"], read_job["start_time"],
            "{how}"
        );
        assert_eq!(
            events[1].data["data"]["parent_step_id"],
            Value::Null,
            "{how}"
        );
        assert!(
            events[1].data["data"]
                .as_object()
                .unwrap()
                .contains_key("parent_step_id"),
            "{how}"
        );
    }
}

/// A step without progress of its own shows its sub-steps' roll-up, in reads and in events alike:
/// a change below moves every such step above it, each with an event of its own, outermost first,
/// each as a read then gives it.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_parent_steps_events_carry_the_progress_its_sub_steps_roll_up_to(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut live = Subscription::open(&app, "", None).await;
    let job = app.add_job("copy disks").await;
    let top = app.add_top_step(&job, "copy").await;
    let mid = app.add_sub_step(&job, &top, "disks").await;
    let a = app.add_sub_step(&job, &mid, "disk 1").await;
    let b = app.add_sub_step(&job, &mid, "disk 2").await;
    // Nothing tells yet: adding moves no roll-up.
    let kinds: Vec<String> = live.take(5).await.into_iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            "job.created",
            "step.created",
            "step.created",
            "step.created",
            "step.created"
        ]
    );
    let seen = |events: &[Sse]| -> Vec<(String, String, Value)> {
        events
            .iter()
            .map(|e| {
                let data = &e.data["data"];
                (
                    e.event.clone(),
                    data["id"].as_str().unwrap().to_owned(),
                    data["progress"].clone(),
                )
            })
            .collect()
    };
    let step =
        |s: &Value, kind: &str, progress: Value| (kind.to_owned(), id(s).to_owned(), progress);

    let path = format!("/api/jobs/{}/steps/{}/progress", id(&job), id(&a));
    expect_status(app.post(&path, &json!({ "progress": 50 })).await, 200).await;
    let events = live.take(3).await;
    assert_eq!(
        seen(&events),
        [
            step(&top, "step.updated", json!(25)),
            step(&mid, "step.updated", json!(25)),
            step(&a, "step.updated", json!(50)),
        ],
        "(50 + 0) / 2 on both levels above"
    );

    expect_status(
        app.end_step(&job, &b, json!({ "status": "finished" }))
            .await,
        200,
    )
    .await;
    let events = live.take(3).await;
    assert_eq!(
        seen(&events),
        [
            step(&top, "step.updated", json!(75)),
            step(&mid, "step.updated", json!(75)),
            step(&b, "step.updated", json!(null)),
        ],
        "(50 + 100) / 2"
    );
    assert_eq!(events[0].data["data"], app.step(&job, &top).await);
    assert_eq!(events[1].data["data"], app.step(&job, &mid).await);

    // A third sub-step divides by three.
    let c = app.add_sub_step(&job, &mid, "disk 3").await;
    let events = live.take(3).await;
    assert_eq!(
        seen(&events),
        [
            step(&top, "step.updated", json!(50)),
            step(&mid, "step.updated", json!(50)),
            step(&c, "step.created", json!(null)),
        ],
        "(50 + 100 + 0) / 3"
    );
    assert_eq!(events[1].data["data"], app.step(&job, &mid).await);
    // The rest of the tree did not move: nothing more to tell.
    assert!(live.next(Duration::from_millis(300)).await.is_none());
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn filters_select_a_job_or_the_external_ones(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.add_job("a").await;
    let b = app.add_job("b").await;
    let mut only_b = Subscription::open(&app, &format!("?job_id={}", id(&b)), Some(0)).await;
    let mut internal = Subscription::open(&app, "?external=false", Some(0)).await;
    app.add_top_step(&a, "on a").await;
    app.add_top_step(&b, "on b").await;
    let events = only_b.take(2).await;
    assert!(
        events.iter().all(|e| e.data["job_id"] == b["id"]),
        "{events:?}"
    );
    assert!(
        internal.next(Duration::from_millis(800)).await.is_none(),
        "no internal jobs exist"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_position_older_than_the_journal_gets_resync(pool: PgPool) {
    let app = spawn_app(pool).await;
    for i in 0..3 {
        app.add_job(&format!("{i}")).await;
    }
    // Wait until they are numbered, then forget them.
    let mut sub = Subscription::open(&app, "", Some(0)).await;
    sub.take(3).await;
    sqlx::query("delete from event")
        .execute(&app.pool)
        .await
        .unwrap();
    app.add_job("after the purge").await;
    // A process started now remembers nothing older than its start (the first, whose hub had a
    // subscriber, may still hold them in memory and would rightly replay them).
    let two = second_process(&app).await;
    let mut old = Subscription::open(&two, "", Some(1)).await;
    let first = old.take(1).await.remove(0);
    assert_eq!(first.event, "resync");
    assert!(first.id.is_some());
}

/// An API token for a new user holding `roles`: (user id, token id, secret).
async fn api_token_of_new_user(
    app: &TestApp,
    name: &str,
    roles: &[&str],
) -> (String, String, String) {
    let (user_id, _) = app.user_with_roles(name, roles).await;
    let token = expect_status(
        app.post("/api/tokens", &json!({ "name": name, "user_id": user_id }))
            .await,
        201,
    )
    .await;
    let secret = token["token"].as_str().unwrap().to_owned();
    (user_id, id(&token).to_owned(), secret)
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_open_stream_ends_once_its_credential_no_longer_lets_it_follow(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut admins = Subscription::open(&app, "", None).await;
    let (_, token_id, secret) = api_token_of_new_user(&app, "revoked", &["TaskViewer"]).await;
    let revoked = app.as_token(&secret);
    let (disabled_id, disabled_token) = app.user_with_roles("disabled", &["TaskViewer"]).await;
    let disabled = app.as_token(&disabled_token);
    let (demoted_id, demoted_token) = app.user_with_roles("demoted", &["TaskViewer"]).await;
    let demoted = app.as_token(&demoted_token);
    let mut streams = [
        Subscription::open(&revoked, "", None).await,
        Subscription::open(&disabled, "", None).await,
        Subscription::open(&demoted, "", None).await,
    ];
    // Each follows until its credential goes.
    let job = app.add_job("seen by all").await;
    for stream in &mut streams {
        let seen = stream.take(1).await;
        assert_eq!(seen[0].data["data"]["id"], job["id"]);
    }
    let [mut of_revoked, mut of_disabled, mut of_demoted] = streams;

    assert_eq!(
        app.delete(&format!("/api/tokens/{token_id}"))
            .await
            .status(),
        204
    );
    assert!(
        of_revoked.ends_within(Duration::from_secs(3)).await,
        "revoked token"
    );
    assert!(!of_disabled.ends_within(Duration::from_millis(200)).await);
    assert!(!of_demoted.ends_within(Duration::from_millis(200)).await);

    let disable = format!("/api/users/{disabled_id}/disable");
    expect_status(app.post(&disable, &json!({})).await, 200).await;
    assert!(
        of_disabled.ends_within(Duration::from_secs(3)).await,
        "disabled user"
    );
    assert!(!of_demoted.ends_within(Duration::from_millis(200)).await);

    let detach = format!("/api/users/{demoted_id}/roles/TaskViewer");
    assert_eq!(app.delete(&detach).await.status(), 200);
    assert!(
        of_demoted.ends_within(Duration::from_secs(3)).await,
        "VIEW_TASKS taken away"
    );

    // Coming back is refused, saying why; the administrator's stream went on throughout.
    let again = |who: &TestApp| {
        who.client
            .get(who.url("/api/events"))
            .bearer_auth(&who.token)
            .send()
    };
    expect_problem(again(&revoked).await.unwrap(), 401, "revoked").await;
    assert_eq!(again(&disabled).await.unwrap().status(), 401);
    assert_eq!(again(&demoted).await.unwrap().status(), 403);
    let later = app.add_job("seen by the administrator").await;
    let seen = admins.take(2).await;
    assert_eq!(seen[1].data["data"]["id"], later["id"]);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_token_revoked_through_another_process_ends_its_stream_there_too(pool: PgPool) {
    let one = spawn_app(pool).await;
    let two = second_process(&one).await;
    let (_, token_id, secret) = api_token_of_new_user(&one, "plug-in", &["TaskViewer"]).await;
    let mut stream = Subscription::open(&two.as_token(&secret), "", None).await;
    assert_eq!(
        one.delete(&format!("/api/tokens/{token_id}"))
            .await
            .status(),
        204
    );
    // Process two is not told: it checks the token again within ten seconds.
    assert!(stream.ends_within(Duration::from_secs(15)).await);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn events_need_view_tasks(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, token) = app.user_with_roles("nobody-special", &[]).await;
    let response = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = app.client.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(&app.token)
        .header("Last-Event-ID", "x")
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "Last-Event-ID").await;
}

/// `count` transactions that each write a job (so its event) at once and commit late: the first
/// after 300 ms, each next one `stagger_ms` later. Their jobs' descriptions start with "held".
async fn held_jobs(pool: &PgPool, count: u64, stagger_ms: u64) {
    let owner: uuid::Uuid = sqlx::query_scalar("select id from app_user where username = 'admin'")
        .fetch_one(pool)
        .await
        .unwrap();
    futures::future::join_all((0..count).map(|i| async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("insert into job (id, description, status, is_external, owner) values ($1, $2, 'started', true, $3)")
            .bind(uuid::Uuid::now_v7())
            .bind(format!("held {i}"))
            .bind(owner)
            .execute(&mut *tx)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300 + stagger_ms * i)).await;
        tx.commit().await.unwrap();
    }))
    .await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn out_of_order_commits_reach_a_subscriber_exactly_once_in_sequence_order(pool: PgPool) {
    let one = spawn_app(pool).await;
    let two = second_process(&one).await;
    let mut sub = Subscription::open(&two, "", None).await;
    // Transactions that write an event early and commit late, while others commit around them.
    let held = held_jobs(&one.pool, 4, 150);
    let writers = (0..40).map(|i| {
        let app = if i % 2 == 0 { &one } else { &two };
        async move {
            app.add_job(&format!("quick {i}")).await;
        }
    });
    futures::future::join(held, futures::future::join_all(writers)).await;

    let events = sub.take(44).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous, in order, once: {ids:?}"
    );
    let held_seen = events
        .iter()
        .filter(|e| {
            e.data["data"]["description"]
                .as_str()
                .unwrap()
                .starts_with("held")
        })
        .count();
    assert_eq!(held_seen, 4);
    assert!(
        sub.next(Duration::from_millis(800)).await.is_none(),
        "nothing twice"
    );
}

/// New running steps are written in shared transactions (which can number their own events, see
/// `step_batch::NUMBER_OWN_EVENTS`), jobs alone. Mixed, across two processes and with transactions
/// that commit late, every event still arrives once, in sequence order, and each job's creation
/// comes before its steps'.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn step_events_numbered_by_their_writer_keep_commit_order(pool: PgPool) {
    let one = spawn_app(pool).await;
    let two = second_process(&one).await;
    let mut sub = Subscription::open(&two, "", None).await;
    let held = held_jobs(&one.pool, 2, 200);
    // Each writer makes a job, then two steps under it at once (both join a shared transaction).
    let writers = (0..24).map(|i| {
        let app = if i % 2 == 0 { &one } else { &two };
        async move {
            let job = app.add_job(&format!("quick {i}")).await;
            futures::future::join(
                app.add_top_step(&job, "first"),
                app.add_top_step(&job, "second"),
            )
            .await;
        }
    });
    futures::future::join(held, futures::future::join_all(writers)).await;

    let events = sub.take(2 + 24 * 3).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous, in order, once: {ids:?}"
    );
    let mut created = std::collections::HashSet::new();
    let mut steps = 0;
    for e in &events {
        let job = e.data["job_id"].as_str().unwrap().to_owned();
        match e.event.as_str() {
            "job.created" => assert!(created.insert(job), "one creation per job"),
            "step.created" => {
                assert!(
                    created.contains(&job),
                    "a step's event came before its job's: {events:?}"
                );
                steps += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created.len(), steps), (26, 48));
    assert!(
        sub.next(Duration::from_millis(800)).await.is_none(),
        "nothing twice"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn retention_forgets_exactly_the_events_older_than_it_keeps(pool: PgPool) {
    let app = spawn_app(pool).await;
    for i in 0..5 {
        app.add_job(&format!("{i}")).await;
    }
    let mut sub = Subscription::open(&app, "", Some(0)).await;
    let seen = sub.take(5).await;
    let third = seen[2].id.unwrap();
    // The first three are two days old; a day is kept.
    sqlx::query("update event set at = now() - interval '2 days' where seq <= $1")
        .bind(third)
        .execute(&app.pool)
        .await
        .unwrap();
    let engine = app::service::Engine::new(app.pool.clone());
    let purged = engine
        .purge_journal(chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    let left: Vec<i64> = sqlx::query_scalar("select seq from event order by seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        seen[3..].iter().map(|e| e.id.unwrap()).collect::<Vec<_>>()
    );
    // When everything is old, everything numbered goes.
    sqlx::query("update event set at = now() - interval '2 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        engine
            .purge_journal(chrono::Duration::days(1))
            .await
            .unwrap(),
        2
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_burst_while_the_subscriber_reads_nothing_arrives_whole_and_in_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut sub = Subscription::open(&app, "", None).await;
    let first = app.add_job("first").await;
    let seen = sub.take(1).await;
    assert_eq!(seen[0].data["data"]["id"], first["id"]);
    let from = seen[0].id.unwrap();
    // A burst of 30,000 new jobs (about 10 MB of events, seven times the hub's in-memory broadcast)
    // while the subscriber reads nothing: they arrive gathered into large chunks, every one once
    // and in order.
    let count = 30_000;
    sqlx::query(
        "insert into job (id, description, status, is_external, owner)
         select gen_random_uuid(), 'bulk ' || g, 'started', true,
                (select id from app_user where username = 'admin')
           from generate_series(1, $1) g",
    )
    .bind(count as i64)
    .execute(&app.pool)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = sub.take(count).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    let expected: Vec<i64> = (from + 1..=from + count as i64).collect();
    assert!(ids == expected, "events out of order, missing or repeated");
    assert!(events.iter().all(|e| e.event == "job.created"));
    assert_eq!(events[count - 1].data["data"]["description"], "bulk 30000");
}
