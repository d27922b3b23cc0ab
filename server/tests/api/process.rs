//! The `stepwise` binary itself, started as a person starts it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::*;

/// The first line of the answer to `request` on a new connection, which stays open.
async fn status_line(address: &str, request: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await {
            Ok(Ok(1)) => line.push(byte[0]),
            _ => break,
        }
    }
    (stream, String::from_utf8_lossy(&line).trim().to_owned())
}

/// Started from a shell whose soft limit on open files is low (1,024 is usual; 256 here), the
/// server raises it to the hard limit: it kept accepting connections past it — event streams and
/// `/healthz` alike — where it used to stop accepting anything.
#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_server_serves_more_streams_than_the_shells_soft_limit_on_open_files(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let mut url = reqwest::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&format!("/{database}"));
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .unwrap();
    let exports = export_dir();
    let mut server = tokio::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\"",
            env!("CARGO_BIN_EXE_stepwise"),
        ])
        .env("DATABASE_URL", url.as_str())
        .env("STEPWISE_BIND", "127.0.0.1:0")
        .env("STEPWISE_SITE_ROOT", site.path())
        .env("STEPWISE_EXPORT_DIR", exports.path())
        .env("STEPWISE_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // It prints its address once it serves (after what it did on the way: the administrator).
    let serving = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the server printed its address");
            if line.contains("serving at") {
                return line;
            }
        }
    })
    .await
    .expect("the server printed its address within a minute");
    let address = serving
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.id().unwrap())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = open_files.split_whitespace().collect();
    assert_eq!(
        fields[3], fields[4],
        "soft limit raised to the hard one: {open_files}"
    );

    let token: Value = reqwest::Client::new()
        .post(format!("http://{address}/ovirt-engine/sso/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("scope", "ovirt-app-api"),
            ("username", ADMIN),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    let mut streams = Vec::new();
    for _ in 0..400 {
        let (stream, line) = status_line(&address, &request).await;
        assert_eq!(line, "HTTP/1.1 200 OK", "stream {}", streams.len() + 1);
        streams.push(stream);
    }
    let (_, health) = status_line(&address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(health, "HTTP/1.1 200 OK", "with 400 streams open");
    drop(streams);
    server.kill().await.unwrap();
}
