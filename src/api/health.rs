//! Health, readiness and metrics: no token, reads only (they are polled often, from many
//! places, and must never write).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::problem::ApiError;
use super::AppState;

/// What a worker-only process serves: the health check.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "this is a worker node (--role worker); it serves only /healthz",
            )
        })
        .with_state(state)
}

/// Reads only: a health check must never write (it is polled often, from many places).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "The process is up and the database answers (reads only; no token)",
    operation_id = "healthz",
    responses((status = 200, description = "{\"status\": \"ok\"}"), (status = 503, description = "The database is not answering", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
            )
            .into_response()
        }
    }
}

/// Ready to serve: the database answers and its schema is the one this binary knows.
/// Reads only, like the health check.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Ready: the database answers at this binary's schema and the disk is not full (no token)",
    operation_id = "readyz",
    responses((status = 200, description = "{\"status\": \"ready\"}"), (status = 503, description = "Not ready: schema, database or a full disk, in words", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let free = state.store.free_disk_bytes();
    if state.store.disk_full_recently() || free.is_some_and(|f| f < state.min_free_disk_bytes) {
        let detail = match free {
            Some(bytes) => format!(
                "the disk is full: {bytes} bytes free, less than --min-free-disk-bytes ({})",
                state.min_free_disk_bytes
            ),
            None => "the disk is full: the database refused a write for want of space".into(),
        };
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response();
    }
    match state.store.schema_is_current().await {
        Ok(true) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response(),
        Ok(false) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database schema is not the one this binary expects; run `hookrelay migrate`",
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
            )
            .into_response()
        }
    }
}

/// Prometheus text format (no token: it names no site, webhook or URL).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus text format (no token; no site, webhook or URL in it)",
    operation_id = "metrics",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain"), (status = 503, description = "The database is not answering", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match crate::metrics::render(&state.store).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics could not read the database");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
            )
            .into_response()
        }
    }
}
