//! A webhook's settings and their rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::destination;
use super::trigger::Trigger;
use super::validation::Violations;

pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Kept well below the dispatcher's claim lease, so a slow receiver never outlives its lease.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_TRIGGERS: usize = 100;
const MAX_HEADERS: usize = 50;

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
    "x-site-id",
    "x-webhook-id",
    "x-environment",
    "x-nf-sign",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// Everything a person configures on a webhook (the id and secret are the system's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub triggers: Vec<Trigger>,
    pub headers: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuth>,
    pub timeout_ms: u64,
    pub enabled: bool,
}

impl WebhookSettings {
    pub fn validate(&self, allow_private_targets: bool) -> Result<(), Violations> {
        let mut v = Violations::default();
        v.text("name", &self.name, 200);
        if let Err(problem) = destination::check_url(&self.url, allow_private_targets) {
            v.add("url", problem.to_string());
        }
        if self.triggers.is_empty() {
            v.add("triggers", "must hold at least one trigger");
        } else if self.triggers.len() > MAX_TRIGGERS {
            v.add(
                "triggers",
                format!("must hold at most {MAX_TRIGGERS} triggers"),
            );
        }
        for (i, trigger) in self.triggers.iter().enumerate() {
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
        v.into_result()
    }
}

/// Whether a header's value may hold a credential, so that the activity log masks it.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
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
    .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> WebhookSettings {
        WebhookSettings {
            name: "Rebuild site".into(),
            url: "https://example.com/hook".into(),
            triggers: vec![Trigger {
                entity_type: "item".into(),
                event_types: vec!["publish".into()],
                entity_ids: vec![],
                model_ids: vec![],
            }],
            headers: BTreeMap::from([("X-Team".into(), "blue".into())]),
            basic_auth: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            enabled: true,
        }
    }

    fn fields(settings: &WebhookSettings) -> Vec<String> {
        match settings.validate(false) {
            Ok(()) => vec![],
            Err(v) => v.0.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn valid_settings_pass() {
        assert!(fields(&valid()).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut s = valid();
        s.name = String::new();
        s.url = "not a url".into();
        s.triggers.clear();
        s.timeout_ms = 10;
        assert_eq!(fields(&s), ["name", "url", "triggers", "timeout_ms"]);
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let mut s = valid();
        s.headers = BTreeMap::from([
            ("Webhook-Signature".into(), "forged".into()),
            ("bad header".into(), "x".into()),
            ("X-Ok".into(), "line\nbreak".into()),
        ]);
        let mut got = fields(&s);
        got.sort();
        assert_eq!(
            got,
            [
                "headers.Webhook-Signature",
                "headers.X-Ok",
                "headers.bad header"
            ]
        );
    }

    #[test]
    fn basic_auth_user_must_be_usable() {
        let mut s = valid();
        s.basic_auth = Some(BasicAuth {
            username: "a:b".into(),
            password: "p".into(),
        });
        assert_eq!(fields(&s), ["basic_auth.username"]);
    }

    #[test]
    fn private_targets_depend_on_the_operator_setting() {
        let mut s = valid();
        s.url = "http://127.0.0.1:9000/".into();
        assert_eq!(fields(&s), ["url"]);
        assert!(s.validate(true).is_ok());
    }

    #[test]
    fn sensitive_header_names_are_recognised() {
        for name in [
            "Authorization",
            "X-Api-Key",
            "x-auth-token",
            "Cookie",
            "X-Client-Secret",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        assert!(!is_sensitive_header("X-Team"));
    }
}
