//! Signing in and out of the UI (a cookie session) and who is signed in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;
use crate::domain::Me;

/// What the Tasks pane shows about the server it talks to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub database: String,
}

/// The server's version and its database's, read from PostgreSQL (public, like `/healthz`).
#[server(prefix = "/sfn", endpoint = "status")]
pub async fn server_status() -> Result<StatusReport, AppError> {
    let ctx = super::context::request()?;
    let database = ctx.engine.database_version().await?;
    Ok(StatusReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database,
    })
}

/// The signed-in user, or None.
#[server(prefix = "/sfn", endpoint = "me")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    let ctx = super::context::request()?;
    Ok(ctx.caller.map(|c| c.me()))
}

/// Sign in: checks the password (throttled, audited) and sets the session cookie.
#[server(prefix = "/sfn", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<Me, AppError> {
    let ctx = super::context::request()?;
    let caller = ctx
        .engine
        .sign_in(&username, &password, &ctx.origin)
        .await?;
    let session = ctx.engine.open_session(&caller, ctx.session_ttl).await?;
    set_cookie(&session_cookie_value(
        &session.access_token,
        ctx.session_ttl.num_seconds(),
        ctx.secure,
    ));
    Ok(caller.me())
}

/// The signed-in user's own password; the current one must be given (checked as a sign-in is).
#[server(prefix = "/sfn", endpoint = "change_my_password", input = leptos::server_fn::codec::Json)]
pub async fn change_my_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    engine
        .change_own_password(&caller, &origin, &current_password, new_password)
        .await?;
    Ok(())
}

/// Sign out: revokes the session and clears the cookie.
#[server(prefix = "/sfn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let ctx = super::context::request()?;
    if let Some(secret) = &ctx.session_secret {
        ctx.engine.revoke_secret(secret).await?;
    }
    set_cookie(&session_cookie_value("", 0, ctx.secure));
    Ok(())
}

/// The cookie's name.
pub const SESSION_COOKIE: &str = "stepwise_session";

/// `Set-Cookie` for the session: HttpOnly, SameSite=Strict, Secure behind TLS.
pub fn session_cookie_value(secret: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(feature = "ssr")]
fn set_cookie(value: &str) {
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        axum_header_value(value),
    ) {
        options.append_header(http::header::SET_COOKIE, value);
    }
}

#[cfg(feature = "ssr")]
fn axum_header_value(value: &str) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
    http::HeaderValue::from_str(value)
}
