//! The UI's server functions, under `/sfn`: thin — authorise, parse, call the service, map.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Tasks pane shows about the server it talks to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub database: String,
}

/// The server's version and its database's, read from PostgreSQL (public, like `/healthz`).
#[server(prefix = "/sfn", endpoint = "status")]
pub async fn server_status() -> Result<StatusReport, ServerFnError> {
    let engine = use_context::<crate::service::Engine>()
        .ok_or_else(|| ServerFnError::new("the server is not ready"))?;
    let database = engine
        .database_version()
        .await
        .map_err(|_| ServerFnError::new("the database is not answering"))?;
    Ok(StatusReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database,
    })
}
