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

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!(url = %app.url(), "Stepwise is serving");
    println!("Stepwise is serving at {}", app.url());
    app.run_until_stopped(stepwise::startup::shutdown_signal())
        .await
}
