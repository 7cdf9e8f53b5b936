//! The webhook form: what its fields hold, read from a POST or from a saved webhook, turned
//! into the API's create and update bodies (drawn by `fields.rs`).

use std::collections::BTreeMap;

use super::super::form::{list, FormData};
use crate::api::webhooks::{NewWebhook, WebhookPatch, WebhookView};
use crate::api::ApiError;
use crate::domain::ordering::{self, Ordering, OrderingMode};
use crate::domain::trigger::Trigger;
use crate::domain::validation::Violations;
use crate::domain::webhook::{
    format_disable_after, parse_disable_after, sample_event, BasicAuth, WebhookSettings,
    DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT_MS,
};

/// Entity types DESIGN.md names; offered as suggestions, any string is allowed.
pub(super) const ENTITY_TYPES: [&str; 7] = [
    "item",
    "item_type",
    "upload",
    "build_trigger",
    "environment",
    "deploy",
    "form_submission",
];
/// Blank trigger rows offered below the filled ones (more can be added after saving).
pub(super) const SPARE_TRIGGER_ROWS: usize = 2;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerRow {
    pub entity_type: String,
    pub event_types: String,
    pub entity_ids: String,
    pub model_ids: String,
}

impl TriggerRow {
    fn is_blank(&self) -> bool {
        [
            &self.entity_type,
            &self.event_types,
            &self.entity_ids,
            &self.model_ids,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }
}

/// The form's fields as typed: redrawn as they were when the server refuses them.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookForm {
    pub name: String,
    pub url: String,
    pub triggers: Vec<TriggerRow>,
    /// `Name: value` per line.
    pub headers: String,
    /// Header names viewers may read, comma-separated.
    pub public_headers: String,
    pub basic_user: String,
    pub basic_password: String,
    pub enabled: bool,
    pub timeout_ms: String,
    /// Empty: no limit.
    pub rate_limit_per_s: String,
    /// Empty: the server's default.
    pub disable_after: String,
    /// `none`, `key` or `latest`.
    pub ordering: String,
    pub ordering_key: String,
    pub content_type: String,
    pub payload_template: String,
    pub jws_secret: String,
    pub jws_issuer: String,
    pub signature_header: String,
    /// `http`, or a notification target's type (whose settings the API edits).
    pub kind: String,
    /// A notification target's settings as the API shows them (secrets masked).
    pub config: Option<serde_json::Value>,
    /// The event the preview renders; not saved.
    pub sample: String,
}

fn sample_text(triggers: &[Trigger]) -> String {
    let mut event = sample_event();
    if let Some(first) = triggers.first() {
        event.entity_type = first.entity_type.clone();
        if let Some(event_type) = first.event_types.iter().find(|t| *t != "*") {
            event.event_type = event_type.clone();
        }
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "entity_type": event.entity_type,
        "event_type": event.event_type,
        "entity": event.entity,
    }))
    .expect("plain JSON")
}

impl WebhookForm {
    /// A new webhook of type `kind`: http ones start on item publishes, notifications on
    /// every deploy event.
    pub fn blank(kind: &str) -> Self {
        let (entity_type, event_type) = match kind {
            "http" => ("item", "publish"),
            _ => ("deploy", "*"),
        };
        let first = Trigger {
            entity_type: entity_type.into(),
            event_types: vec![event_type.into()],
            entity_ids: Vec::new(),
            model_ids: Vec::new(),
        };
        WebhookForm {
            name: String::new(),
            url: String::new(),
            triggers: vec![TriggerRow {
                entity_type: entity_type.into(),
                event_types: event_type.into(),
                ..TriggerRow::default()
            }],
            headers: String::new(),
            public_headers: String::new(),
            basic_user: String::new(),
            basic_password: String::new(),
            enabled: true,
            timeout_ms: DEFAULT_TIMEOUT_MS.to_string(),
            rate_limit_per_s: String::new(),
            disable_after: String::new(),
            ordering: OrderingMode::None.as_str().into(),
            ordering_key: ordering::DEFAULT_KEY.into(),
            content_type: DEFAULT_CONTENT_TYPE.into(),
            payload_template: String::new(),
            jws_secret: String::new(),
            jws_issuer: String::new(),
            signature_header: String::new(),
            kind: kind.into(),
            config: None,
            sample: sample_text(&[first]),
        }
    }

    /// A saved webhook, as the API shows it (credentials masked).
    pub fn from_view(w: &WebhookView) -> Self {
        WebhookForm {
            name: w.name.clone(),
            url: w.url.clone(),
            triggers: w
                .triggers
                .iter()
                .map(|t| TriggerRow {
                    entity_type: t.entity_type.clone(),
                    event_types: t.event_types.join(", "),
                    entity_ids: t.entity_ids.join(", "),
                    model_ids: t.model_ids.join(", "),
                })
                .collect(),
            headers: w
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}\n"))
                .collect(),
            public_headers: w.public_headers.join(", "),
            basic_user: w
                .basic_auth
                .as_ref()
                .map_or_else(String::new, |a| a.username.clone()),
            basic_password: w
                .basic_auth
                .as_ref()
                .map_or_else(String::new, |a| a.password.clone()),
            enabled: w.enabled,
            timeout_ms: w.timeout_ms.to_string(),
            rate_limit_per_s: w
                .rate_limit_per_s
                .map_or_else(String::new, |n| n.to_string()),
            disable_after: w.disable_after.clone().unwrap_or_default(),
            ordering: w.ordering.as_str().into(),
            ordering_key: w.ordering_key.clone(),
            content_type: w.content_type.clone(),
            payload_template: w.payload_template.clone().unwrap_or_default(),
            jws_secret: w.jws_secret.clone().unwrap_or_default(),
            jws_issuer: w.jws_issuer.clone().unwrap_or_default(),
            signature_header: w.signature_header.clone().unwrap_or_default(),
            kind: w.kind.to_owned(),
            config: w.config.clone(),
            sample: sample_text(&w.triggers),
        }
    }

    pub fn from_post(form: &FormData) -> Self {
        let triggers = (0..)
            .map_while(|i| {
                let field =
                    |part: &str| form.get(&format!("trigger_{i}_{part}")).map(str::to_owned);
                Some(TriggerRow {
                    entity_type: field("entity_type")?,
                    event_types: field("event_types").unwrap_or_default(),
                    entity_ids: field("entity_ids").unwrap_or_default(),
                    model_ids: field("model_ids").unwrap_or_default(),
                })
            })
            .filter(|row| !row.is_blank())
            .collect();
        WebhookForm {
            name: form.text("name"),
            url: form.text("url"),
            triggers,
            headers: form.get("headers").unwrap_or_default().to_owned(),
            public_headers: form.get("public_headers").unwrap_or_default().to_owned(),
            basic_user: form.text("basic_user"),
            basic_password: form.get("basic_password").unwrap_or_default().to_owned(),
            enabled: form.checked("enabled"),
            timeout_ms: form.text("timeout_ms"),
            rate_limit_per_s: form.text("rate_limit_per_s"),
            disable_after: form.text("disable_after"),
            ordering: form.text("ordering"),
            ordering_key: form.text("ordering_key"),
            content_type: form.text("content_type"),
            payload_template: form.get("payload_template").unwrap_or_default().to_owned(),
            jws_secret: form.get("jws_secret").unwrap_or_default().to_owned(),
            jws_issuer: form.text("jws_issuer"),
            signature_header: form.text("signature_header"),
            config: match form.optional("kind").as_deref() {
                None | Some("http") => None,
                Some(kind) => Some(super::target_form::read(kind, form)),
            },
            kind: form.optional("kind").unwrap_or_else(|| "http".into()),
            sample: form.get("sample").unwrap_or_default().to_owned(),
        }
    }

    /// A notification target's type (`None`: an http webhook).
    fn target_kind(&self) -> Option<String> {
        (self.kind != "http").then(|| self.kind.clone())
    }

    /// The URL, for http webhooks only (a notification's destination is in its config).
    fn url_for_kind(&self, url: String) -> Option<String> {
        self.target_kind().is_none().then_some(url)
    }

    /// The settings the fields stand for. Only what the form itself must parse is checked
    /// here (header lines, the timeout's digits); every rule is the API's.
    pub fn settings(&self) -> Result<WebhookSettings, ApiError> {
        let (settings, v) = self.read_settings();
        v.into_result()?;
        Ok(settings)
    }

    /// The settings, with what the form could not read left at its default, and what it
    /// could not read: so the API's rules can be checked too and every problem shown at once.
    pub fn read_settings(&self) -> (WebhookSettings, Violations) {
        let mut v = Violations::default();
        let mut headers = BTreeMap::new();
        for line in self.headers.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once(':') {
                Some((name, value)) => {
                    headers.insert(name.trim().to_owned(), value.trim().to_owned());
                }
                None => v.add(
                    "headers",
                    format!("`{}` is not a `Name: value` line", line.trim()),
                ),
            }
        }
        let timeout_ms = self.timeout_ms.parse::<u64>().unwrap_or_else(|_| {
            v.add("timeout_ms", "must be a whole number of milliseconds");
            DEFAULT_TIMEOUT_MS
        });
        let rate_limit_per_s = match self.rate_limit_per_s.trim() {
            "" => None,
            text => text.parse::<u32>().map_or_else(
                |_| {
                    v.add(
                        "rate_limit_per_s",
                        "must be a whole number of calls a second",
                    );
                    None
                },
                Some,
            ),
        };
        let disable_after_ms = match self.disable_after.trim() {
            "" => None,
            text => parse_disable_after(text).map_or_else(
                |problem| {
                    v.add("disable_after", problem);
                    None
                },
                Some,
            ),
        };
        // A form without the field (posted by a page from before ordering) is unordered.
        let mode = match self.ordering.trim() {
            "" => Some(OrderingMode::None),
            named => OrderingMode::parse(named),
        }
        .unwrap_or_else(|| {
            v.add("ordering", "must be none, key or latest");
            OrderingMode::None
        });
        let optional = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
        let settings = WebhookSettings {
            name: self.name.clone(),
            url: self.url.clone(),
            triggers: self
                .triggers
                .iter()
                .map(|row| Trigger {
                    entity_type: row.entity_type.trim().to_owned(),
                    event_types: list(&row.event_types),
                    entity_ids: list(&row.entity_ids),
                    model_ids: list(&row.model_ids),
                })
                .collect(),
            headers,
            public_headers: list(&self.public_headers),
            basic_auth: optional(&self.basic_user).map(|username| BasicAuth {
                username,
                password: self.basic_password.clone(),
            }),
            timeout_ms,
            enabled: self.enabled,
            payload_template: optional(&self.payload_template),
            content_type: optional(&self.content_type)
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
            jws_secret: optional(&self.jws_secret),
            jws_issuer: optional(&self.jws_issuer),
            signature_header: optional(&self.signature_header),
            // The form sets up http webhooks; a notification target keeps its settings.
            target: None,
            rate_limit_per_s,
            disable_after_ms,
            ordering: Ordering {
                mode,
                key: optional(&self.ordering_key)
                    .unwrap_or_else(|| ordering::DEFAULT_KEY.to_owned()),
            },
        };
        (settings, v)
    }

    pub fn create_body(&self) -> Result<NewWebhook, ApiError> {
        let s = self.settings()?;
        Ok(NewWebhook {
            name: s.name,
            kind: self.target_kind(),
            config: self.config.clone(),
            url: self.url_for_kind(s.url),
            triggers: s.triggers,
            headers: s.headers,
            public_headers: s.public_headers,
            basic_auth: s.basic_auth,
            timeout_ms: Some(s.timeout_ms),
            enabled: Some(s.enabled),
            payload_template: s.payload_template,
            content_type: Some(s.content_type),
            jws_secret: s.jws_secret,
            jws_issuer: s.jws_issuer,
            signature_header: s.signature_header,
            rate_limit_per_s: s.rate_limit_per_s.map(u64::from),
            disable_after: s.disable_after_ms.map(format_disable_after),
            ordering: Some(s.ordering.mode),
            ordering_key: Some(s.ordering.key),
        })
    }

    /// Every field, so the saved webhook becomes what the form shows. Masked values
    /// (`********`) keep what is stored, as in any PATCH.
    pub fn update_body(&self) -> Result<WebhookPatch, ApiError> {
        let s = self.settings()?;
        Ok(WebhookPatch {
            name: Some(s.name),
            kind: None,
            config: self.config.clone(),
            url: self.url_for_kind(s.url),
            triggers: Some(s.triggers),
            headers: Some(s.headers),
            public_headers: Some(s.public_headers),
            basic_auth: Some(s.basic_auth),
            timeout_ms: Some(s.timeout_ms),
            enabled: Some(s.enabled),
            payload_template: Some(s.payload_template),
            content_type: Some(s.content_type),
            jws_secret: Some(s.jws_secret),
            jws_issuer: Some(s.jws_issuer),
            signature_header: Some(s.signature_header),
            rate_limit_per_s: Some(s.rate_limit_per_s.map(u64::from)),
            disable_after: Some(s.disable_after_ms.map(format_disable_after)),
            ordering: Some(s.ordering.mode),
            ordering_key: Some(s.ordering.key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> FormData {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        FormData::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_post_becomes_the_apis_create_body() {
        let form = WebhookForm::from_post(&posted(&[
            ("name", " Rebuild "),
            ("url", "https://example.com/hook"),
            ("trigger_0_entity_type", "item"),
            ("trigger_0_event_types", "publish, unpublish"),
            ("trigger_0_entity_ids", ""),
            ("trigger_0_model_ids", "blog_post"),
            ("trigger_1_entity_type", ""),
            ("trigger_1_event_types", ""),
            ("headers", "X-Team: web\n\nX-Env:  prod \n"),
            ("enabled", "on"),
            ("timeout_ms", "2500"),
            ("content_type", "application/json"),
            ("payload_template", ""),
        ]));
        let body = form.create_body().expect("parses");
        assert_eq!(body.name, "Rebuild");
        assert_eq!(body.triggers.len(), 1, "blank rows are dropped");
        assert_eq!(body.triggers[0].event_types, ["publish", "unpublish"]);
        assert_eq!(body.triggers[0].model_ids, ["blog_post"]);
        assert_eq!(body.headers.get("X-Env").map(String::as_str), Some("prod"));
        assert_eq!(body.timeout_ms, Some(2500));
        assert_eq!(body.enabled, Some(true));
        assert_eq!(body.payload_template, None);
        assert!(body.basic_auth.is_none());
    }

    #[test]
    fn lines_the_form_cannot_read_are_field_errors() {
        let mut form = WebhookForm::blank("http");
        form.headers = "not a header line".into();
        form.timeout_ms = "soon".into();
        let problem = form.settings().expect_err("refused");
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["headers", "timeout_ms"]);
    }

    #[test]
    fn an_unticked_box_disables_and_errors_mark_their_field() {
        let form = WebhookForm::from_post(&posted(&[("name", "x"), ("timeout_ms", "100")]));
        assert!(!form.enabled);
        let errors = vec![crate::domain::validation::FieldError {
            field: "url".into(),
            message: "must be an http or https URL".into(),
        }];
        let html = super::super::fields::fields(&form, &errors, true).into_string();
        assert!(html.contains("must be an http or https URL"));
        assert!(html.contains(r#"id="url" type="url" name="url" value="" required placeholder="https://example.com/hooks/cms" aria-invalid="true""#));
    }
}
