//! Webhooks: create, list, show, change, rotate the secret, preview, delete.

mod body;
mod view;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::extract::{Caller, JsonBody, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, PageQuery};
use crate::domain::event::NewEvent;
use crate::domain::ordering::{self, Ordering};
use crate::domain::signing;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::webhook::{Preview, WebhookSettings, DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT_MS};
use crate::store::{HeldKey, Page};
use body::{apply_patch, disable_after_field, per_second, target_of};
pub use body::{NewWebhook, WebhookPatch};
pub use view::WebhookView;

#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhooks",
    tag = "webhooks",
    summary = "Create a webhook: a URL, or a notification target by type and config",
    operation_id = "webhooks_create",
    params(("site_id" = String, Path, description = "The site")),
    request_body = NewWebhook,
    responses((status = 201, description = "The webhook and its signing secret", body = WebhookView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    caller.require(Role::Developer)?;
    let b = body.value;
    let target = target_of(b.kind.as_deref().unwrap_or("http"), b.config)?;
    let settings = WebhookSettings {
        name: b.name.trim().to_owned(),
        url: b.url.unwrap_or_default().trim().to_owned(),
        triggers: b.triggers,
        headers: b.headers,
        public_headers: b.public_headers,
        basic_auth: b.basic_auth,
        timeout_ms: b.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        enabled: b.enabled.unwrap_or(true),
        payload_template: b.payload_template,
        content_type: b
            .content_type
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
        jws_secret: b.jws_secret,
        jws_issuer: b.jws_issuer,
        signature_header: b.signature_header,
        target,
        rate_limit_per_s: b.rate_limit_per_s.map(per_second),
        disable_after_ms: b
            .disable_after
            .as_deref()
            .map(disable_after_field)
            .transpose()?,
        ordering: Ordering {
            mode: b.ordering.unwrap_or_default(),
            key: b
                .ordering_key
                .unwrap_or_else(|| ordering::DEFAULT_KEY.to_owned()),
        },
    };
    check(&state, &site_id, &settings).await?;
    let secret = signing::generate_secret();
    let record = state
        .store
        .create_webhook(&site_id, &settings, &secret, &caller.actor())
        .await
        .or_not_found("site")?;
    let mut view = WebhookView::from(record);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks",
    tag = "webhooks",
    summary = "List webhooks (credentials masked)",
    operation_id = "webhooks_list",
    params(("site_id" = String, Path, description = "The site"), PageQuery),
    responses((status = 200, description = "A page of webhooks, oldest first", body = Page<WebhookView>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<Page<WebhookView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(page.limit.clone())?;
    let hooks = state
        .store
        .list_webhooks(&site_id, page.cursor(), limit)
        .await
        .or_not_found("site")?;
    Ok(Json(hooks.map(|w| WebhookView::for_role(w, caller.0.role))))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "A webhook",
    operation_id = "webhooks_show",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 200, description = "The webhook", body = WebhookView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    caller.require(Role::Viewer)?;
    let hook = state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    Ok(Json(WebhookView::for_role(hook, caller.0.role)))
}

/// The keys of an ordered webhook whose calls wait behind a head that has not gone yet.
#[derive(Default, Serialize, utoipa::ToSchema)]
pub struct HeldKeys {
    /// The keys holding back most calls first (at most 20).
    pub(crate) data: Vec<HeldKey>,
    /// Keys held back in all.
    pub(crate) total: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/held_keys",
    tag = "webhooks",
    summary = "Ordering keys held back by a call not delivered yet",
    operation_id = "webhooks_held_keys",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 200, description = "The held keys", body = HeldKeys), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn held_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<HeldKeys>, ApiError> {
    caller.require(Role::Viewer)?;
    state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    let (data, total) = state.store.held_keys(&webhook_id).await?;
    Ok(Json(HeldKeys { data, total }))
}

/// Sends a test event to this webhook only, through the real target (a durable call like
/// any other, in the activity log): the answer names the call to watch.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/test",
    tag = "webhooks",
    summary = "Send a test event to this webhook only",
    operation_id = "webhooks_test",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 202, description = "The test event and its one call", body = crate::store::Published), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<crate::store::Published>), ApiError> {
    caller.require(Role::Developer)?;
    let hook = enabled_webhook(
        &state,
        &site_id,
        &webhook_id,
        "the webhook is disabled: enable it to send a test",
    )
    .await?;
    let site = state.store.site(&site_id).await.or_not_found("site")?;
    let event = hook.settings.test_event(&site.settings.name);
    let published = state
        .store
        .publish_test(&site_id, &webhook_id, &event)
        .await
        .or_not_found("webhook")?;
    Ok((StatusCode::ACCEPTED, Json(published)))
}

/// The webhook, when it is enabled; else a 409 saying `why_enable`: what waits for it.
pub(crate) async fn enabled_webhook(
    state: &AppState,
    site_id: &str,
    webhook_id: &str,
    why_enable: &str,
) -> Result<crate::store::WebhookRecord, ApiError> {
    let hook = state
        .store
        .webhook(site_id, webhook_id)
        .await
        .or_not_found("webhook")?;
    if !hook.settings.enabled {
        return Err(ApiError::new(StatusCode::CONFLICT, why_enable));
    }
    Ok(hook)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SecretView {
    pub(crate) secret: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/secret",
    tag = "webhooks",
    summary = "The signing secret (developers)",
    operation_id = "webhooks_secret",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 200, description = "The secret", body = SecretView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<SecretView>, ApiError> {
    caller.require(Role::Developer)?;
    let hook = state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    Ok(Json(SecretView {
        secret: hook.secret,
    }))
}

#[utoipa::path(
    patch,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "Change a webhook; sending ******** back keeps a stored secret",
    operation_id = "webhooks_update",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    request_body = WebhookPatch,
    responses((status = 200, description = "The webhook", body = WebhookView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
    body: JsonBody<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    caller.require(Role::Developer)?;
    let current = state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    let was_enabled = current.settings.enabled;
    let before = current.settings.clone();
    let settings = apply_patch(current.settings, body.value)?;
    check(&state, &site_id, &settings).await?;
    let changes = before.changes_to(&settings);
    let updated = state
        .store
        .update_webhook(&site_id, &webhook_id, &settings, &caller.actor(), changes)
        .await
        .or_not_found("webhook")?;
    if updated.settings.enabled && !was_enabled {
        state.wake.notify_one(); // its paused calls are due now
    }
    Ok(Json(updated.into()))
}

/// The webhook's own rules, and that its triggers name types the site's catalog knows:
/// The webhook's own rules, and that its triggers name types the site's catalog knows:
/// every problem at once.
pub(crate) async fn check(
    state: &AppState,
    site_id: &str,
    settings: &WebhookSettings,
) -> Result<(), ApiError> {
    let mut v = settings
        .validate(state.allow_private_targets)
        .err()
        .unwrap_or_default();
    let catalog = state.store.catalog(site_id).await.or_not_found("site")?;
    catalog.check_triggers(&settings.triggers, &mut v);
    Ok(v.into_result()?)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub(crate) secret: String,
    /// The old secret keeps signing (as a second signature) until then.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub(crate) previous_secret_expires_at: UnixMillis,
}

/// A new signing secret; for a day both old and new signatures are sent, so receivers can
/// switch without losing a call.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/rotate_secret",
    tag = "webhooks",
    summary = "A new signing secret; the old one signs alongside for 24 hours",
    operation_id = "webhooks_rotate_secret",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 200, description = "The new secret", body = RotatedSecret), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<RotatedSecret>, ApiError> {
    caller.require(Role::Developer)?;
    let secret = signing::generate_secret();
    let overlap_until = now_millis() + signing::ROTATION_OVERLAP_MS;
    state
        .store
        .rotate_secret(&site_id, &webhook_id, &secret, overlap_until)
        .await
        .or_not_found("webhook")?;
    Ok(Json(RotatedSecret {
        secret,
        previous_secret_expires_at: overlap_until,
    }))
}

/// Renders the body this webhook would send for an event, without sending anything.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}/preview",
    tag = "webhooks",
    summary = "Render the body this webhook would send for an event; sends nothing",
    operation_id = "webhooks_preview",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    request_body = NewEvent,
    responses((status = 200, description = "The rendered body", body = Preview), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
    body: JsonBody<NewEvent>,
) -> Result<Json<Preview>, ApiError> {
    caller.require(Role::Viewer)?;
    let event = body.value;
    event.validate()?;
    let hook = state
        .store
        .webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    Ok(Json(hook.settings.preview(&event)?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/sites/{site_id}/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "Delete a webhook and its calls",
    operation_id = "webhooks_delete",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = String, Path, description = "The webhook")),
    responses((status = 204, description = "Deleted"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Developer)?;
    state
        .store
        .delete_webhook(&site_id, &webhook_id, &caller.actor())
        .await
        .or_not_found("webhook")?;
    Ok(StatusCode::NO_CONTENT)
}
