//! The server's whole router: the API, the public build hooks and forms, the dashboard and
//! the health checks, behind the bounds every request passes (headers, body, in-flight
//! requests) and the security headers every answer carries.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::api::{edge, health, limits, ApiError, AppState};

#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub max_body_bytes: usize,
    /// A request's whole body must arrive within this.
    pub body_read_timeout: std::time::Duration,
    /// Requests handled at once (health checks aside); the excess is shed, see
    /// [`edge::shed_load`].
    pub max_requests_in_flight: usize,
}

pub fn router(state: AppState, settings: &RouteSettings) -> Router {
    let in_flight = Arc::new(Semaphore::new(settings.max_requests_in_flight));
    Router::new()
        .merge(crate::api::routes())
        .merge(crate::forms::router())
        .merge(crate::web::router())
        // Only the routes above: a health check is never shed.
        .route_layer(middleware::from_fn_with_state(in_flight, edge::shed_load))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(edge::not_found)
        .method_not_allowed_fallback(edge::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        // Outside the in-flight limit: a slow body holds its connection, not a slot.
        .layer(middleware::from_fn_with_state(
            Arc::new(limits::BodyReading {
                max_bytes: settings.max_body_bytes,
                deadline: settings.body_read_timeout,
                budget: Arc::new(Semaphore::new(limits::BODY_BUDGET_BYTES)),
            }),
            limits::read_body,
        ))
        .layer(axum::Extension(limits::BodyLimit(settings.max_body_bytes)))
        .layer(middleware::from_fn(limits::limit_headers))
        .layer(middleware::from_fn(crate::web::security_headers))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "an internal error occurred",
            )
            .into_response()
        }))
        .with_state(state)
}

/// The whole server's OpenAPI document: the API's and the public forms'.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = crate::api::openapi::ApiDoc::openapi();
    doc.merge(crate::forms::FormsDoc::openapi());
    doc
}

/// What a worker-only process serves: the health checks.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "this is a worker node (--role worker); it serves only /healthz",
            )
        })
        .with_state(state)
}
