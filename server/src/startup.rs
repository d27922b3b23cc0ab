//! Building the application: database, migrations, first administrator, router, listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::service::commands::CommandRunner;
use app::service::users::{generate_password, AdminBootstrap};
use app::service::Engine;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::util::MapRequestLayer;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::events::EventHub;
use crate::http::{self, AppState, Settings};

/// The migrations of `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub struct Application {
    listener: TcpListener,
    router: Router,
    address: SocketAddr,
    /// Set when the server speaks HTTPS (`--tls-cert`, `--tls-key`).
    tls: Option<Tls>,
    /// Tells long-lived work (event streams, background loops) to stop.
    stop: watch::Sender<bool>,
}

impl Application {
    /// Everything the `stepwise` binary does before serving.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let index = crate::site::check(&config.site_root)?;
        // Read before anything is written, so a wrong path costs nothing.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Tls::load(cert, key).await?),
            _ => None,
        };
        let pool = connect(&config.database_url, config.db_max_connections).await?;
        MIGRATOR
            .run(&pool)
            .await
            .context("applying the database migrations failed")?;
        let engine = Engine::new(pool.clone());
        bootstrap_admin(&engine, &config).await?;
        let settings = Settings {
            token_ttl: chrono::Duration::seconds(config.token_ttl_seconds.max(60)),
            session_ttl: chrono::Duration::seconds(config.session_ttl_seconds.max(60)),
            event_retention: chrono::Duration::hours(config.event_retention_hours.max(1)),
            audit_retention: chrono::Duration::days(config.audit_retention_days.clamp(1, 36_500)),
            export_retention: chrono::Duration::hours(
                config.export_retention_hours.clamp(1, 876_000),
            ),
            pacing: crate::background::Pacing {
                retention_interval: std::time::Duration::from_secs(
                    config.retention_interval_seconds.max(1),
                ),
                retention_finished_minutes: config.retention_finished_minutes.max(0),
                retention_unsuccessful_minutes: config.retention_unsuccessful_minutes.max(0),
                ..Default::default()
            },
            export_dir: config.export_dir.clone(),
            command_workers: config.command_workers.max(1),
            tls: tls.is_some(),
        };
        let (stop, stopped) = watch::channel(false);
        let router = app_router(engine, settings, stopped).await?;
        let router = crate::site::serve(router, &config.site_root, index);
        Application::bind(config.bind, router, stop, tls).await
    }

    /// Serve an already migrated pool without a UI (the test harness).
    pub async fn for_tests(pool: PgPool, settings: Settings) -> anyhow::Result<Application> {
        Application::for_tests_over(pool, settings, None).await
    }

    /// The same, over HTTPS when given a certificate and key (PEM files, read as `--tls-cert` and
    /// `--tls-key` are).
    pub async fn for_tests_over(
        pool: PgPool,
        mut settings: Settings,
        tls: Option<(&Path, &Path)>,
    ) -> anyhow::Result<Application> {
        let tls = match tls {
            Some((cert, key)) => Some(Tls::load(cert, key).await?),
            None => None,
        };
        settings.tls = tls.is_some();
        let engine = Engine::new(pool);
        let (stop, stopped) = watch::channel(false);
        let router = app_router(engine, settings, stopped).await?;
        let address = "127.0.0.1:0".parse().expect("static address");
        Application::bind(address, router, stop, tls).await
    }

    async fn bind(
        address: SocketAddr,
        router: Router,
        stop: watch::Sender<bool>,
        tls: Option<Tls>,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(address).await.with_context(|| {
            format!("cannot listen on {address} (is another server using it? set STEPWISE_BIND)")
        })?;
        let address = listener.local_addr()?;
        Ok(Application {
            listener,
            router,
            address,
            stop,
            tls,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the server answers: `http://` or `https://`, the address, `/`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.address)
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Paths are made clean before the router picks a route (`http::normalize_api_path`).
        let router = self.router;
        let stop = self.stop;
        let stopped = stop.subscribe();
        let shutdown = async move {
            shutdown.await;
            // End event streams and background loops, so open connections can finish.
            let _ = stop.send(true);
        };
        let Some(tls) = self.tls else {
            let service =
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(MapRequestLayer::new(http::normalize_api_path).layer(router));
            return axum::serve(self.listener, service)
                .with_graceful_shutdown(shutdown)
                .await
                .context("the server stopped with an error");
        };
        // HTTPS: axum-server does the handshakes (each on its connection's task, with a time limit)
        // and offers HTTP/2 and HTTP/1.1 by ALPN; stopping is as graceful as without TLS.
        let handle = axum_server::Handle::new();
        let signal = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal.graceful_shutdown(None);
        });
        #[cfg(unix)]
        tls.reload_on_hangup(stopped)?;
        #[cfg(not(unix))]
        drop(stopped);
        axum_server::from_tcp_rustls(self.listener.into_std()?, tls.config)?
            .handle(handle)
            .serve(
                axum::ServiceExt::<_>::into_make_service_with_connect_info::<SocketAddr>(
                    MapRequestLayer::new(http::normalize_api_path).layer(router),
                ),
            )
            .await
            .context("the server stopped with an error")
    }
}

/// The certificate chain and private key the server speaks HTTPS with, and the files they came from.
#[derive(Clone)]
struct Tls {
    config: RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    async fn load(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        Ok(Tls {
            config: load_tls(cert, key).await?,
            cert: cert.to_owned(),
            key: key.to_owned(),
        })
    }

    /// On SIGHUP, read both files again (a renewed certificate) and use them for new connections;
    /// open connections carry on. A pair that cannot be used is logged and the one in use kept.
    #[cfg(unix)]
    fn reload_on_hangup(&self, mut stopped: watch::Receiver<bool>) -> anyhow::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before serving begins, so no hang-up is missed (or taken as the default: exit).
        let mut hangups =
            signal(SignalKind::hangup()).context("listening for SIGHUP (to reload TLS) failed")?;
        let tls = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    received = hangups.recv() => if received.is_none() { return },
                }
                match load_tls(&tls.cert, &tls.key).await {
                    Ok(fresh) => {
                        tls.config.reload_from_config(fresh.get_inner());
                        tracing::info!(cert = %tls.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "TLS certificate not reloaded; the one in use stays"
                    ),
                }
            }
        });
        Ok(())
    }
}

/// The certificate chain and private key for HTTPS, from PEM files; each failure names the file.
pub async fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    let cert_pem = tokio::fs::read(cert)
        .await
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    let key_pem = tokio::fs::read(key)
        .await
        .with_context(|| format!("cannot read the TLS private key {}", key.display()))?;
    if !String::from_utf8_lossy(&cert_pem).contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!(
            "the TLS certificate {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        );
    }
    RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .with_context(|| {
            format!(
                "the TLS certificate {} and private key {} cannot be used together",
                cert.display(),
                key.display()
            )
        })
}

async fn app_router(
    engine: Engine,
    settings: Settings,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<Router> {
    let engine = engine
        .with_retention_defaults(settings.pacing.retention_defaults())
        .register_process()
        .await
        .map_err(|e| anyhow::anyhow!("registering the server process failed: {e}"))?;
    let commands = CommandRunner::new(
        engine.clone(),
        settings.command_workers,
        settings.export_dir.clone(),
    );
    crate::background::spawn(
        engine.clone(),
        commands.clone(),
        settings.pacing.clone(),
        stopped.clone(),
    );
    let events = EventHub::start(engine.clone(), stopped.clone())
        .await
        .context("listening for events on PostgreSQL failed")?;
    crate::background::spawn_housekeeping(
        engine.clone(),
        crate::background::Keep {
            events: settings.event_retention,
            audit_records: settings.audit_retention,
            exports: settings.export_retention,
        },
        stopped,
    );
    let state = AppState {
        engine,
        commands,
        events: Some(events),
        settings: Arc::new(settings),
    };
    Ok(http::router(state)
        .layer(CatchPanicLayer::custom(|_| {
            http::error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on the server; it has been logged.",
            )
            .into_response_boxed()
        }))
        .layer(axum::middleware::from_fn(http::run_to_completion))
        .layer(TraceLayer::new_for_http()))
}

/// Connect, creating the database when the server has none of that name.
async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let unreachable =
        "cannot reach PostgreSQL at DATABASE_URL (is it running? scripts/run.sh starts it)";
    let exists = tokio::time::timeout(Duration::from_secs(10), Postgres::database_exists(url))
        .await
        .map_err(|_| anyhow::anyhow!("{unreachable}: timed out"))?
        .map_err(|e| anyhow::anyhow!("{unreachable}: {e}"))?;
    if !exists {
        Postgres::create_database(url)
            .await
            .context("creating the database named in DATABASE_URL failed")?;
    }
    // Short queries only: JIT compilation would cost more than it saves (tens of milliseconds when
    // a plan's estimate runs high on stale statistics).
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a PostgreSQL URL: {e}"))?
        .options([("jit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("{unreachable}: {e}"))
}

async fn bootstrap_admin(engine: &Engine, config: &Config) -> anyhow::Result<()> {
    let (password, generated) = match &config.admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (generate_password(), true),
    };
    let outcome = engine
        .ensure_admin(&config.admin_user, &password)
        .await
        .map_err(|e| anyhow::anyhow!("creating the first administrator failed: {e}"))?;
    if outcome == AdminBootstrap::Created {
        if generated {
            // Printed once, to the person starting the server; never logged.
            println!(
                "Created the administrator `{}` with the generated password: {password}",
                config.admin_user
            );
        } else {
            println!("Created the administrator `{}`.", config.admin_user);
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
