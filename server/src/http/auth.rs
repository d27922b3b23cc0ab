//! `POST /api/auth/token`: the OAuth 2 password grant (RFC 6749 §4.3).

use app::service::ServiceError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::ClientOrigin;
use super::AppState;

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `password`.
    #[schema(value_type = String, required = true, pattern = "^password$")]
    grant_type: Option<String>,
    #[schema(value_type = String, required = true)]
    username: Option<String>,
    #[schema(value_type = String, required = true)]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: i64,
}

/// RFC 6749 §5.2.
#[derive(Serialize, ToSchema)]
pub struct TokenError {
    error: &'static str,
    error_description: String,
}

fn refuse(status: StatusCode, error: &'static str, description: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(TokenError {
            error,
            error_description: description.into(),
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    response
}

#[utoipa::path(post, path = "/api/auth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "A form, as RFC 6749 asks; a JSON object with the same fields is taken too."),
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "Bad request or wrong credentials (`invalid_grant`)", body = TokenError),
        (status = 429, description = "Too many failed sign-ins for this name or address: wait `Retry-After` seconds", body = TokenError)))]
pub async fn token(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // RFC 6749 asks for a form; a JSON object with the same fields is taken too, as many clients
    // send one (read as a form, it would seem to have no fields at all).
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    let parsed = if json {
        serde_json::from_slice::<TokenRequest>(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes::<TokenRequest>(&body).map_err(|e| e.to_string())
    };
    let form = match parsed {
        Ok(form) => form,
        Err(e) if json => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                "the body is not a JSON object of strings grant_type, username and password: {e}"
            ),
            )
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send a form: grant_type=password&username=...&password=...",
            )
        }
    };
    match form.grant_type.as_deref() {
        Some("password") => {}
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type `{other}` is not supported; use `password`"),
            )
        }
        None if !json && body.trim_ascii_start().starts_with(b"{") => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body looks like JSON but was sent as a form: send it with Content-Type: application/json, or as grant_type=password&username=...&password=...",
            )
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
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
        Ok(token) => {
            let expires_in = (token.expires_at - chrono::Utc::now()).num_seconds().max(0);
            let mut response = Json(TokenResponse {
                access_token: token.access_token,
                token_type: "bearer",
                expires_in,
            })
            .into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                "no-store".parse().expect("static header"),
            );
            response
        }
        Err(ServiceError::Unauthorized(message)) => {
            refuse(StatusCode::BAD_REQUEST, "invalid_grant", message)
        }
        Err(ServiceError::TooManyRequests(message)) => {
            let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "900".parse().expect("static header"));
            response
        }
        Err(e) => super::error::ApiError::from(e).into_response(),
    }
}
