//! A webhook as the API shows it: credentials masked, and for viewers every credential
//! (custom header values, URL query values) masked too.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ordering::OrderingMode;
use crate::domain::redact::{self, MASK};
use crate::domain::signing::active_previous;
use crate::domain::targets::TargetConfig;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::trigger::Trigger;
use crate::domain::webhook::{format_disable_after, is_sensitive_header, BasicAuth};
use crate::store::WebhookRecord;

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
    /// Values that may hold a credential show as `********`; for viewers every value
    /// but those of `public_headers` does.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) public_headers: Vec<String>,
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
    /// How its calls are ordered; GitHub and GitLab targets left at `none` show the
    /// `latest` ordering they get by themselves.
    pub(crate) ordering: OrderingMode,
    /// What the ordering key is read from: a JSON pointer into the event, or `*`.
    pub(crate) ordering_key: String,
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

impl WebhookView {
    /// The webhook as `role` may see it: for a viewer, no header value (but the public
    /// ones) and no URL query value.
    pub fn for_role(w: WebhookRecord, role: Role) -> Self {
        let mut view = WebhookView::from(w);
        if !role.allows(Role::Developer) {
            let public = &view.public_headers;
            for (name, value) in view.headers.iter_mut() {
                if !public.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                    *value = MASK.to_owned();
                }
            }
            view.url = redact::url(&view.url);
        }
        view
    }
}

impl From<WebhookRecord> for WebhookView {
    fn from(w: WebhookRecord) -> Self {
        let ordering = w.settings.effective_ordering();
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
            public_headers: s.public_headers,
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
            ordering: ordering.mode,
            ordering_key: ordering.key,
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
