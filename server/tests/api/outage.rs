//! The database going away and coming back: requests get a 503 that says to try again (never a 500
//! or the database's words), and the server carries on by itself once the database answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::helpers::*;

/// A TCP relay between the server and PostgreSQL that the test can cut (every open connection
/// closed, new ones closed at once, as when the database restarts) and restore.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<JoinSet<()>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: (String, u16)) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let accepting = tokio::spawn({
            let down = down.clone();
            let connections = connections.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let target = target.clone();
                    connections.lock().unwrap().spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }
        });
        Relay {
            port,
            down,
            connections,
            accepting,
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.connections.lock().unwrap().abort_all();
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
        self.connections.lock().unwrap().abort_all();
    }
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn while_the_database_is_away_requests_get_503_and_the_server_recovers_by_itself(
    pool: PgPool,
) {
    let direct = pool.connect_options();
    let relay = Relay::start((direct.get_host().to_owned(), direct.get_port())).await;
    let through_relay = (*direct).clone().host("127.0.0.1").port(relay.port);
    let server_pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(through_relay)
        .await
        .unwrap();
    let app = spawn_app(server_pool).await;
    let job = app.add_job("before the outage").await;
    let step = app.add_top_step(&job, "running").await;

    relay.cut();
    // Past the one second for which a checked token is trusted without asking the database.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let job_id = id(&job);
    let attempts = [
        ("list jobs", app.get("/api/jobs").await),
        ("get a job", app.get(&format!("/api/jobs/{job_id}")).await),
        (
            "add a job",
            app.post("/api/jobs", &json!({"description": "x"})).await,
        ),
        (
            "add a step (the shared write)",
            app.post(
                &format!("/api/jobs/{job_id}/steps"),
                &json!({"description": "x", "type": "executing"}),
            )
            .await,
        ),
        (
            "end a step",
            app.end_step(&job, &step, json!({"status": "finished"}))
                .await,
        ),
    ];
    for (what, response) in attempts {
        assert_eq!(response.status().as_u16(), 503, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        assert_eq!(response.headers()["retry-after"], "5", "{what}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["type"], "urn:stepwise:problem:unavailable", "{what}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("try again"), "{what}: {detail}");
        for leaked in ["sqlx", "os error", "connection", "pool"] {
            assert!(!detail.contains(leaked), "{what} leaks {leaked}: {detail}");
        }
    }
    let ovirt = app
        .client
        .get(app.url("/ovirt-engine/api/jobs"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ovirt.status().as_u16(), 503, "oVirt list jobs");
    let fault = ovirt.text().await.unwrap();
    assert!(fault.contains("<fault>"), "{fault}");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 503, "health");

    relay.restore();
    // The pool opens new connections on demand; nothing is restarted.
    let mut listed = None;
    for _ in 0..50 {
        let response = app.get("/api/jobs").await;
        if response.status().as_u16() == 200 {
            listed = Some(response.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = listed.expect("the server answers again once the database is back");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "only the job added before the outage: {listed}"
    );
    assert_eq!(items[0]["id"], job["id"]);

    let after = app.add_top_step(&job, "after the outage").await;
    assert_eq!(
        after["number"].as_i64().unwrap(),
        step["number"].as_i64().unwrap() + 1,
        "nothing was half-written during the outage"
    );
    let ended = app
        .end_step(&job, &step, json!({"status": "finished"}))
        .await;
    expect_status(ended, 200).await;

    // The background sequencer survived too: every event gets its number.
    let mut unnumbered = -1;
    for _ in 0..50 {
        unnumbered = sqlx::query_scalar::<_, i64>("select count(*) from event where seq is null")
            .fetch_one(&pool)
            .await
            .unwrap();
        if unnumbered == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unnumbered, 0, "events left unnumbered after the outage");
}
