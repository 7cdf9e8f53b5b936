//! Bulk recovery of a webhook's failed calls (see `store/recoveries.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::time::{now_millis, parse_rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::validation::Violations;
use crate::store::Recovery;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// RFC 3339: failed calls created at or after this are re-sent.
    #[serde(default)]
    #[schema(required = true, value_type = String, format = DateTime)]
    pub(crate) since: Option<String>,
    /// RFC 3339, default now: calls created before this.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub(crate) until: Option<String>,
}

/// The window `[since, until)`, or every problem with it at once.
fn window(request: &RecoverRequest, now: UnixMillis) -> Result<(UnixMillis, UnixMillis), ApiError> {
    let mut v = Violations::default();
    let mut instant = |field: &str, text: Option<&str>| {
        let at = text.map(parse_rfc3339);
        if let Some(None) = at {
            v.add(
                field,
                "must be an RFC 3339 date-time such as 2026-12-01T09:00:00Z",
            );
        }
        at.flatten()
    };
    let since = instant("since", request.since.as_deref());
    let until = instant("until", request.until.as_deref()).unwrap_or(now);
    if request.since.is_none() {
        v.add(
            "since",
            "is required: the start of the window of failed calls to re-send",
        );
    }
    if let Some(since) = since {
        if since >= until {
            v.add("until", "must be after `since`");
        }
    }
    v.into_result()?;
    Ok((since.unwrap_or_default(), until))
}

#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/recover",
    tag = "webhooks",
    summary = "Re-send every failed call of a window, as one durable operation",
    description = "Each failed call created in `[since, until)` gets one more attempt, once. \
                   The operation survives restarts and runs once across a cluster; follow it \
                   at `…/recoveries/{recovery_id}`.",
    operation_id = "webhooks_recover",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    request_body = RecoverRequest,
    responses((status = 202, description = "Queued", body = Recovery), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
    body: JsonBody<RecoverRequest>,
) -> Result<(StatusCode, Json<Recovery>), ApiError> {
    caller.require(Role::Developer)?;
    let now = now_millis();
    let (since, until) = window(&body.value, now)?;
    super::webhooks::enabled_webhook(
        &state,
        &site_id,
        &webhook_id,
        "the webhook is disabled: enable it first (its calls would only wait until then)",
    )
    .await?;
    let recovery = state
        .store
        .create_recovery(&site_id, &webhook_id, since, until, now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(recovery)))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/recoveries",
    tag = "webhooks",
    summary = "The webhook's recoveries, newest first",
    operation_id = "webhooks_recoveries",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 200, description = "The last 100", body = List<Recovery>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<List<Recovery>>, ApiError> {
    caller.require(Role::Viewer)?;
    state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    let data = state.store.list_recoveries(&site_id, &webhook_id).await?;
    Ok(Json(List { data }))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/recoveries/{recovery_id}",
    tag = "webhooks",
    summary = "A recovery's status: queued, running or done, with the calls re-sent so far",
    operation_id = "webhooks_recovery",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook"), ("recovery_id" = String, Path, description = "The recovery")),
    responses((status = 200, description = "The recovery", body = Recovery), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id, recovery_id)): Path<(String, String, String)>,
) -> Result<Json<Recovery>, ApiError> {
    caller.require(Role::Viewer)?;
    let recovery = state
        .store
        .recovery(&site_id, &webhook_id, &recovery_id)
        .await
        .or_not_found("recovery")?;
    Ok(Json(recovery))
}
