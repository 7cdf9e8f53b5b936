//! A webhook's settings and their rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::destination;
use super::event::NewEvent;
use super::ordering::Ordering;
use super::template::{self, Escape, RenderLimit};
use super::trigger::{any_matches, Trigger, MAX_IDS_PER_WEBHOOK};
use super::validation::Violations;
use crate::domain::targets::TargetConfig;

pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Kept well below the dispatcher's claim lease, so a slow receiver never outlives its lease.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";
pub const DEFAULT_JWS_ISSUER: &str = "hookrelay";
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
pub const MAX_TRIGGERS: usize = 50;
/// URLs longer than this are refused (common servers and proxies stop at 8 KiB).
pub const MAX_URL_BYTES: usize = 2048;
pub const MAX_RATE_LIMIT_PER_S: u32 = 10_000;
/// Shorter would disable a webhook over one bad deploy of its receiver.
const MIN_DISABLE_AFTER_MS: u64 = 60_000;
/// Longer is "never" in all but name, and past i64 it would be stored as never.
const MAX_DISABLE_AFTER_MS: u64 = 365 * 86_400_000;
const MAX_HEADERS: usize = 50;
/// Receivers commonly refuse headers past 8 KiB in all; one value may take half.
const MAX_HEADER_VALUE_BYTES: usize = 4096;

/// Headers that hookrelay sets itself; letting a webhook override them would break
/// signatures, framing or routing.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "authorization",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "webhook-sequence",
    "x-site-id",
    "x-webhook-id",
    "x-environment",
    "x-nf-sign",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[schema(min_length = 1, pattern = "^[^:]+$")]
    pub username: String,
    /// `********` keeps the stored one (when the URL stays on its origin).
    pub password: String,
}

/// The body a webhook would send for an event, and whether the event would trigger it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub matches: bool,
    pub content_type: String,
    pub body: String,
}

/// Everything a person configures on a webhook (the id and secret are the system's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub triggers: Vec<Trigger>,
    pub headers: BTreeMap<String, String>,
    /// Header names whose values viewers may read; every other value is masked for them.
    pub public_headers: Vec<String>,
    pub basic_auth: Option<BasicAuth>,
    pub timeout_ms: u64,
    pub enabled: bool,
    /// Mustache template of the body; `None` sends the event as published.
    pub payload_template: Option<String>,
    pub content_type: String,
    /// When set, every call also carries `X-Nf-Sign`, a JWS (HS256) signed with it.
    pub jws_secret: Option<String>,
    /// The JWS `iss` claim (default `hookrelay`).
    pub jws_issuer: Option<String>,
    /// The header the JWS travels in (default `X-Nf-Sign`; the same provider's current
    /// documentation calls it `X-Webhook-Signature`).
    pub signature_header: Option<String>,
    /// A notification target (email, Slack, GitHub, GitLab); `None` sends to `url`.
    pub target: Option<TargetConfig>,
    /// At most this many calls a second, across every process; `None`: no limit.
    pub rate_limit_per_s: Option<u32>,
    /// Disabled after failing this long without a success (ms; `Some(0)`: never; `None`:
    /// the server's `--disable-after`).
    pub disable_after_ms: Option<u64>,
    /// Whether calls go one at a time per key (see `domain/ordering.rs`).
    pub ordering: Ordering,
}

/// A duration such as `5d` or `36h`, or `never` (0), as the server's `--disable-after`
/// takes it.
pub fn parse_duration_or_never(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(0);
    }
    match humantime::parse_duration(text) {
        // 0 is how "never" is stored: a duration must not become it by accident.
        Ok(d) if !d.is_zero() => Ok(d.as_millis().min(u128::from(u64::MAX)) as u64),
        _ => Err("must be a duration such as 5d or 36h, or \"never\"".to_owned()),
    }
}

/// A webhook's `disable_after`: from 1m to 365d, or `never`.
pub fn parse_disable_after(text: &str) -> Result<u64, String> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(0);
    }
    let ms = humantime::parse_duration(text.trim())
        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
        .map_err(|_| "must be a duration such as 5d or 36h, or \"never\"".to_owned())?;
    if !(MIN_DISABLE_AFTER_MS..=MAX_DISABLE_AFTER_MS).contains(&ms) {
        return Err("must be from 1m to 365d, or \"never\"".to_owned());
    }
    Ok(ms)
}

/// `disable_after` as the API shows it (the inverse of [`parse_disable_after`]).
pub fn format_disable_after(ms: u64) -> String {
    if ms == 0 {
        return "never".into();
    }
    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
}

/// The event a template is tried against when a webhook is saved. Its values are chosen to
/// expose templates that only work by luck: a non-numeric id (so an unquoted `{{id}}`
/// breaks) and a title with quotes and a newline.
pub fn sample_event() -> NewEvent {
    NewEvent {
        entity_type: "item".into(),
        event_type: "update".into(),
        environment: None,
        entity: serde_json::json!({
            "id": "sample-item",
            "type": "item",
            "attributes": {"title": "A \"quoted\" title\nover two lines", "position": 1},
            "relationships": {"item_type": {"data": {"id": "sample-model", "type": "item_type"}}},
        }),
    }
}

impl WebhookSettings {
    /// A webhook named `name` sending to `url`, with no triggers and every optional
    /// setting at its default (as the API fills in what a create leaves out).
    pub fn new(name: &str, url: &str) -> Self {
        WebhookSettings {
            name: name.to_owned(),
            url: url.to_owned(),
            triggers: Vec::new(),
            headers: BTreeMap::new(),
            public_headers: Vec::new(),
            basic_auth: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            enabled: true,
            payload_template: None,
            content_type: DEFAULT_CONTENT_TYPE.into(),
            jws_secret: None,
            jws_issuer: None,
            signature_header: None,
            target: None,
            rate_limit_per_s: None,
            disable_after_ms: None,
            ordering: Ordering::default(),
        }
    }

    /// The ordering its calls get: its own, or for a target whose messages are states
    /// (a commit status, a pull-request comment) left unordered, `latest` by what the
    /// state is about, so an older state never overwrites a newer one.
    pub fn effective_ordering(&self) -> Ordering {
        match self
            .target
            .as_ref()
            .and_then(TargetConfig::own_ordering_key)
        {
            Some(pointer) if !self.ordering.is_ordered() => Ordering::latest_by(pointer),
            _ => self.ordering.clone(),
        }
    }

    pub fn escape(&self) -> Escape {
        Escape::for_content_type(&self.content_type)
    }

    /// The body of a call for `event`: `None` means the event's default body. A template
    /// that no longer compiles (it was checked when saved) falls back to the default body
    /// rather than losing the call; one that passes a render limit for this event is an
    /// error the publisher hears about.
    pub fn render_body(&self, event: &NewEvent) -> Result<Option<String>, RenderLimit> {
        if self.target.is_some() {
            // A notification target words its own message from the event.
            return Ok(None);
        }
        let Some(source) = self.payload_template.as_deref() else {
            return Ok(None);
        };
        match template::compile(source) {
            Ok(t) => t.render(&event.body_value(), self.escape()).map(Some),
            Err(e) => {
                tracing::warn!(error = %e, "stored payload template does not compile; sending the default body");
                Ok(None)
            }
        }
    }

    /// What this webhook would send for `event`, without sending it: for the API's preview
    /// of a saved webhook and the dashboard's live preview of one being edited. Unlike
    /// [`render_body`](Self::render_body), a template that does not compile is an error.
    pub fn preview(&self, event: &NewEvent) -> Result<Preview, Violations> {
        let mut v = Violations::default();
        self.validate_payload(&mut v);
        v.into_result()?;
        let body = match &self.payload_template {
            Some(source) => template::compile(source)
                .map_err(|e| {
                    let mut v = Violations::default();
                    v.add("payload_template", e.to_string());
                    v
                })?
                .render(&event.body_value(), self.escape())
                .map_err(|e| {
                    let mut v = Violations::default();
                    v.add("payload_template", e.to_string());
                    v
                })?,
            None => event.default_body(),
        };
        Ok(Preview {
            matches: any_matches(&self.triggers, &event.key()),
            content_type: if self.payload_template.is_some() {
                self.content_type.clone()
            } else {
                DEFAULT_CONTENT_TYPE.to_owned()
            },
            body,
        })
    }

    fn validate_operation(&self, v: &mut Violations) {
        if let Some(rate) = self.rate_limit_per_s {
            if !(1..=MAX_RATE_LIMIT_PER_S).contains(&rate) {
                v.add(
                    "rate_limit_per_s",
                    format!("must be between 1 and {MAX_RATE_LIMIT_PER_S} (or null for no limit)"),
                );
            }
        }
        if let Some(after) = self.disable_after_ms {
            if after != 0 && !(MIN_DISABLE_AFTER_MS..=MAX_DISABLE_AFTER_MS).contains(&after) {
                v.add(
                    "disable_after",
                    "must be from 1m to 365d, or \"never\" (null: the server's default)",
                );
            }
        }
    }

    fn validate_payload(&self, v: &mut Violations) {
        let media_type_ok = self.content_type.len() <= 200
            && reqwest::header::HeaderValue::from_str(&self.content_type).is_ok()
            && self
                .content_type
                .split(';')
                .next()
                .and_then(|essence| essence.trim().split_once('/'))
                .is_some_and(|(kind, sub)| {
                    !kind.is_empty() && !sub.is_empty() && !sub.contains(' ')
                });
        if !media_type_ok {
            v.add(
                "content_type",
                "must be a media type such as application/json or text/plain",
            );
            return;
        }
        let Some(source) = &self.payload_template else {
            if self.escape() != Escape::Json {
                v.add(
                    "content_type",
                    "must be a JSON media type unless a payload_template is given (the default body is JSON)",
                );
            }
            return;
        };
        if source.len() > MAX_TEMPLATE_BYTES {
            v.add(
                "payload_template",
                format!("must be at most {MAX_TEMPLATE_BYTES} bytes"),
            );
            return;
        }
        let compiled = match template::compile(source) {
            Ok(compiled) => compiled,
            Err(e) => return v.add("payload_template", e.to_string()),
        };
        if compiled.has_partials() {
            return v.add(
                "payload_template",
                "partials ({{> name}}) are not supported",
            );
        }
        if self.escape() == Escape::Json {
            let sample = match compiled.render_probe(&sample_event().body_value(), Escape::Json) {
                Ok(sample) => sample,
                Err(e) => return v.add("payload_template", format!("{e} (a sample event)")),
            };
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&sample) {
                v.add(
                    "payload_template",
                    format!(
                        "does not render valid JSON for a sample event ({e} in the output); \
                         put string values in quotes, e.g. \"{{{{entity.id}}}}\""
                    ),
                );
            }
        }
    }

    pub fn validate(&self, allow_private_targets: bool) -> Result<(), Violations> {
        let mut v = Violations::default();
        v.text("name", &self.name, 200);
        match &self.target {
            None => {
                if self.url.len() > MAX_URL_BYTES {
                    v.add("url", format!("must be at most {MAX_URL_BYTES} bytes"));
                } else if let Err(problem) =
                    destination::check_url(&self.url, allow_private_targets)
                {
                    v.add("url", problem.to_string());
                }
            }
            Some(target) => {
                if !self.url.is_empty() {
                    v.add(
                        "url",
                        format!(
                            "is for http webhooks; a {} target takes its settings in `config`",
                            target.kind()
                        ),
                    );
                }
                for (field, set) in [
                    ("payload_template", self.payload_template.is_some()),
                    ("basic_auth", self.basic_auth.is_some()),
                    ("jws_secret", self.jws_secret.is_some()),
                    ("headers", !self.headers.is_empty()),
                ] {
                    if set {
                        v.add(
                            field,
                            format!(
                                "is for http webhooks; a {} target words and sends its own message",
                                target.kind()
                            ),
                        );
                    }
                }
                target.validate(allow_private_targets, &mut v);
            }
        }
        if let Some(name) = &self.signature_header {
            let lower = name.to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                v.add("signature_header", "is not a valid HTTP header name");
            } else if lower != "x-nf-sign" && RESERVED_HEADERS.contains(&lower.as_str()) {
                v.add(
                    "signature_header",
                    "is a header hookrelay sets for another purpose",
                );
            }
        }
        if self.triggers.is_empty() {
            v.add("triggers", "must hold at least one trigger");
        } else if self.triggers.len() > MAX_TRIGGERS {
            v.add(
                "triggers",
                format!("must hold at most {MAX_TRIGGERS} triggers"),
            );
        }
        let ids: usize = self.triggers.iter().map(Trigger::id_count).sum();
        if ids > MAX_IDS_PER_WEBHOOK {
            v.add(
                "triggers",
                format!(
                    "list {ids} entity and model ids in all; a webhook may list at most \
                     {MAX_IDS_PER_WEBHOOK}"
                ),
            );
        }
        for (i, trigger) in self.triggers.iter().enumerate().take(MAX_TRIGGERS + 1) {
            trigger.validate(&format!("triggers[{i}]"), &mut v);
        }
        if self.headers.len() > MAX_HEADERS {
            v.add(
                "headers",
                format!("must hold at most {MAX_HEADERS} headers"),
            );
        }
        for (name, value) in &self.headers {
            let field = format!("headers.{name}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                v.add(field, "is not a valid HTTP header name");
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                v.add(field, "is set by hookrelay and cannot be overridden");
            } else if reqwest::header::HeaderValue::from_str(value).is_err() {
                v.add(field, "value must be visible ASCII without line breaks");
            } else if value.len() > MAX_HEADER_VALUE_BYTES {
                v.add(
                    field,
                    format!("value must be at most {MAX_HEADER_VALUE_BYTES} bytes"),
                );
            }
        }
        for (i, name) in self.public_headers.iter().enumerate() {
            if !self.headers.keys().any(|h| h.eq_ignore_ascii_case(name)) {
                v.add(
                    format!("public_headers[{i}]"),
                    "must name one of the webhook's headers",
                );
            } else if is_sensitive_header(name) {
                v.add(
                    format!("public_headers[{i}]"),
                    "names a header that holds a credential; it cannot be public",
                );
            }
        }
        if let Some(auth) = &self.basic_auth {
            if auth.username.is_empty() || auth.username.contains(':') {
                v.add(
                    "basic_auth.username",
                    "must be non-empty and must not contain ':'",
                );
            }
        }
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            v.add(
                "timeout_ms",
                format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
            );
        }
        self.validate_payload(&mut v);
        self.validate_operation(&mut v);
        self.ordering.validate(&mut v);
        if let Some(secret) = &self.jws_secret {
            if secret.is_empty() || secret.len() > 512 {
                v.add("jws_secret", "must be 1-512 characters");
            }
        }
        if let Some(issuer) = &self.jws_issuer {
            v.text("jws_issuer", issuer, 200);
        }
        v.into_result()
    }
}

/// Whether a header's value may hold a credential, so that the activity log masks it.
pub fn is_sensitive_header(name: &str) -> bool {
    // Checked for every header of every delivery, so without allocating.
    let name = name.as_bytes();
    [
        "auth",
        "token",
        "secret",
        "key",
        "password",
        "cookie",
        "signature-key",
    ]
    .iter()
    .any(|word| {
        name.windows(word.len())
            .any(|part| part.eq_ignore_ascii_case(word.as_bytes()))
    })
}

mod changes;
mod test_event;

#[cfg(test)]
mod tests;
