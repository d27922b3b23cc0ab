//! Extractors that turn every bad input into a problem naming the field.

use app::api::SESSION_COOKIE;
use app::domain::wording::{self, json_data_error};
use app::domain::CorrelationId;
use app::service::{Caller, IdempotencyKey, Origin};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;

/// A JSON body, read within the body limit, deserialised with the path of any bad field. Keeps a
/// digest of the raw body for `Idempotency-Key` fingerprints.
pub struct ApiJson<T> {
    pub value: T,
    pub digest: Vec<u8>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let is_json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "body-too-large",
                    format!(
                        "the body is larger than {} bytes",
                        app::domain::limits::MAX_BODY_BYTES
                    ),
                )
            } else {
                ApiError::new(
                    status,
                    "unreadable-body",
                    "the request body could not be read",
                )
            }
        })?;
        let value = parse_json(&bytes)?;
        Ok(ApiJson {
            value,
            digest: Sha256::digest(&bytes).to_vec(),
        })
    }
}

/// Deserialise JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object (serde would otherwise also read a struct from an array).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::field("body", format!("is not valid JSON: {inner}"))
        } else {
            let (field, message) = json_data_error(&field, &inner.to_string());
            ApiError::field(field, message)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::field("body", format!("is not valid JSON: {e}")))?;
    Ok(value)
}

/// Path parameters; a bad one (say, not a UUID) is a 400 naming it.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                use axum::extract::path::ErrorKind;
                Err(match e.into_kind() {
                    ErrorKind::ParseErrorAtKey { key, value, .. }
                    | ErrorKind::DeserializeError { key, value, .. } => {
                        ApiError::field(key, format!("`{value}` is not a valid id (a UUID)"))
                    }
                    other => ApiError::field("path", other.to_string()),
                })
            }
            Err(other) => Err(ApiError::field("path", other.body_text())),
        }
    }
}

/// The query string, deserialised with the name of any bad parameter. Unknown parameters are ignored.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        parse_form(query.as_bytes()).map(ApiQuery)
    }
}

/// Deserialise `application/x-www-form-urlencoded`, naming the field at fault.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        // A parameter given twice (`status=a&status=b`): serde names it only in its message.
        if let Some(name) = message
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return ApiError::field(
                name,
                "is given more than once; give it once (where it takes several values, separate them with commas)",
            );
        }
        ApiError::field(
            if field == "." {
                "query".to_owned()
            } else {
                field
            },
            plain_words(message),
        )
    })
}

/// The standard library's words for a bad number or flag in a query string, as a person would say them.
fn plain_words(message: String) -> String {
    match message.as_str() {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "must be a whole number".to_owned()
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "is out of range".to_owned()
        }
        "provided string was not `true` or `false`" => "must be `true` or `false`".to_owned(),
        _ => wording::plain_uuid(&message).unwrap_or(message),
    }
}

/// The secret of the UI session cookie, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// A request that changes state and rides on a cookie must come from our own pages: browsers send
/// `Sec-Fetch-Site` and `Origin`, and a cross-site form or script cannot forge them. (The cookie is
/// also `SameSite=Strict`.)
pub fn check_same_origin(parts: &Parts) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site-request",
            "this request did not come from Stepwise's own pages",
        )
    };
    if let Some(site) = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        if !matches!(site, "same-origin" | "none") {
            return Err(refused());
        }
    }
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        // HTTP/2 carries the host in the request's authority, not in a `Host` header.
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if origin_host != host {
            return Err(refused());
        }
    } else if parts.headers.get("sec-fetch-site").is_none() {
        // Neither header: not a browser we can vouch for; cookies are for browsers.
        return Err(refused());
    }
    Ok(())
}

/// The authenticated caller: `Authorization: Bearer <token>` (token endpoint or API token), or the
/// UI's session cookie (then cross-site requests are refused).
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(header) = parts.headers.get(header::AUTHORIZATION) {
            let token = bearer_token(header).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
            return Ok(Authenticated(state.engine.authenticate_token(token).await?));
        }
        if let Some(secret) = session_cookie(&parts.headers) {
            check_same_origin(parts)?;
            return Ok(Authenticated(
                state.engine.authenticate_token(&secret).await?,
            ));
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in first: send Authorization: Bearer <token> (see POST /api/auth/token)",
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The secret an [`Authenticated`] request was let in with: its bearer token, else its session
/// cookie. For a long-lived response (the event stream) that checks it again while it lasts.
pub fn credential_secret(headers: &axum::http::HeaderMap) -> Option<String> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => bearer_token(value).map(str::to_owned),
        None => session_cookie(headers),
    }
}

/// Where the request came from, for the audit log and sign-in throttling.
pub struct ClientOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for ClientOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(ClientOrigin(origin_of(parts)))
    }
}

pub fn origin_of(parts: &Parts) -> Origin {
    let address = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    Origin { address }
}

/// `Correlation-Id` header, or the `correlation_id` query parameter.
pub struct Correlation(pub Option<CorrelationId>);

impl<S: Send + Sync> FromRequestParts<S> for Correlation {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        correlation_of(parts).map(Correlation)
    }
}

pub fn correlation_of(parts: &Parts) -> Result<Option<CorrelationId>, ApiError> {
    if let Some(value) = parts.headers.get("correlation-id") {
        let raw = value
            .to_str()
            .map_err(|_| ApiError::field("Correlation-Id", "must be ASCII"))?;
        return CorrelationId::parse(raw)
            .map(Some)
            .map_err(|m| ApiError::field("Correlation-Id", m));
    }
    #[derive(serde::Deserialize)]
    struct Q {
        correlation_id: Option<String>,
    }
    let q: Q = parse_form(parts.uri.query().unwrap_or("").as_bytes()).unwrap_or(Q {
        correlation_id: None,
    });
    q.correlation_id
        .map(|raw| CorrelationId::parse(&raw).map_err(|m| ApiError::field("correlation_id", m)))
        .transpose()
}

/// `Idempotency-Key` header, if sent.
pub struct IdempotencyHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyHeader(None)),
            Some(v) => v
                .to_str()
                .map(|s| IdempotencyHeader(Some(s.to_owned())))
                .map_err(|_| {
                    ApiError::field("Idempotency-Key", "must be visible ASCII characters")
                }),
        }
    }
}

impl IdempotencyHeader {
    /// The key, bound to this request (method, path and body).
    pub fn bind(
        &self,
        scope: &str,
        body_digest: &[u8],
    ) -> Result<Option<IdempotencyKey>, ApiError> {
        let Some(key) = &self.0 else { return Ok(None) };
        let mut h = Sha256::new();
        h.update(scope.as_bytes());
        h.update([0]);
        h.update(body_digest);
        Ok(Some(IdempotencyKey::parse(key, h.finalize().to_vec())?))
    }
}
