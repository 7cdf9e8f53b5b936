//! What a create or a PATCH of a webhook carries, and how a PATCH applies to the stored
//! settings (keeping masked secrets only where they may stay).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::api::problem::ApiError;
use crate::domain::destination::credentials_follow;
use crate::domain::ordering::OrderingMode;
use crate::domain::redact::MASK;
use crate::domain::targets::TargetConfig;
use crate::domain::trigger::Trigger;
use crate::domain::validation::{FieldError, Violations};
use crate::domain::webhook::{
    is_sensitive_header, parse_disable_after, BasicAuth, WebhookSettings,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    // Missing fields read as empty, so validation names every one at fault at once.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\s\u0085]"
    )]
    pub(crate) name: String,
    /// `http` (the default), `email`, `slack`, `github_commit_status`, … (see `targets`).
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<String>, pattern = "^(http|email|slack|github_commit_status|github_pr_comment|gitlab_commit_status|gitlab_mr_comment)$")]
    pub(crate) kind: Option<String>,
    /// The settings of a notification target (see the README for each type's fields).
    #[serde(default)]
    pub(crate) config: Option<serde_json::Value>,
    /// An absolute http(s) URL of a public address (http webhooks only).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^https?://[^\\s]+$")]
    pub(crate) url: Option<String>,
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 50)]
    pub(crate) triggers: Vec<Trigger>,
    #[serde(default)]
    #[schema(schema_with = crate::api::schemas::headers)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Header names whose values viewers may read (all others are masked for them).
    #[serde(default)]
    pub(crate) public_headers: Vec<String>,
    #[serde(default)]
    pub(crate) basic_auth: Option<BasicAuth>,
    /// How long a receiver has to answer, in ms (default 5000).
    #[serde(default, deserialize_with = "crate::api::schemas::whole")]
    #[schema(minimum = 100, maximum = 60000)]
    pub(crate) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    /// Mustache over the event (sections nest at most 32 levels).
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub(crate) payload_template: Option<String>,
    /// The body's media type; a JSON type unless a template is given.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    )]
    pub(crate) content_type: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 512)]
    pub(crate) jws_secret: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    pub(crate) jws_issuer: Option<String>,
    /// The header the JWS travels in (default `X-Nf-Sign`).
    #[serde(default)]
    #[schema(pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    pub(crate) signature_header: Option<String>,
    /// At most this many calls a second, across every process of a cluster; calls over
    /// it wait their turn. Absent or null: no limit.
    #[serde(default, deserialize_with = "crate::api::schemas::whole")]
    #[schema(minimum = 1, maximum = 10000)]
    pub(crate) rate_limit_per_s: Option<u64>,
    /// Disable the webhook once its calls have all failed for this long (`5d`, `36h`,
    /// from 1m to 365d, or `never`). Absent or null: the server's `--disable-after`.
    #[serde(default)]
    #[schema(pattern = "^(never|[0-9]+ ?(m|min|h|d|w))$")]
    pub(crate) disable_after: Option<String>,
    /// `none` (default: concurrent), `key` (one call at a time per ordering key, in the
    /// order events were accepted) or `latest` (as `key`, and a newer call supersedes
    /// older ones not yet delivered).
    #[serde(default)]
    pub(crate) ordering: Option<OrderingMode>,
    /// A JSON pointer into the event (default `/entity/id`), or `*` for one order across
    /// the whole webhook.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^(\*|/.*)$")]
    pub(crate) ordering_key: Option<String>,
}

/// Every field optional; `basic_auth: null` removes it, `headers` replaces the whole set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    pub(crate) name: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    /// Replaces the target's settings; `********` keeps a stored secret.
    #[serde(default)]
    pub(crate) config: Option<serde_json::Value>,
    #[schema(max_length = 2048, pattern = "^https?://[^\\s]+$")]
    pub(crate) url: Option<String>,
    #[schema(min_items = 1, max_items = 50)]
    pub(crate) triggers: Option<Vec<Trigger>>,
    #[schema(schema_with = crate::api::schemas::headers)]
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) public_headers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) basic_auth: Option<Option<BasicAuth>>,
    #[serde(default, deserialize_with = "crate::api::schemas::whole")]
    #[schema(minimum = 100, maximum = 60000)]
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) payload_template: Option<Option<String>>,
    pub(crate) content_type: Option<String>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) jws_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) jws_issuer: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) signature_header: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::schemas::whole_or_null")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 10000)]
    pub(crate) rate_limit_per_s: Option<Option<u64>>,
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    pub(crate) disable_after: Option<Option<String>>,
    pub(crate) ordering: Option<OrderingMode>,
    #[schema(max_length = 200, pattern = r"^(\*|/.*)$")]
    pub(crate) ordering_key: Option<String>,
}
/// A rate as settings keep it; past `u32` it is out of range anyway (validation says so).
pub(super) fn per_second(rate: u64) -> u32 {
    u32::try_from(rate).unwrap_or(u32::MAX)
}

/// A target from the API's `type` and `config`.
pub(super) fn target_of(
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

pub(super) fn apply_patch(
    mut s: WebhookSettings,
    patch: WebhookPatch,
) -> Result<WebhookSettings, ApiError> {
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
    if let Some(public) = patch.public_headers {
        s.public_headers = public;
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
        s.rate_limit_per_s = rate.map(per_second);
    }
    if let Some(mode) = patch.ordering {
        s.ordering.mode = mode;
    }
    if let Some(key) = patch.ordering_key {
        s.ordering.key = key;
    }
    if let Some(after) = patch.disable_after {
        s.disable_after_ms = after.as_deref().map(disable_after_field).transpose()?;
    }
    v.into_result()?;
    Ok(s)
}

pub(super) fn disable_after_field(text: &str) -> Result<u64, ApiError> {
    parse_disable_after(text).map_err(|problem| {
        let mut v = Violations::default();
        v.add("disable_after", problem);
        v.into()
    })
}
