//! The HTTP edge: management API under `/api/v1`, health check. Handlers translate HTTP to
//! domain and store calls and back; no business rule lives here.

pub(crate) mod audit;
pub(crate) mod calls;
pub(crate) mod edge;
pub(crate) mod event_types;
pub(crate) mod events;
pub(crate) mod extract;
pub(crate) mod forms;
pub mod health;
pub(crate) mod hooks;
mod incoming;
pub(crate) mod jobs;
pub mod limits;
pub mod openapi;
pub(crate) mod problem;
pub(crate) mod recoveries;
pub(crate) mod schemas;
pub(crate) mod sites;
pub mod throttle;
pub(crate) mod tokens;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;

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
    /// Below this much free disk, the readiness check fails.
    pub min_free_disk_bytes: u64,
    /// The whole server's OpenAPI document (the API's, with the routes of the layers
    /// above it), as `app` composed it.
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

/// The API under `/api/v1`, its OpenAPI document, and the public build hook URLs. The
/// server's whole router (dashboard, forms, health, the bounds every request passes) is
/// composed in `app::routes`.
pub fn routes() -> Router<AppState> {
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
            "/sites/{site_id}/webhooks/{webhook_id}/held_keys",
            get(webhooks::held_keys),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/test",
            post(webhooks::send_test),
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
        .layer(middleware::map_response(edge::plain_errors_as_problems));
    Router::new()
        .nest("/api/v1", api)
        .merge(incoming::router())
        .route("/api/v1/openapi.json", get(openapi::document))
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// `?cursor=…&limit=…` of a paged list: the cursor from the previous page's
/// `next_cursor`, and up to 200 items (50 unless asked).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From the previous page's `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// Items per page, 1-200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub(crate) limit: Option<String>,
}

impl PageQuery {
    /// The cursor, if one was given (`?cursor=` with nothing is none).
    pub(crate) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// A query filter's value, if one was given (`?event_type=` with nothing is none).
pub(crate) fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

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
