//! What an edit of a webhook changed, for the audit log: each field that differs, with its
//! old and new value where the value is no secret (URLs with their query values and user
//! info masked), else only that it changed.

use serde_json::{json, Map, Value};

use super::WebhookSettings;
use crate::domain::redact;

/// Written for a changed field whose values are (or may hold) secrets.
const CHANGED: &str = "changed";

/// Notes `field` as changed from `before` to `after`, when they differ.
fn shown(changes: &mut Map<String, Value>, field: &str, before: Value, after: Value) {
    if before != after {
        changes.insert(field.to_owned(), json!({"from": before, "to": after}));
    }
}

/// Notes `field` as changed, without its values, when they differ.
fn hidden<T: PartialEq>(changes: &mut Map<String, Value>, field: &str, before: &T, after: &T) {
    if before != after {
        changes.insert(field.to_owned(), json!(CHANGED));
    }
}

impl WebhookSettings {
    /// The fields `after` changes, as `{field: {from, to}}` or `{field: "changed"}`.
    pub fn changes_to(&self, after: &WebhookSettings) -> Map<String, Value> {
        let mut c = Map::new();
        shown(&mut c, "name", json!(self.name), json!(after.name));
        shown(
            &mut c,
            "url",
            json!(redact::url(&self.url)),
            json!(redact::url(&after.url)),
        );
        shown(
            &mut c,
            "triggers",
            json!(self.triggers),
            json!(after.triggers),
        );
        shown(&mut c, "enabled", json!(self.enabled), json!(after.enabled));
        shown(
            &mut c,
            "timeout_ms",
            json!(self.timeout_ms),
            json!(after.timeout_ms),
        );
        shown(
            &mut c,
            "content_type",
            json!(self.content_type),
            json!(after.content_type),
        );
        shown(
            &mut c,
            "rate_limit_per_s",
            json!(self.rate_limit_per_s),
            json!(after.rate_limit_per_s),
        );
        shown(
            &mut c,
            "disable_after_ms",
            json!(self.disable_after_ms),
            json!(after.disable_after_ms),
        );
        shown(
            &mut c,
            "ordering",
            json!([self.ordering.mode.as_str(), self.ordering.key]),
            json!([after.ordering.mode.as_str(), after.ordering.key]),
        );
        shown(
            &mut c,
            "jws_issuer",
            json!(self.jws_issuer),
            json!(after.jws_issuer),
        );
        shown(
            &mut c,
            "signature_header",
            json!(self.signature_header),
            json!(after.signature_header),
        );
        shown(
            &mut c,
            "public_headers",
            json!(self.public_headers),
            json!(after.public_headers),
        );
        // Header names are shown, their values (which may be credentials) are not.
        let names = |s: &WebhookSettings| json!(s.headers.keys().collect::<Vec<_>>());
        shown(&mut c, "header_names", names(self), names(after));
        hidden(&mut c, "headers", &self.headers, &after.headers);
        let user = |s: &WebhookSettings| json!(s.basic_auth.as_ref().map(|a| &a.username));
        shown(&mut c, "basic_auth.username", user(self), user(after));
        let password = |s: &WebhookSettings| s.basic_auth.as_ref().map(|a| a.password.clone());
        hidden(
            &mut c,
            "basic_auth.password",
            &password(self),
            &password(after),
        );
        hidden(&mut c, "jws_secret", &self.jws_secret, &after.jws_secret);
        hidden(
            &mut c,
            "payload_template",
            &self.payload_template,
            &after.payload_template,
        );
        hidden(&mut c, "config", &self.target, &after.target);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::BasicAuth;

    #[test]
    fn changes_name_fields_and_keep_secrets_out() {
        let before = super::super::tests::valid();
        let mut after = before.clone();
        after.url = "https://new.example/hook?token=abc".into();
        after.timeout_ms = 2500;
        after.basic_auth = Some(BasicAuth {
            username: "ci".into(),
            password: "hunter2".into(),
        });
        after
            .headers
            .insert("Authorization".into(), "Bearer s3cret".into());
        let c = after.changes_to(&after.clone());
        assert!(c.is_empty(), "no change, no entry: {c:?}");
        let c = before.changes_to(&after);
        let text = Value::Object(c.clone()).to_string();
        assert!(!text.contains("abc") && !text.contains("hunter2") && !text.contains("s3cret"));
        assert_eq!(
            c["timeout_ms"],
            json!({"from": before.timeout_ms, "to": 2500})
        );
        assert_eq!(c["basic_auth.password"], CHANGED);
        assert_eq!(c["headers"], CHANGED);
        assert_eq!(c["header_names"]["to"], json!(["Authorization", "X-Team"]));
        assert!(c["url"]["to"]
            .as_str()
            .unwrap()
            .starts_with("https://new.example/hook?"));
        assert!(!c.contains_key("name"));
    }
}
