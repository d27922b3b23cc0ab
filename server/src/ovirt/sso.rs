//! oVirt's SSO endpoints: the token (password grant) and logout.

use app::service::ServiceError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::http::extract::ClientOrigin;
use crate::http::AppState;

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    scope: Option<String>,
}

/// oVirt's error shape: `{error_code, error}`.
fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error_code": code, "error": message.into() })),
    )
        .into_response()
}

/// `POST /ovirt-engine/sso/oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send a form: grant_type=password&scope=ovirt-app-api&username=...&password=...",
        );
    };
    if form.grant_type.as_deref() != Some("password") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=password is supported",
        );
    }
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    let grant = state
        .engine
        .password_grant(&username, &password, &origin, state.settings.token_ttl)
        .await;
    match grant {
        Ok(t) => Json(json!({
            "access_token": t.access_token,
            "token_type": "bearer",
            "scope": form.scope.unwrap_or_else(|| "ovirt-app-api".into()),
            "exp": t.expires_at.timestamp_millis().to_string(),
        }))
        .into_response(),
        Err(ServiceError::Unauthorized(m)) => refuse(StatusCode::BAD_REQUEST, "access_denied", m),
        Err(ServiceError::TooManyRequests(m)) => {
            refuse(StatusCode::TOO_MANY_REQUESTS, "access_denied", m)
        }
        Err(e) => crate::http::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    token: Option<String>,
}

/// `POST /ovirt-engine/services/sso-logout`: revokes the token; always `{}`.
pub async fn logout(State(state): State<AppState>, body: Bytes) -> Response {
    if let Ok(LogoutForm { token: Some(token) }) = serde_urlencoded::from_bytes::<LogoutForm>(&body)
    {
        if let Err(e) = state.engine.revoke_secret(&token).await {
            return crate::http::error::ApiError::from(e).into_response();
        }
    }
    Json(json!({})).into_response()
}
