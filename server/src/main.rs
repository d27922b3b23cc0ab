//! `stepwise`: the server binary.

use clap::Parser;
use stepwise::{config::Config, startup::Application, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    telemetry::init();
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on; no panic, no backtrace.
            eprintln!("stepwise: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Every connection is an open file, and an event stream holds its connection for as long as it
/// follows. Raise the soft limit on open files to the hard one, as Go's runtime and most servers
/// do: under a shell's usual soft limit of 1,024 the server stopped accepting anything, `/healthz`
/// included, at about a thousand open streams.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files allowed"),
        Err(e) => tracing::warn!(error = %e, "the limit on open files could not be raised"),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    raise_open_files_limit();
    let app = Application::build(config).await?;
    tracing::info!(url = %app.url(), "Stepwise is serving");
    println!("Stepwise is serving at {}", app.url());
    app.run_until_stopped(stepwise::startup::shutdown_signal())
        .await
}
