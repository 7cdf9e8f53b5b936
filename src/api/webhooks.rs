use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::destination::credentials_follow;
use crate::domain::event::NewEvent;
use crate::domain::signing::{self, active_previous};
use crate::domain::time::{now_millis, rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::trigger::Trigger;
use crate::domain::validation::{FieldError, Violations};
use crate::domain::webhook::{
    format_disable_after, is_sensitive_header, parse_disable_after, BasicAuth, Preview,
    WebhookSettings, DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT_MS,
};
use crate::store::WebhookRecord;
use crate::targets::TargetConfig;

/// Shown instead of stored credentials. Sending it back in a PATCH keeps the stored value,
/// so a client can round-trip what it read without wiping secrets.
const MASK: &str = "********";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    // Missing fields read as empty, so validation names every one at fault at once.
    #[serde(default)]
    pub(crate) name: String,
    /// `http` (the default), `email`, `slack`, `github_commit_status`, … (see `targets`).
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    /// The settings of a notification target.
    #[serde(default)]
    pub(crate) config: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) triggers: Vec<Trigger>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub(crate) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) payload_template: Option<String>,
    #[serde(default)]
    pub(crate) content_type: Option<String>,
    #[serde(default)]
    pub(crate) jws_secret: Option<String>,
    #[serde(default)]
    pub(crate) jws_issuer: Option<String>,
    #[serde(default)]
    pub(crate) signature_header: Option<String>,
    /// At most this many calls a second, across every process of a cluster; calls over
    /// it wait their turn. Absent or null: no limit.
    #[serde(default)]
    pub(crate) rate_limit_per_s: Option<u32>,
    /// Disable the webhook once its calls have all failed for this long (`5d`, `36h`, or
    /// `never`). Absent or null: the server's `--disable-after` (5 days by default).
    #[serde(default)]
    pub(crate) disable_after: Option<String>,
}

/// Every field optional; `basic_auth: null` removes it, `headers` replaces the whole set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub(crate) name: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    /// Replaces the target's settings; `********` keeps a stored secret.
    #[serde(default)]
    pub(crate) config: Option<serde_json::Value>,
    pub(crate) url: Option<String>,
    pub(crate) triggers: Option<Vec<Trigger>>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) basic_auth: Option<Option<BasicAuth>>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) payload_template: Option<Option<String>>,
    pub(crate) content_type: Option<String>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) jws_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) jws_issuer: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) signature_header: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) rate_limit_per_s: Option<Option<u32>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    pub(crate) disable_after: Option<Option<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub(crate) id: String,
    pub(crate) site_id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// A notification target's settings, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) config: Option<serde_json::Value>,
    pub(crate) url: String,
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) basic_auth: Option<BasicAuth>,
    pub(crate) timeout_ms: u64,
    pub(crate) enabled: bool,
    pub(crate) payload_template: Option<String>,
    pub(crate) content_type: String,
    /// `********` when set.
    pub(crate) jws_secret: Option<String>,
    pub(crate) jws_issuer: Option<String>,
    pub(crate) signature_header: Option<String>,
    pub(crate) rate_limit_per_s: Option<u32>,
    /// `null`: the server's `--disable-after`.
    pub(crate) disable_after: Option<String>,
    /// Since when its calls fail (a call failed again after a retry, or ran out of
    /// retries); cleared by the next delivery.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub(crate) failing_since: Option<UnixMillis>,
    /// Why hookrelay disabled it (410 Gone, or failing past `disable_after`); cleared on
    /// re-enabling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) disabled_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub(crate) disabled_at: Option<UnixMillis>,
    /// Until when the secret replaced by the last rotation still signs.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub(crate) previous_secret_expires_at: Option<UnixMillis>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub(crate) created_at: UnixMillis,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub(crate) updated_at: UnixMillis,
    /// Only in the answer to a create; afterwards see `GET …/secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
}

impl From<WebhookRecord> for WebhookView {
    fn from(w: WebhookRecord) -> Self {
        let s = w.settings;
        WebhookView {
            headers: s
                .headers
                .into_iter()
                .map(|(name, value)| {
                    let shown = if is_sensitive_header(&name) {
                        MASK.to_owned()
                    } else {
                        value
                    };
                    (name, shown)
                })
                .collect(),
            basic_auth: s.basic_auth.map(|a| BasicAuth {
                username: a.username,
                password: MASK.to_owned(),
            }),
            id: w.id,
            site_id: w.site_id,
            name: s.name,
            kind: s.target.as_ref().map_or("http", TargetConfig::kind),
            config: s.target.as_ref().map(|t| t.masked().config()),
            signature_header: s.signature_header,
            disabled_reason: w.disabled_reason,
            disabled_at: w.disabled_at,
            failing_since: w.failing_since,
            rate_limit_per_s: s.rate_limit_per_s,
            disable_after: s.disable_after_ms.map(format_disable_after),
            url: s.url,
            triggers: s.triggers,
            timeout_ms: s.timeout_ms,
            enabled: s.enabled,
            payload_template: s.payload_template,
            content_type: s.content_type,
            jws_secret: s.jws_secret.map(|_| MASK.to_owned()),
            jws_issuer: s.jws_issuer,
            previous_secret_expires_at: active_previous(
                w.previous_secret.as_deref(),
                w.previous_secret_expires_at,
                now_millis(),
            )
            .and(w.previous_secret_expires_at),
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: None,
        }
    }
}

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
        rate_limit_per_s: b.rate_limit_per_s,
        disable_after_ms: b
            .disable_after
            .as_deref()
            .map(disable_after_field)
            .transpose()?,
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
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 200, description = "The webhooks", body = List<WebhookView>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<List<WebhookView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let hooks = state
        .store
        .list_webhooks(&site_id)
        .await
        .or_not_found("site")?;
    Ok(Json(List {
        data: hooks.into_iter().map(WebhookView::from).collect(),
    }))
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
    Ok(Json(hook.into()))
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
    let settings = apply_patch(current.settings, body.value)?;
    check(&state, &site_id, &settings).await?;
    let updated = state
        .store
        .update_webhook(&site_id, &webhook_id, &settings)
        .await
        .or_not_found("webhook")?;
    if updated.settings.enabled && !was_enabled {
        state.wake.notify_one(); // its paused calls are due now
    }
    Ok(Json(updated.into()))
}

/// The webhook's own rules, and that its triggers name types the site's catalog knows:
/// every problem at once.
async fn check(
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

/// A target from the API's `type` and `config`.
fn target_of(
    kind: &str,
    config: Option<serde_json::Value>,
) -> Result<Option<TargetConfig>, ApiError> {
    if kind == "http" && config.is_some() {
        return Err(ApiError::from(Violations(vec![FieldError {
            field: "config".into(),
            message: "is for notification targets; an http webhook is set up with `url`".into(),
        }])));
    }
    Ok(TargetConfig::parse(kind, &config.unwrap_or_default())?)
}

fn apply_patch(mut s: WebhookSettings, patch: WebhookPatch) -> Result<WebhookSettings, ApiError> {
    let mut v = Violations::default();
    if patch.kind.is_some() || patch.config.is_some() {
        let kind = patch.kind.unwrap_or_else(|| {
            s.target
                .as_ref()
                .map_or("http", TargetConfig::kind)
                .to_owned()
        });
        let config = patch
            .config
            .or_else(|| s.target.as_ref().map(TargetConfig::config));
        let mut target = target_of(&kind, config)?;
        if let (Some(new), Some(stored)) = (&mut target, &s.target) {
            new.keep_secrets(stored, &mut v);
        }
        s.target = target;
    }
    let url_before = s.url.clone();
    // Stored credentials this PATCH keeps without their value being sent again.
    let mut kept: Vec<String> = Vec::new();
    if let Some(name) = patch.name {
        s.name = name.trim().to_owned();
    }
    if let Some(url) = patch.url {
        s.url = url.trim().to_owned();
    }
    if let Some(triggers) = patch.triggers {
        s.triggers = triggers;
    }
    match patch.headers {
        Some(headers) => {
            let previous = std::mem::take(&mut s.headers);
            s.headers = headers
                .into_iter()
                .map(|(name, value)| match previous.get(&name) {
                    Some(old) if value == MASK => {
                        kept.push(format!("headers.{name}"));
                        (name, old.clone())
                    }
                    _ => (name, value),
                })
                .collect();
        }
        None => kept.extend(
            s.headers
                .keys()
                .filter(|name| is_sensitive_header(name))
                .map(|name| format!("headers.{name}")),
        ),
    }
    match patch.basic_auth {
        Some(auth) => {
            let previous_password = s.basic_auth.take().map(|a| a.password);
            s.basic_auth = auth.map(|mut a| {
                if a.password == MASK {
                    a.password = previous_password.unwrap_or_default();
                    kept.push("basic_auth.password".into());
                }
                a
            });
        }
        None if s.basic_auth.is_some() => kept.push("basic_auth.password".into()),
        None => {}
    }
    if s.target.is_none() {
        credentials_follow(&url_before, &s.url, &kept, &mut v);
    }
    if let Some(timeout_ms) = patch.timeout_ms {
        s.timeout_ms = timeout_ms;
    }
    if let Some(enabled) = patch.enabled {
        s.enabled = enabled;
    }
    if let Some(template) = patch.payload_template {
        s.payload_template = template;
    }
    if let Some(content_type) = patch.content_type {
        s.content_type = content_type;
    }
    if let Some(secret) = patch.jws_secret {
        if secret.as_deref() != Some(MASK) {
            s.jws_secret = secret;
        }
    }
    if let Some(issuer) = patch.jws_issuer {
        s.jws_issuer = issuer;
    }
    if let Some(header) = patch.signature_header {
        s.signature_header = header;
    }
    if let Some(rate) = patch.rate_limit_per_s {
        s.rate_limit_per_s = rate;
    }
    if let Some(after) = patch.disable_after {
        s.disable_after_ms = after.as_deref().map(disable_after_field).transpose()?;
    }
    v.into_result()?;
    Ok(s)
}

fn disable_after_field(text: &str) -> Result<u64, ApiError> {
    parse_disable_after(text).map_err(|problem| {
        let mut v = Violations::default();
        v.add("disable_after", problem);
        v.into()
    })
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
