//! Settings from flags and the environment. Secrets are never logged.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Clone, Parser)]
#[command(
    name = "stepwise",
    version,
    about = "Stepwise: a job and step tracking engine with a live Tasks pane"
)]
pub struct Config {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/stepwise"
    )]
    pub database_url: String,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STEPWISE_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Folder holding the built UI (Trunk's `dist/`).
    #[arg(long, env = "STEPWISE_SITE_ROOT", default_value = "dist")]
    pub site_root: PathBuf,

    /// User name of the first administrator, created when there are no users.
    #[arg(long, env = "STEPWISE_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,

    /// Password of the first administrator; a random one is generated and printed once when unset.
    #[arg(long, env = "STEPWISE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Lifetime of bearer tokens from the token endpoint, in seconds.
    #[arg(long, env = "STEPWISE_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub token_ttl_seconds: i64,

    /// Lifetime of a UI session, in seconds.
    #[arg(long, env = "STEPWISE_SESSION_TTL_SECONDS", default_value_t = 43200)]
    pub session_ttl_seconds: i64,

    /// How long the event journal keeps events, in hours (older positions get `resync`).
    #[arg(long, env = "STEPWISE_EVENT_RETENTION_HOURS", default_value_t = 24)]
    pub event_retention_hours: i64,

    /// How long the audit log keeps a record, in days.
    #[arg(long, env = "STEPWISE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: i64,

    /// How long an ExportJobs file stays downloadable, in hours; then it is deleted.
    #[arg(long, env = "STEPWISE_EXPORT_RETENTION_HOURS", default_value_t = 24)]
    pub export_retention_hours: i64,

    /// How often the auto-clear retention pass runs, in seconds.
    #[arg(
        long,
        env = "STEPWISE_RETENTION_INTERVAL_SECONDS",
        default_value_t = 600
    )]
    pub retention_interval_seconds: u64,

    /// Auto-cleared jobs that finished are purged this many minutes after ending.
    #[arg(
        long,
        env = "STEPWISE_RETENTION_FINISHED_MINUTES",
        default_value_t = 10
    )]
    pub retention_finished_minutes: i64,

    /// Auto-cleared jobs that failed or were aborted are purged this many minutes after ending.
    #[arg(
        long,
        env = "STEPWISE_RETENTION_UNSUCCESSFUL_MINUTES",
        default_value_t = 60
    )]
    pub retention_unsuccessful_minutes: i64,

    /// Where ExportJobs writes its files.
    #[arg(long, env = "STEPWISE_EXPORT_DIR", default_value = "exports")]
    pub export_dir: std::path::PathBuf,

    /// Background workers for monitored commands.
    #[arg(long, env = "STEPWISE_COMMAND_WORKERS", default_value_t = 2)]
    pub command_workers: usize,

    /// Most database connections this process opens.
    #[arg(long, env = "STEPWISE_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// TLS certificate chain (PEM). With `--tls-key`, the server speaks HTTPS only (HTTP/2 or 1.1).
    #[arg(long, env = "STEPWISE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The TLS certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "STEPWISE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("site_root", &self.site_root)
            .field("admin_user", &self.admin_user)
            .field("tls_cert", &self.tls_cert)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_certificate_is_taken_only_with_its_key_and_the_other_way_round() {
        let refused =
            Config::try_parse_from(["stepwise", "--tls-cert", "cert.pem"]).expect_err("refused");
        assert!(refused.to_string().contains("--tls-key"), "{refused}");
        let refused =
            Config::try_parse_from(["stepwise", "--tls-key", "key.pem"]).expect_err("refused");
        assert!(refused.to_string().contains("--tls-cert"), "{refused}");
        let both =
            Config::try_parse_from(["stepwise", "--tls-cert", "cert.pem", "--tls-key", "key.pem"])
                .expect("taken");
        assert_eq!(both.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(both.tls_key, Some(PathBuf::from("key.pem")));
    }
}
