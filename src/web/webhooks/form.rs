//! The webhook form: what its fields hold, read from a POST or from a saved webhook, turned
//! into the API's create and update bodies, and drawn with each field's errors beside it.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::super::form::{list, FormData};
use super::super::layout::{field_errors, invalid};
use crate::api::webhooks::{NewWebhook, WebhookPatch, WebhookView};
use crate::api::ApiError;
use crate::domain::ordering::{self, Ordering, OrderingMode};
use crate::domain::trigger::Trigger;
use crate::domain::validation::{FieldError, Violations};
use crate::domain::webhook::{
    format_disable_after, parse_disable_after, sample_event, BasicAuth, WebhookSettings,
    DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT_MS,
};

/// Entity types DESIGN.md names; offered as suggestions, any string is allowed.
const ENTITY_TYPES: [&str; 7] = [
    "item",
    "item_type",
    "upload",
    "build_trigger",
    "environment",
    "deploy",
    "form_submission",
];
/// Blank trigger rows offered below the filled ones (more can be added after saving).
const SPARE_TRIGGER_ROWS: usize = 2;

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
    pub fn blank() -> Self {
        let first = Trigger {
            entity_type: "item".into(),
            event_types: vec!["publish".into()],
            entity_ids: Vec::new(),
            model_ids: Vec::new(),
        };
        WebhookForm {
            name: String::new(),
            url: String::new(),
            triggers: vec![TriggerRow {
                entity_type: "item".into(),
                event_types: "publish".into(),
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
            kind: "http".into(),
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
            kind: form.optional("kind").unwrap_or_else(|| "http".into()),
            config: None,
            sample: form.get("sample").unwrap_or_default().to_owned(),
        }
    }

    /// The settings the fields stand for. Only what the form itself must parse is checked
    /// here (header lines, the timeout's digits); every rule is the API's.
    pub fn settings(&self) -> Result<WebhookSettings, ApiError> {
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
        v.into_result()?;
        let optional = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
        Ok(WebhookSettings {
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
        })
    }

    pub fn create_body(&self) -> Result<NewWebhook, ApiError> {
        let s = self.settings()?;
        Ok(NewWebhook {
            name: s.name,
            kind: None,
            config: None,
            url: Some(s.url),
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
            config: None,
            url: Some(s.url),
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

const ORDERING_CHOICES: [(OrderingMode, &str); 3] = [
    (OrderingMode::None, "None: concurrent, fastest"),
    (OrderingMode::Key, "In order, per key"),
    (OrderingMode::Latest, "Latest only, per key"),
];

/// The form's fields (the caller wraps them in a `<form>` with its action and buttons).
pub fn fields(f: &WebhookForm, errors: &[FieldError], editable: bool) -> Markup {
    let rows = f.triggers.len() + SPARE_TRIGGER_ROWS;
    let blank = TriggerRow::default();
    let http = f.kind == "http";
    html! {
        fieldset disabled[!editable] {
            legend { "Destination" }
            label for="name" { "Name" }
            input #name type="text" name="name" value=(f.name) maxlength="200" required aria-invalid=[invalid(errors, "name")];
            (field_errors(errors, "name"))
            input type="hidden" name="kind" value=(f.kind);
            @if http {
                label for="url" { "URL" }
                input #url type="url" name="url" value=(f.url) required placeholder="https://example.com/hooks/cms" aria-invalid=[invalid(errors, "url")] aria-describedby="url-hint";
                p.field-hint #url-hint { "Called with a signed POST. Private and loopback addresses are refused unless the server allows them." }
                (field_errors(errors, "url"))
            }
            label.inline { input type="checkbox" name="enabled" checked[f.enabled]; "Enabled" }
        }
        @if !http {
            fieldset {
                legend { "Notification: " code { (f.kind) } }
                p.field-hint { "Its settings (secrets masked) are changed through the API: " code { "PATCH …/webhooks/{id}" } " with " code { "{\"config\": {…}}" } "." }
                pre { (f.config.as_ref().and_then(|c| serde_json::to_string_pretty(c).ok()).unwrap_or_default()) }
                (field_errors(errors, "config"))
            }
        }
        fieldset disabled[!editable] {
            legend { "Triggers" }
            p.field-hint { "The webhook is called when any row matches. Event types are comma-separated (" code { "create, update, publish, *" } "); ids and models narrow a row to those entities." }
            (field_errors(errors, "triggers"))
            datalist #entity-types { @for t in ENTITY_TYPES { option value=(t) {} } }
            @for i in 0..rows {
                @let row = f.triggers.get(i).unwrap_or(&blank);
                @let field = format!("triggers[{i}]");
                div.row.trigger-row {
                    div {
                        label for={ "trigger_" (i) "_entity_type" } { "Entity type" }
                        input id={ "trigger_" (i) "_entity_type" } type="text" name={ "trigger_" (i) "_entity_type" } value=(row.entity_type) list="entity-types" placeholder="item" aria-invalid=[invalid(errors, &format!("{field}.entity_type"))];
                    }
                    div {
                        label for={ "trigger_" (i) "_event_types" } { "Event types" }
                        input id={ "trigger_" (i) "_event_types" } type="text" name={ "trigger_" (i) "_event_types" } value=(row.event_types) placeholder="publish, unpublish" aria-invalid=[invalid(errors, &format!("{field}.event_types"))];
                    }
                    div {
                        label for={ "trigger_" (i) "_entity_ids" } { "Only entity ids" }
                        input id={ "trigger_" (i) "_entity_ids" } type="text" name={ "trigger_" (i) "_entity_ids" } value=(row.entity_ids) placeholder="any";
                    }
                    div {
                        label for={ "trigger_" (i) "_model_ids" } { "Only models" }
                        input id={ "trigger_" (i) "_model_ids" } type="text" name={ "trigger_" (i) "_model_ids" } value=(row.model_ids) placeholder="any";
                    }
                }
                (field_errors(errors, &field))
            }
        }
        @if !http {
            fieldset disabled[!editable] {
                legend { "Delivery" }
                label for="timeout_ms" { "Timeout (ms)" }
                input #timeout_ms type="number" name="timeout_ms" min="100" max="60000" value=(f.timeout_ms) aria-invalid=[invalid(errors, "timeout_ms")];
                (field_errors(errors, "timeout_ms"))
            }
        }
        @if http {
        fieldset disabled[!editable] {
            legend { "Request" }
            label for="headers" { "Custom headers" }
            textarea #headers name="headers" rows="3" placeholder="X-Team: web" aria-invalid=[invalid(errors, "headers")] { (f.headers) }
            p.field-hint { "One " code { "Name: value" } " per line. Values of headers whose name suggests a credential are masked once saved; leave " code { "********" } " to keep them." }
            (field_errors(errors, "headers"))
            label for="public_headers" { "Headers viewers may read" }
            input #public_headers type="text" name="public_headers" value=(f.public_headers) placeholder="X-Team" aria-invalid=[invalid(errors, "public_headers")];
            p.field-hint { "Names, comma-separated. Viewers see every other header value masked." }
            (field_errors(errors, "public_headers"))
            div.row {
                div {
                    label for="basic_user" { "Basic auth user" }
                    input #basic_user type="text" name="basic_user" value=(f.basic_user) autocomplete="off" aria-invalid=[invalid(errors, "basic_auth")];
                    (field_errors(errors, "basic_auth"))
                }
                div {
                    label for="basic_password" { "Basic auth password" }
                    input #basic_password type="password" name="basic_password" value=(f.basic_password) autocomplete="new-password";
                }
                div {
                    label for="timeout_ms" { "Timeout (ms)" }
                    input #timeout_ms type="number" name="timeout_ms" min="100" max="60000" value=(f.timeout_ms) aria-invalid=[invalid(errors, "timeout_ms")];
                    (field_errors(errors, "timeout_ms"))
                }
            }
        }
        fieldset disabled[!editable] {
            legend { "When the receiver struggles" }
            div.row {
                div {
                    label for="rate_limit_per_s" { "Rate limit (calls a second)" }
                    input #rate_limit_per_s type="number" name="rate_limit_per_s" min="1" max="10000" value=(f.rate_limit_per_s) placeholder="no limit" aria-invalid=[invalid(errors, "rate_limit_per_s")];
                    (field_errors(errors, "rate_limit_per_s"))
                }
                div {
                    label for="disable_after" { "Disable after failing for" }
                    input #disable_after type="text" name="disable_after" value=(f.disable_after) placeholder="server default (5 days)" aria-invalid=[invalid(errors, "disable_after")];
                    (field_errors(errors, "disable_after"))
                }
            }
            p.field-hint { "Calls over the rate limit wait their turn, across every hookrelay process; none is dropped. A webhook whose calls all fail for this long (" code { "5d" } ", " code { "36h" } ", " code { "never" } ") is disabled; its pending calls wait until it is enabled again." }
        }
        fieldset disabled[!editable] {
            legend { "Order" }
            div.row {
                div {
                    label for="ordering" { "Ordering" }
                    select #ordering name="ordering" aria-invalid=[invalid(errors, "ordering")] {
                        @for (mode, label) in ORDERING_CHOICES {
                            option value=(mode.as_str()) selected[f.ordering == mode.as_str()] { (label) }
                        }
                    }
                    (field_errors(errors, "ordering"))
                }
                div {
                    label for="ordering_key" { "Ordering key" }
                    input #ordering_key type="text" name="ordering_key" value=(f.ordering_key) placeholder=(ordering::DEFAULT_KEY) aria-invalid=[invalid(errors, "ordering_key")];
                    (field_errors(errors, "ordering_key"))
                }
            }
            p.field-hint { "In order: calls with the same key go one at a time, in the order their events were accepted; a failing call holds back only its own key. Latest only: a newer call replaces older ones not yet sent. The key is a JSON pointer into the event (" code { "/entity/id" } ", " code { "/entity/relationships/item_type/data/id" } ") or " code { "*" } " for one order across the webhook." }
        }
        fieldset disabled[!editable] {
            legend { "Payload" }
            p.field-hint { "Empty: the event as published. Otherwise a " a href="https://mustache.github.io/mustache.5.html" { "Mustache" } " template rendered against " code { "{entity_type, event_type, environment, entity}" } "." }
            label for="payload_template" { "Template" }
            textarea #payload_template name="payload_template" rows="6" placeholder="{\"message\": \"{{event_type}} on {{entity_type}}\", \"id\": \"{{entity.id}}\"}" aria-invalid=[invalid(errors, "payload_template")] { (f.payload_template) }
            (field_errors(errors, "payload_template"))
            label for="content_type" { "Content type" }
            input #content_type type="text" name="content_type" value=(f.content_type) aria-invalid=[invalid(errors, "content_type")];
            (field_errors(errors, "content_type"))
            label for="sample" { "Sample event for the preview" }
            textarea #sample name="sample" rows="8" { (f.sample) }
            div.actions { button #preview-button type="button" { "Preview" } }
            p #preview-verdict.hint aria-live="polite" {}
            pre #preview-output aria-live="polite" { "The preview appears here as you type (it needs JavaScript)." }
        }
        fieldset disabled[!editable] {
            legend { "X-Nf-Sign (JWS)" }
            p.field-hint { "Optional: also sign each call with an HS256 JWT in " code { "X-Nf-Sign" } ", for receivers written for Netlify-style hooks." }
            div.row {
                div {
                    label for="jws_secret" { "JWS secret" }
                    input #jws_secret type="password" name="jws_secret" value=(f.jws_secret) autocomplete="new-password" aria-invalid=[invalid(errors, "jws_secret")];
                    (field_errors(errors, "jws_secret"))
                }
                div {
                    label for="jws_issuer" { "JWS issuer" }
                    input #jws_issuer type="text" name="jws_issuer" value=(f.jws_issuer) placeholder="hookrelay";
                    (field_errors(errors, "jws_issuer"))
                }
                div {
                    label for="signature_header" { "Header name" }
                    input #signature_header type="text" name="signature_header" value=(f.signature_header) placeholder="X-Nf-Sign" aria-invalid=[invalid(errors, "signature_header")];
                    (field_errors(errors, "signature_header"))
                }
            }
        }
        }
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
        let mut form = WebhookForm::blank();
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
        let errors = vec![FieldError {
            field: "url".into(),
            message: "must be an http or https URL".into(),
        }];
        let html = fields(&form, &errors, true).into_string();
        assert!(html.contains("must be an http or https URL"));
        assert!(html.contains(r#"id="url" type="url" name="url" value="" required placeholder="https://example.com/hooks/cms" aria-invalid="true""#));
    }
}
