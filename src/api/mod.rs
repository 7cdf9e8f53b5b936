//! The HTTP edge: management API under `/api/v1`, health check. Handlers translate HTTP to
//! domain and store calls and back; no business rule lives here.

pub(crate) mod audit;
pub(crate) mod calls;
pub(crate) mod event_types;
pub(crate) mod events;
pub(crate) mod extract;
pub(crate) mod forms;
pub(crate) mod hooks;
mod incoming;
pub(crate) mod jobs;
pub(crate) mod limits;
pub mod openapi;
pub(crate) mod problem;
pub(crate) mod recoveries;
pub(crate) mod sites;
pub mod throttle;
pub(crate) mod tokens;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::{Notify, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use problem::ApiError;

use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Wakes this process's dispatcher when new calls are committed.
    pub wake: Arc<Notify>,
    /// Wakes this process's job runner when a job is queued or a site unlocked.
    pub jobs_wake: Arc<Notify>,
    pub allow_private_targets: bool,
    /// Base of the build hook URLs handed out, e.g. `https://hooks.example.com`.
    pub public_url: String,
    /// Rate limits on what anyone may send without a token.
    pub throttle: Arc<throttle::Throttle>,
    /// Whether a client's address is the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
    /// How much one site may keep of form submissions: count and bytes.
    pub form_quota: (u64, u64),
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub max_body_bytes: usize,
    /// A request's whole body must arrive within this.
    pub body_read_timeout: std::time::Duration,
    /// Requests handled at once (health checks aside); the excess is shed, see
    /// [`shed_load`].
    pub max_requests_in_flight: usize,
}

pub fn router(state: AppState, settings: &ApiSettings) -> Router {
    let api = Router::new()
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{token_id}", axum::routing::delete(tokens::delete))
        .route("/audit_log", get(audit::list_server))
        .route("/sites", get(sites::list).post(sites::create))
        .route(
            "/sites/{site_id}",
            get(sites::show).patch(sites::update).delete(sites::delete),
        )
        .route(
            "/sites/{site_id}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}",
            get(webhooks::show)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/secret",
            get(webhooks::secret),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/rotate_secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/preview",
            post(webhooks::preview),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/recover",
            post(recoveries::create),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/recoveries",
            get(recoveries::list),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/recoveries/{recovery_id}",
            get(recoveries::show),
        )
        .route("/sites/{site_id}/events", post(events::publish))
        .route("/sites/{site_id}/webhook_calls", get(calls::list))
        .route("/sites/{site_id}/webhook_calls/{call_id}", get(calls::show))
        .route(
            "/sites/{site_id}/webhook_calls/{call_id}/resend",
            post(calls::resend),
        )
        .route("/sites/{site_id}/activity", get(sites::activity))
        .route("/sites/{site_id}/lock", post(sites::lock))
        .route("/sites/{site_id}/unlock", post(sites::unlock))
        .route(
            "/sites/{site_id}/build_hooks",
            get(hooks::list).post(hooks::create),
        )
        .route(
            "/sites/{site_id}/build_hooks/{hook_id}",
            get(hooks::show).delete(hooks::delete),
        )
        .route(
            "/sites/{site_id}/build_hooks/{hook_id}/requests",
            get(hooks::requests),
        )
        .route("/sites/{site_id}/jobs", get(jobs::list).post(jobs::create))
        .route("/sites/{site_id}/jobs/{job_id}", get(jobs::show))
        .route("/sites/{site_id}/jobs/{job_id}/cancel", post(jobs::cancel))
        .route("/sites/{site_id}/audit_log", get(audit::list))
        .route(
            "/sites/{site_id}/event_types",
            get(event_types::list).post(event_types::create),
        )
        .route(
            "/sites/{site_id}/event_types/{entity_type}/{event_type}",
            axum::routing::delete(event_types::delete),
        )
        .route("/sites/{site_id}/form_submissions", get(forms::list))
        .route(
            "/sites/{site_id}/form_submissions/{submission_id}",
            axum::routing::delete(forms::delete),
        )
        .layer(middleware::map_response(plain_errors_as_problems));
    let in_flight = Arc::new(Semaphore::new(settings.max_requests_in_flight));
    Router::new()
        .nest("/api/v1", api)
        .merge(incoming::router())
        .merge(crate::forms::router())
        .merge(crate::web::router())
        // Only the routes above: a health check is never shed.
        .route_layer(middleware::from_fn_with_state(in_flight, shed_load))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::reference))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
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

/// Every error of the API is problem+json, also those axum's own extractors answer in
/// plain text (a path segment that is not UTF-8, say).
async fn plain_errors_as_problems(response: Response) -> Response {
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
async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = in_flight.clone().try_acquire_owned() else {
        metrics::counter!(crate::metrics::REQUESTS_SHED).increment(1);
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
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
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
async fn readyz(State(state): State<AppState>) -> Response {
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
async fn metrics(State(state): State<AppState>) -> Response {
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

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API lives under /api/v1",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not accept that method",
    )
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// The `limit` query parameter of paged lists.
fn limit_param(limit: Option<String>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// `{ "data": [...] }`, the envelope of every list.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
}
