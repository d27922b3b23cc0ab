//! `stepwise-bench`: measures a running Stepwise over HTTP — writes at 1/8/32 clients, reads at scale,
//! event delivery lag, server memory. Prints Markdown tables. Run it through `scripts/bench.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// The server to measure.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Its database (for seeding the read tests).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, env = "STEPWISE_ADMIN_PASSWORD")]
    password: String,
    /// Seconds per write measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Jobs seeded for the read tests (steps: five per job).
    #[arg(long, default_value_t = 1_000_000)]
    jobs: i64,
    /// The server's process id, for its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Run only one part: `reads`, `writes` or `events`.
    #[arg(long)]
    only: Option<String>,
    /// Of the writes, only this operation (`add job`, `add step`, `end step` or `set progress`),
    /// for profiling.
    #[arg(long)]
    op: Option<String>,
    /// Of the writes, only with this many clients, for profiling.
    #[arg(long)]
    clients: Option<usize>,
    /// A pgbench script inserting one step-shaped row: run first at 1, 8 and 32 clients against
    /// `--database-url`, as the limit the writes are compared with.
    #[arg(long)]
    pgbench_script: Option<std::path::PathBuf>,
}

/// Processor time in clock ticks, read from /proc: the machine's, and each party's to a
/// measurement — the database (every `postgres` process, with the time of exited backends that its
/// postmaster has reaped), the server, and this program with the children it has waited for
/// (pgbench).
#[derive(Clone, Copy, Default)]
struct Cpu {
    busy: u64,
    total: u64,
    database: u64,
    server: u64,
    generator: u64,
}

impl Cpu {
    fn now(server_pid: Option<u32>) -> Cpu {
        use procfs::process::Process;
        use procfs::CurrentSI;
        let mut cpu = Cpu::default();
        if let Ok(stats) = procfs::KernelStats::current() {
            let t = stats.total;
            cpu.busy = t.user + t.nice + t.system + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0);
            cpu.total = cpu.busy + t.idle + t.iowait.unwrap_or(0) + t.steal.unwrap_or(0);
        }
        let with_children = |s: &procfs::process::Stat| {
            s.utime + s.stime + u64::try_from(s.cutime + s.cstime).unwrap_or(0)
        };
        if let Ok(all) = procfs::process::all_processes() {
            cpu.database = all
                .flatten()
                .filter_map(|p| p.stat().ok())
                .filter(|s| s.comm == "postgres")
                .map(|s| with_children(&s))
                .sum();
        }
        cpu.server = server_pid
            .and_then(|pid| Process::new(pid as i32).and_then(|p| p.stat()).ok())
            .map(|s| s.utime + s.stime)
            .unwrap_or(0);
        cpu.generator = Process::myself()
            .and_then(|p| p.stat())
            .map(|s| with_children(&s))
            .unwrap_or(0);
        cpu
    }

    /// What was spent since `before`: the machine's busy share, and each party's microseconds of
    /// processor time per request, as Markdown cells.
    fn cells_since(&self, before: &Cpu, requests: usize, server: bool) -> String {
        let tick_us = 1e6 / procfs::ticks_per_second() as f64;
        let per = |after: u64, before: u64| {
            (after.saturating_sub(before)) as f64 * tick_us / requests.max(1) as f64
        };
        let busy = 100.0 * self.busy.saturating_sub(before.busy) as f64
            / self.total.saturating_sub(before.total).max(1) as f64;
        let server = if server {
            format!(" {:.0} |", per(self.server, before.server))
        } else {
            String::new()
        };
        format!(
            "{busy:.0} % | {:.0} |{server} {:.0} |",
            per(self.database, before.database),
            per(self.generator, before.generator)
        )
    }
}

struct Stats {
    count: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
}

fn stats(mut latencies: Vec<Duration>, elapsed: Duration) -> Stats {
    latencies.sort();
    let at = |q: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0
        }
    };
    Stats {
        count: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn rss_mb(pid: Option<u32>) -> String {
    let Some(pid) = pid else { return "n/a".into() };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.0} MB", kb / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

struct Client {
    http: reqwest::Client,
    url: String,
    /// `Bearer <token>`, made once.
    bearer: reqwest::header::HeaderValue,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .json(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(r.json().await?)
    }
    /// A write timed as pgbench's client would: its URL and body made once by the caller, the
    /// answer read to its last byte and its status checked, not parsed. The load generator shares
    /// the two cores with the server and the database, so what it spends per request is taken from
    /// the system it measures.
    async fn post_prepared(&self, url: &str, body: &bytes::Bytes) -> anyhow::Result<()> {
        let r = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = r.status();
        r.bytes().await?;
        anyhow::ensure!(status.is_success(), "{url}: {status}");
        Ok(())
    }
    /// A running step added to the job: its URL.
    async fn add_step(&self, job_id: &str) -> anyhow::Result<String> {
        let step = self
            .post(
                &format!("/api/jobs/{job_id}/steps"),
                &json!({ "description": "s", "type": "executing" }),
            )
            .await?;
        let step = step["id"].as_str().unwrap_or_default();
        Ok(format!("{}/api/jobs/{job_id}/steps/{step}", self.url))
    }
    /// The whole answer, read to its last byte (not parsed).
    async fn get(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(r.bytes().await?)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let token: Value = http
        .post(format!("{}/api/auth/token", args.url))
        .form(&[
            ("grant_type", "password"),
            ("username", args.user.as_str()),
            ("password", args.password.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client = Arc::new(Client {
        http,
        url: args.url.clone(),
        bearer: format!("Bearer {token}").parse()?,
    });
    println!("Server RSS at rest: {}\n", rss_mb(args.server_pid));

    let part = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    let limit = match &args.pgbench_script {
        Some(script) if part("writes") => pgbench(&args, script)?,
        _ => Vec::new(),
    };
    // Reads first, so the newest page shows seeded jobs rather than the write tests' huge ones.
    if part("reads") {
        reads(&client, &args).await?;
    }
    if part("writes") {
        println!("\n### Writes over REST ({} s each)\n", args.seconds);
        println!(
            "Processor time per request, in µs, as read from /proc over the measurement (the \
             database, the server, this load generator), and how busy the machine's cores were.\n"
        );
        println!(
            "| operation | clients | requests/s | × limit | p50 ms | p99 ms | cores busy | \
             database µs | server µs | generator µs |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for op in ["add job", "add step", "end step", "set progress"] {
            if args.op.as_deref().is_some_and(|o| o != op) {
                continue;
            }
            for clients in [1usize, 8, 32] {
                if args.clients.is_some_and(|c| c != clients) {
                    continue;
                }
                let time = Duration::from_secs(args.seconds);
                let (s, before) = writes(&client, op, clients, time, args.server_pid).await?;
                let cpu = Cpu::now(args.server_pid).cells_since(&before, s.count, true);
                let ratio = limit
                    .iter()
                    .find(|(c, _)| *c == clients)
                    .map(|(_, tps)| format!("{:.2}", s.per_second / tps))
                    .unwrap_or_else(|| "n/a".into());
                println!(
                    "| {op} | {clients} | {:.0} | {ratio} | {:.2} | {:.2} | {cpu}",
                    s.per_second, s.p50, s.p99
                );
            }
        }
        println!(
            "\nServer RSS after the writes: {}\n",
            rss_mb(args.server_pid)
        );
    }
    if part("events") {
        events(&client, &args).await?;
    }
    println!("\nServer RSS at the end: {}", rss_mb(args.server_pid));
    Ok(())
}

/// The limit: pgbench running `script` (one durable single-row insert per transaction) at 1, 8
/// and 32 clients; answers each client count's transactions per second.
fn pgbench(args: &Args, script: &std::path::Path) -> anyhow::Result<Vec<(usize, f64)>> {
    println!(
        "### The limit: PostgreSQL's own durable single-row insert of a step-shaped row (pgbench, {} s)\n",
        args.seconds
    );
    println!("| clients | transactions/s | cores busy | database µs | pgbench µs |\n|---|---|---|---|---|");
    let mut limit = Vec::new();
    for clients in [1usize, 8, 32] {
        if args.clients.is_some_and(|c| c != clients) {
            continue;
        }
        let before = Cpu::now(None);
        let out = std::process::Command::new("pgbench")
            .args(["-n", "-j", "2", "-c", &clients.to_string()])
            .args(["-T", &args.seconds.to_string(), "-f"])
            .arg(script)
            .arg(&args.database_url)
            .stderr(std::process::Stdio::null())
            .output()?;
        anyhow::ensure!(out.status.success(), "pgbench failed: {}", out.status);
        let printed = String::from_utf8_lossy(&out.stdout);
        let number = |prefix: &str| {
            printed
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .ok_or_else(|| anyhow::anyhow!("pgbench printed no '{prefix}'"))
        };
        let tps = number("tps = ")?;
        let transactions = number("number of transactions actually processed: ")? as usize;
        // pgbench's backends exit after it: their time reaches the postmaster once it has reaped
        // them (a run once read 2 µs a transaction without this wait).
        let mut after = Cpu::now(None);
        std::thread::sleep(Duration::from_millis(500));
        after.database = Cpu::now(None).database;
        let cpu = after.cells_since(&before, transactions, false);
        println!("| {clients} | {tps:.0} | {cpu}");
        limit.push((clients, tps));
    }
    println!();
    Ok(limit)
}

/// `clients` loops of one write for `time`; answers their figures and the processor time read when
/// the clock started (after every client's set-up).
async fn writes(
    client: &Arc<Client>,
    op: &str,
    clients: usize,
    time: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<(Stats, Cpu)> {
    let all = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(std::sync::Mutex::new(Cpu::default()));
    // Every client finishes its set-up before any starts measuring.
    let ready = Arc::new(tokio::sync::Barrier::new(clients));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let all = all.clone();
        let op = op.to_owned();
        let ready = ready.clone();
        let started = started.clone();
        tasks.push(tokio::spawn(async move {
            let job = client
                .post(
                    "/api/jobs",
                    &json!({ "description": format!("bench {op} {c}") }),
                )
                .await?;
            let job_id = job["id"].as_str().unwrap_or_default().to_owned();
            // The URLs ending the steps made before the clock starts for "end step".
            let mut end_urls = Vec::new();
            if op == "end step" {
                for _ in 0..2000 {
                    end_urls.push(format!("{}/end", client.add_step(&job_id).await?));
                }
            }
            // Each request's URL and bodies, made before the clock starts; a client reporting
            // progress reports on one running step of its own, 0 to 100 and again.
            let (url, bodies) = match op.as_str() {
                "add job" => (
                    format!("{}/api/jobs", client.url),
                    vec![json!({ "description": "bench job" })],
                ),
                "add step" => (
                    format!("{}/api/jobs/{job_id}/steps", client.url),
                    vec![json!({ "description": "bench step", "type": "executing" })],
                ),
                "set progress" => (
                    format!("{}/progress", client.add_step(&job_id).await?),
                    (0..=100).map(|p| json!({ "progress": p })).collect(),
                ),
                _ => (
                    String::new(),
                    vec![json!({ "status": "finished", "fail_job": false })],
                ),
            };
            let bodies = bodies
                .iter()
                .map(|b| Ok(bytes::Bytes::from(serde_json::to_vec(b)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut end_urls = end_urls.into_iter();
            if ready.wait().await.is_leader() {
                *started.lock().unwrap_or_else(|e| e.into_inner()) = Cpu::now(server_pid);
            }
            let mut mine = Vec::new();
            let began = Instant::now();
            while began.elapsed() < time {
                let t = Instant::now();
                let end_url;
                let target = if op == "end step" {
                    let Some(next) = end_urls.next_back() else {
                        break;
                    };
                    end_url = next;
                    &end_url
                } else {
                    &url
                };
                client
                    .post_prepared(target, &bodies[mine.len() % bodies.len()])
                    .await?;
                mine.push(t.elapsed());
            }
            all.lock().await.extend(mine);
            anyhow::Ok(began.elapsed())
        }));
    }
    // The clock runs from the barrier to the last client's last answer (an "end step" client may
    // run out of steps to end before the time is up).
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        elapsed = elapsed.max(t.await??);
    }
    let latencies = std::mem::take(&mut *all.lock().await);
    let started = *started.lock().unwrap_or_else(|e| e.into_inner());
    Ok((stats(latencies, elapsed), started))
}

/// `n` sequential requests, each timed from sending to the answer's last byte (as `curl`'s
/// time_total). Each answer is checked to be JSON after its clock stops: parsing a 3 MB tree takes
/// the load generator, on the same two cores, longer than the server takes to send it.
async fn timed(client: &Client, path: &str, n: usize) -> anyhow::Result<Stats> {
    let mut latencies = Vec::with_capacity(n);
    let mut measured = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let body = client.get(path).await?;
        let took = t.elapsed();
        latencies.push(took);
        measured += took;
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)?;
    }
    Ok(stats(latencies, measured))
}

async fn reads(client: &Arc<Client>, args: &Args) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await?;
    let have: i64 = sqlx::query_scalar("select count(*) from job")
        .fetch_one(&pool)
        .await?;
    if have < args.jobs {
        let t = Instant::now();
        let mut conn = pool.acquire().await?;
        // Seeding bypasses the event triggers (a bulk load is not a change anyone watches).
        sqlx::query("set session_replication_role = replica")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "insert into job (id, description, status, is_external, owner, correlation_id, start_time, end_time, last_updated, auto_cleared, root_count, step_count)
             select gen_random_uuid(), 'seeded job ' || g || case when g % 100 = 0 then ' backup' else '' end,
                    case when g % 10 = 0 then 'failed' when g % 3 = 0 then 'started' else 'finished' end,
                    g % 4 <> 0, (select id from app_user where username = 'admin'), 'corr-' || (g % 5000),
                    now() - make_interval(secs => g), case when g % 3 = 0 and g % 10 <> 0 then null else now() - make_interval(secs => g) + interval '1 minute' end,
                    now(), false, 5, 5
               from generate_series(1, $1) g",
        )
        .bind(args.jobs - have)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "insert into step (id, job_id, parent_step_id, number, depth, step_type, description, status, is_external, start_time, end_time)
             select gen_random_uuid(), j.id, null, n, 1, 'executing', 'seeded step ' || n,
                    case when j.status = 'started' then 'started' else 'finished' end, j.is_external, j.start_time,
                    case when j.status = 'started' then null else j.start_time + interval '1 minute' end
               from job j cross join generate_series(0, 4) n
              where j.description like 'seeded job %'",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("analyze job").execute(&mut *conn).await?;
        sqlx::query("analyze step").execute(&mut *conn).await?;
        println!(
            "\nSeeded {} jobs and {} steps in {:.0} s.",
            args.jobs - have,
            (args.jobs - have) * 5,
            t.elapsed().as_secs_f64()
        );
    }
    // A job with 10,000 steps (100 parents with 99 children each) through the API's rules, in SQL.
    let big = client
        .post("/api/jobs", &json!({ "description": "big tree" }))
        .await?;
    let big_id = big["id"].as_str().unwrap_or_default().to_owned();
    sqlx::query(
        "with parents as (
             insert into step (id, job_id, parent_step_id, number, depth, step_type, description, status, is_external, child_count)
             select gen_random_uuid(), $1::uuid, null, p, 1, 'executing', 'parent ' || p, 'started', true, 99
               from generate_series(0, 99) p returning id)
         insert into step (id, job_id, parent_step_id, number, depth, step_type, description, status, is_external)
         select gen_random_uuid(), $1::uuid, parents.id, c, 2, 'executing', 'child ' || c, 'started', true
           from parents cross join generate_series(0, 98) c",
    )
    .bind(&big_id)
    .execute(&pool)
    .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from job")
        .fetch_one(&pool)
        .await?;
    let steps: i64 = sqlx::query_scalar("select count(*) from step")
        .fetch_one(&pool)
        .await?;
    let middle: (chrono::DateTime<chrono::Utc>, uuid::Uuid) = sqlx::query_as(
        "select start_time, id from job order by start_time desc, id desc offset $1 limit 1",
    )
    .bind(total / 2)
    .fetch_one(&pool)
    .await?;
    let deep = app::service::jobs::encode_cursor(middle.0, middle.1);
    let one: uuid::Uuid =
        sqlx::query_scalar("select id from job where description like 'seeded job %' limit 1")
            .fetch_one(&pool)
            .await?;

    println!("\n### Reads with {total} jobs and {steps} steps (200 sequential requests each)\n");
    println!("| request | p50 ms | p99 ms |\n|---|---|---|");
    let cases = [
        ("first page, no filter", "/api/jobs".to_owned()),
        ("status=failed", "/api/jobs?status=failed".to_owned()),
        ("external=false", "/api/jobs?external=false".to_owned()),
        ("q=backup", "/api/jobs?q=backup".to_owned()),
        (
            "correlation_id=corr-42",
            "/api/jobs?correlation_id=corr-42".to_owned(),
        ),
        ("owner=admin", "/api/jobs?owner=admin".to_owned()),
        (
            "started_before (a day ago)",
            format!(
                "/api/jobs?started_before={}",
                (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ),
        (
            "started_after (a day ago)",
            format!(
                "/api/jobs?started_after={}",
                (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ),
        (
            "deep cursor (middle of the table)",
            format!("/api/jobs?cursor={deep}"),
        ),
        ("get job", format!("/api/jobs/{one}")),
        (
            "get job with steps (5)",
            format!("/api/jobs/{one}?include=steps"),
        ),
        (
            "get 10,000-step job with its tree",
            format!("/api/jobs/{big_id}?include=steps"),
        ),
    ];
    for (name, path) in cases {
        let s = timed(client, &path, 200).await?;
        println!("| {name} | {:.2} | {:.2} |", s.p50, s.p99);
    }
    Ok(())
}

/// 100 subscribers while about 1,000 changes a second are written: delivery lag.
/// The one field of an event the lag needs.
#[derive(serde::Deserialize)]
struct EventTime {
    at: String,
}

async fn events(client: &Arc<Client>, args: &Args) -> anyhow::Result<()> {
    let subscribers = 100;
    let seconds = args.seconds;
    let lags = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut streams = Vec::new();
    for _ in 0..subscribers {
        let response = client
            .http
            .get(format!("{}/api/events", client.url))
            .header(reqwest::header::AUTHORIZATION, &client.bearer)
            .send()
            .await?;
        let lags = lags.clone();
        streams.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            let mut mine = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(seconds + 5);
            while let Ok(Some(Ok(chunk))) =
                tokio::time::timeout_at(deadline.into(), body.next()).await
            {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                        // Only the time is read: the load generator shares the two cores with
                        // what it measures, so it spends as little as it can.
                        if let Ok(event) = serde_json::from_str::<EventTime>(data.trim()) {
                            if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&event.at) {
                                let lag = chrono::Utc::now()
                                    .signed_duration_since(at)
                                    .num_microseconds()
                                    .unwrap_or(0) as f64
                                    / 1000.0;
                                mine.push(lag);
                            }
                        }
                    }
                }
            }
            lags.lock().await.extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Writers: 20 jobs, each with a step whose progress changes 50 times a second.
    let mut writers = Vec::new();
    for w in 0..20 {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            let job = client
                .post(
                    "/api/jobs",
                    &json!({ "description": format!("events {w}") }),
                )
                .await?;
            let job_id = job["id"].as_str().unwrap_or_default().to_owned();
            let step = client
                .post(
                    &format!("/api/jobs/{job_id}/steps"),
                    &json!({ "description": "s", "type": "executing" }),
                )
                .await?;
            let step_id = step["id"].as_str().unwrap_or_default().to_owned();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let began = Instant::now();
            let mut n = 0;
            while began.elapsed() < Duration::from_secs(seconds) {
                tick.tick().await;
                n += 1;
                client
                    .post(
                        &format!("/api/jobs/{job_id}/steps/{step_id}/progress"),
                        &json!({ "progress": n % 101 }),
                    )
                    .await?;
            }
            anyhow::Ok(n)
        }));
    }
    let mut changes = 0;
    for w in writers {
        changes += w.await??;
    }
    for s in streams {
        let _ = s.await;
    }
    let mut lags = std::mem::take(&mut *lags.lock().await);
    lags.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        lags.get(((lags.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "\n### Events: {subscribers} subscribers, {} changes/s for {seconds} s\n",
        changes as u64 / seconds.max(1)
    );
    println!("| deliveries | lag p50 ms | lag p99 ms | max ms |\n|---|---|---|---|");
    println!(
        "| {} | {:.1} | {:.1} | {:.1} |",
        lags.len(),
        q(0.5),
        q(0.99),
        lags.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
