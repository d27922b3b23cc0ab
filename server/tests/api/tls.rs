//! HTTPS: the server given a certificate and key (`--tls-cert`, `--tls-key`), as plug-ins that used
//! oVirt's engine reach it, over HTTP/2 and HTTP/1.1.

use std::path::PathBuf;

use futures::StreamExt;
use reqwest::{Certificate, Version};
use serde_json::json;
use sqlx::PgPool;
use stepwise::http::Settings;
use stepwise::startup::{load_tls, Application};

use crate::helpers::*;

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files of their own.
struct Pem {
    /// Removed, with the files, when dropped.
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    cert_pem: String,
}

impl Pem {
    fn new() -> Pem {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("a certificate is made");
        let dir = tempfile::Builder::new()
            .prefix("stepwise-tls-")
            .tempdir()
            .unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let cert_pem = made.cert.pem();
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        Pem {
            dir,
            cert,
            key,
            cert_pem,
        }
    }
}

/// A client that trusts only this certificate, offering HTTP/2 and HTTP/1.1 as browsers do.
fn client_trusting(pem: &Pem, http1_only: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .add_root_certificate(Certificate::from_pem(pem.cert_pem.as_bytes()).unwrap())
        .https_only(true);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

async fn spawn_over_tls(pool: PgPool, pem: &Pem) -> (TestApp, u16) {
    app::service::Engine::new(pool.clone())
        .ensure_admin(ADMIN, PASSWORD)
        .await
        .unwrap();
    let exports = export_dir();
    let settings = Settings {
        export_dir: exports.path().to_path_buf(),
        ..Settings::default()
    };
    let server = Application::for_tests_over(pool.clone(), settings, Some((&pem.cert, &pem.key)))
        .await
        .expect("the server starts with the certificate");
    let port = server.address().port();
    let url = server.url();
    assert_eq!(url, format!("https://127.0.0.1:{port}/"));
    let stop = run(server);
    let mut app = TestApp {
        base: url.trim_end_matches('/').to_owned(),
        client: client_trusting(pem, false),
        token: String::new(),
        pool,
        stop: Some(stop),
        exports: std::sync::Arc::new(exports),
    };
    app.token = app.sign_in(ADMIN, PASSWORD).await;
    (app, port)
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_server_speaks_https_over_http2_and_http1_and_not_plain_http(pool: PgPool) {
    let pem = Pem::new();
    let (app, port) = spawn_over_tls(pool, &pem).await;

    // HTTP/2 (chosen by ALPN): a plug-in's calls, and the event stream.
    let response = app.get("/api/jobs").await;
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let events = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    let job = app.add_job("over HTTP/2").await;
    let step = app.add_top_step(&job, "copying").await;
    let response = app
        .end_step(&job, &step, json!({ "status": "finished" }))
        .await;
    expect_status(response, 200).await;
    let mut seen = String::new();
    while !seen.contains("step.updated") {
        match tokio::time::timeout(std::time::Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream stopped before the step's end: {other:?}; {seen}"),
        }
    }
    assert!(seen.contains(id(&job)), "{seen}");
    // A base URL given with a trailing slash is the same route here too.
    let response = app.get(&format!("/api//jobs/{}/", id(&job))).await;
    assert_eq!(response.status(), 200);

    // HTTP/1.1, as clients without HTTP/2 speak it.
    let http1 = client_trusting(&pem, true);
    let response = http1
        .get(app.url(&format!("/api/jobs/{}?include=steps", id(&job))))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    let body = expect_status(response, 200).await;
    assert_eq!(body["steps"][0]["status"], "finished", "{body}");

    // Plain HTTP on the same port gets no answer: nothing is served unencrypted.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    assert!(
        !matches!(&plain, Ok(r) if r.status().is_success()),
        "{plain:?}"
    );
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_browser_session_over_https_has_a_secure_cookie_and_its_own_origin_is_recognised(
    pool: PgPool,
) {
    let pem = Pem::new();
    let (app, port) = spawn_over_tls(pool, &pem).await;
    let origin = format!("https://127.0.0.1:{port}");
    let job = app.add_job("ended from the browser").await;

    let response = app
        .client
        .post(app.url("/sfn/sign_in"))
        .header("origin", &origin)
        .form(&[("username", ADMIN), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.contains("; Secure"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    // A change riding on the cookie from the server's own origin: over HTTP/2 the host is in the
    // request's authority, not in a Host header, and the origin check must still see it.
    let ended = app
        .client
        .post(app.url(&format!("/api/jobs/{}/end", id(&job))))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .json(&json!({ "status": "aborted" }))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(ended, 200).await["status"], "aborted");
    // Another site's page is refused all the same.
    let forged = app
        .client
        .post(app.url(&format!("/api/jobs/{}/end", id(&job))))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&json!({ "status": "finished", "force": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.job(&job).await["status"], "aborted");
}

#[tokio::test]
async fn a_certificate_or_key_that_cannot_serve_is_refused_naming_the_file() {
    let pem = Pem::new();
    let other = Pem::new();
    let missing = pem.dir.path().join("nowhere.pem");
    let message = |result: anyhow::Result<_>| match result {
        Ok(_) => panic!("taken"),
        Err(e) => format!("{e:#}"),
    };

    let m = message(load_tls(&missing, &pem.key).await);
    assert!(
        m.contains("cannot read the TLS certificate") && m.contains("nowhere.pem"),
        "{m}"
    );
    let m = message(load_tls(&pem.cert, &missing).await);
    assert!(
        m.contains("cannot read the TLS private key") && m.contains("nowhere.pem"),
        "{m}"
    );
    // The files given the wrong way round.
    let m = message(load_tls(&pem.key, &pem.cert).await);
    assert!(m.contains("holds no PEM certificate"), "{m}");
    // A key that belongs to another certificate.
    let m = message(load_tls(&pem.cert, &other.key).await);
    assert!(
        m.contains("cannot be used together") && m.contains(&other.key.display().to_string()),
        "{m}"
    );
    load_tls(&pem.cert, &pem.key).await.expect("the right pair");
}

/// Put this pair's PEM in `into`'s files, as a certificate renewal does.
fn renew(into: &Pem, from: &Pem) {
    std::fs::copy(&from.cert, &into.cert).unwrap();
    std::fs::copy(&from.key, &into.key).unwrap();
}

fn hang_up() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether a client trusting only `pem` gets an answer on a new connection.
async fn trusted_by(pem: &Pem, app: &TestApp) -> bool {
    client_trusting(pem, false)
        .get(app.url("/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn a_renewed_certificate_is_taken_on_sighup_and_a_broken_one_is_not(pool: PgPool) {
    let pem = Pem::new();
    let (app, _) = spawn_over_tls(pool, &pem).await;
    let job = app.add_job("across the renewal").await;
    let renewed = Pem::new();
    assert!(!trusted_by(&renewed, &app).await);

    renew(&pem, &renewed);
    hang_up();
    let mut taken = false;
    for _ in 0..50 {
        if trusted_by(&renewed, &app).await {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(taken, "the renewed certificate was not served after SIGHUP");
    // The connection opened under the old certificate carries on (a new one could not: its client
    // trusts only the old certificate).
    assert_eq!(app.job(&job).await["description"], "across the renewal");

    // A broken renewal is refused; the certificate in use stays.
    std::fs::write(&pem.cert, "not a certificate").unwrap();
    hang_up();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(trusted_by(&renewed, &app).await);
}
