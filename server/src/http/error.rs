//! The API's one error type, mapped once to RFC 9457 `application/problem+json`.

use app::service::{FieldError, ServiceError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An RFC 9457 problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:stepwise:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields at fault, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// Entities the problem is about (e.g. running sub-steps).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    ids: Vec<Uuid>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// A 400 naming one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ServiceError::invalid(field, message).into()
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let detail = e.to_string();
        match e {
            ServiceError::Invalid(errors) => ApiError {
                errors,
                ..ApiError::new(StatusCode::BAD_REQUEST, "validation", detail)
            },
            ServiceError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not-found", detail),
            ServiceError::Conflict { ids, .. } => ApiError {
                ids,
                ..ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            },
            ServiceError::IdempotencyMismatch(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                detail,
            ),
            ServiceError::Unauthorized(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
            }
            ServiceError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail),
            ServiceError::TooManyRequests(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail)
            }
            ServiceError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The server cannot reach its database right now; try again in a moment (a write \
                 sent with an Idempotency-Key is safe to retry).",
            ),
            ServiceError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on the server; it has been logged.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:stepwise:problem:{}", self.kind),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self
                .errors
                .into_iter()
                .map(|e| ProblemField {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            ids: self.ids,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stepwise\""),
            );
        }
        response
    }
}

/// Unknown routes under `/api`.
pub async fn no_route() -> ApiError {
    ApiError::not_found("there is no such API route")
}

/// A known route asked with a method it does not take.
pub async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not take that HTTP method",
    )
}

impl ApiError {
    /// For layers that need a concrete response type.
    pub fn into_response_boxed(self) -> axum::http::Response<axum::body::Body> {
        self.into_response()
    }
}
