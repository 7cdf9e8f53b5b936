use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::signing;
use crate::domain::time::{rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::trigger::Trigger;
use crate::domain::webhook::{is_sensitive_header, BasicAuth, WebhookSettings, DEFAULT_TIMEOUT_MS};
use crate::store::WebhookRecord;

/// Shown instead of stored credentials. Sending it back in a PATCH keeps the stored value,
/// so a client can round-trip what it read without wiping secrets.
const MASK: &str = "********";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    name: String,
    url: String,
    triggers: Vec<Trigger>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Every field optional; `basic_auth: null` removes it, `headers` replaces the whole set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    name: Option<String>,
    url: Option<String>,
    triggers: Option<Vec<Trigger>>,
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    basic_auth: Option<Option<BasicAuth>>,
    timeout_ms: Option<u64>,
    enabled: Option<bool>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize)]
pub struct WebhookView {
    id: String,
    site_id: String,
    name: String,
    url: String,
    triggers: Vec<Trigger>,
    headers: BTreeMap<String, String>,
    basic_auth: Option<BasicAuth>,
    timeout_ms: u64,
    enabled: bool,
    #[serde(with = "rfc3339")]
    created_at: UnixMillis,
    #[serde(with = "rfc3339")]
    updated_at: UnixMillis,
    /// Only in the answer to a create; afterwards see `GET …/secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
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
            url: s.url,
            triggers: s.triggers,
            timeout_ms: s.timeout_ms,
            enabled: s.enabled,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: None,
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    caller.require(Role::Developer)?;
    let b = body.value;
    let settings = WebhookSettings {
        name: b.name.trim().to_owned(),
        url: b.url.trim().to_owned(),
        triggers: b.triggers,
        headers: b.headers,
        basic_auth: b.basic_auth,
        timeout_ms: b.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        enabled: b.enabled.unwrap_or(true),
    };
    settings.validate(state.allow_private_targets)?;
    let secret = signing::generate_secret();
    let record = state
        .store
        .create_webhook(&site_id, &settings, &secret)
        .await
        .or_not_found("site")?;
    let mut view = WebhookView::from(record);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

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

#[derive(Serialize)]
pub struct SecretView {
    secret: String,
}

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
    let settings = apply_patch(current.settings, body.value);
    settings.validate(state.allow_private_targets)?;
    let updated = state
        .store
        .update_webhook(&site_id, &webhook_id, &settings)
        .await
        .or_not_found("webhook")?;
    Ok(Json(updated.into()))
}

fn apply_patch(mut s: WebhookSettings, patch: WebhookPatch) -> WebhookSettings {
    if let Some(name) = patch.name {
        s.name = name.trim().to_owned();
    }
    if let Some(url) = patch.url {
        s.url = url.trim().to_owned();
    }
    if let Some(triggers) = patch.triggers {
        s.triggers = triggers;
    }
    if let Some(headers) = patch.headers {
        let previous = std::mem::take(&mut s.headers);
        s.headers = headers
            .into_iter()
            .map(|(name, value)| {
                let kept = match previous.get(&name) {
                    Some(old) if value == MASK => old.clone(),
                    _ => value,
                };
                (name, kept)
            })
            .collect();
    }
    if let Some(auth) = patch.basic_auth {
        let previous_password = s.basic_auth.take().map(|a| a.password);
        s.basic_auth = auth.map(|mut a| {
            if a.password == MASK {
                a.password = previous_password.unwrap_or_default();
            }
            a
        });
    }
    if let Some(timeout_ms) = patch.timeout_ms {
        s.timeout_ms = timeout_ms;
    }
    if let Some(enabled) = patch.enabled {
        s.enabled = enabled;
    }
    s
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Developer)?;
    state
        .store
        .delete_webhook(&site_id, &webhook_id)
        .await
        .or_not_found("webhook")?;
    Ok(StatusCode::NO_CONTENT)
}
