//! Every error leaves the API as `application/problem+json` (RFC 9457), with the fields at
//! fault listed under `errors`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::validation::{FieldError, Violations};
use crate::store::StoreError;

/// The problem document, for the OpenAPI description.
pub type ProblemDoc = Problem<'static>;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Sent as `Retry-After` (seconds): when a retry may succeed (429, 503).
    pub retry_after_s: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_s: None,
        }
    }

    /// The same error, telling the client when to retry.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    /// A 400 about one request field (body, query or header).
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            detail: format!("`{field}` {message}"),
            errors: vec![FieldError { field, message }],
            retry_after_s: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }
}

impl From<Violations> for ApiError {
    fn from(v: Violations) -> Self {
        let detail =
            v.0.iter()
                .map(|e| format!("`{}` {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            errors: v.0,
            retry_after_s: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, detail),
            StoreError::Invalid(violations) => violations.into(),
            full if full.is_disk_full() => {
                tracing::error!(error = %full, "the database's disk is full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the disk is full: nothing was stored; free space on the database's disk \
                     and retry",
                )
                .retry_after(60)
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is not answering as it should; nothing was changed, retry later",
                )
            }
        }
    }
}

/// Turns the store's generic "not found" into one that names what was looked for.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str) -> Result<T, ApiError>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &str) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(what),
            other => other.into(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = serde_json::to_vec(&Problem {
            kind: "about:blank",
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        })
        .expect("problem serialises");
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
