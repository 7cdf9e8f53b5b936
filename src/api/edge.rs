//! What every request passes at the edge, whatever its route: shedding load past the
//! in-flight limit, problem documents for axum's own plain-text errors, and the answers
//! for unknown routes and methods.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::problem::ApiError;

/// Every error of the API is problem+json, also those axum's own extractors answer in
/// plain text (a path segment that is not UTF-8, say).
pub async fn plain_errors_as_problems(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(plain && (response.status().is_client_error() || response.status().is_server_error())) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let mut problem =
        ApiError::new(parts.status, String::from_utf8_lossy(&text).trim()).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// Answers 503 at once when as many requests as allowed are being handled already. Each
/// request waiting inside (for the database, for room in the dispatcher) holds its
/// connection's buffers; under sustained overload they would pile up until the process
/// runs out of memory, whereas a client told to retry keeps its event. The permit is
/// held until the response is made.
pub async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = in_flight.clone().try_acquire_owned() else {
        metrics::counter!(crate::metric_names::REQUESTS_SHED).increment(1);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "hookrelay is handling as many requests as it is allowed to \
             (--max-requests-in-flight); nothing was done, retry shortly",
        )
        .retry_after(1)
        .into_response();
    };
    next.run(request).await
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API lives under /api/v1",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not accept that method",
    )
}
