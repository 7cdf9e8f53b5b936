//! Events a site publishes, and the default body sent for them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trigger::EventKey;
use super::validation::Violations;

pub const DEFAULT_ENVIRONMENT: &str = "main";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    // Missing fields read as empty, so validation names every one at fault at once.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"[^\s\u0085]"
    )]
    pub entity_type: String,
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"[^\s\u0085]"
    )]
    pub event_type: String,
    /// Default `main`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,100}$")]
    pub environment: Option<String>,
    /// The entity the event is about: a JSON object (nesting at most 32 levels).
    #[serde(default)]
    #[schema(required = true, value_type = Object)]
    pub entity: Value,
}

/// The default body: the event as published, with the environment filled in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventBody<'a> {
    pub entity_type: &'a str,
    pub event_type: &'a str,
    pub environment: &'a str,
    pub entity: &'a Value,
}

impl NewEvent {
    pub fn environment(&self) -> &str {
        self.environment.as_deref().unwrap_or(DEFAULT_ENVIRONMENT)
    }

    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        v.text("entity_type", &self.entity_type, 100);
        v.text("event_type", &self.event_type, 100);
        if let Some(env) = &self.environment {
            let well_formed = env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if env.is_empty() || env.len() > 100 || !well_formed {
                v.add(
                    "environment",
                    "must be 1-100 characters of letters, digits, '-', '_' or '.'",
                );
            }
        }
        if !self.entity.is_object() {
            v.add("entity", "must be a JSON object");
        }
        v.into_result()
    }

    pub fn key(&self) -> EventKey<'_> {
        EventKey {
            entity_type: &self.entity_type,
            event_type: &self.event_type,
            entity: &self.entity,
        }
    }

    fn body(&self) -> EventBody<'_> {
        EventBody {
            entity_type: &self.entity_type,
            event_type: &self.event_type,
            environment: self.environment(),
            entity: &self.entity,
        }
    }

    /// The exact bytes delivered (and signed) when a webhook has no template.
    pub fn default_body(&self) -> String {
        serde_json::to_string(&self.body()).expect("serialising JSON values cannot fail")
    }

    /// The object templates are rendered against: the default body as a value.
    pub fn body_value(&self) -> Value {
        serde_json::to_value(self.body()).expect("serialising JSON values cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(environment: Option<&str>, entity: Value) -> NewEvent {
        NewEvent {
            entity_type: "item".into(),
            event_type: "update".into(),
            environment: environment.map(String::from),
            entity,
        }
    }

    #[test]
    fn default_body_keeps_field_and_entity_order_and_fills_environment() {
        let e = event(None, json!({"id": "293467", "b": 1, "a": 2}));
        assert_eq!(
            e.default_body(),
            r#"{"entity_type":"item","event_type":"update","environment":"main","entity":{"id":"293467","b":1,"a":2}}"#
        );
        assert_eq!(event(Some("staging"), json!({})).environment(), "staging");
    }

    #[test]
    fn validation_names_fields() {
        let mut e = event(Some("bad env!"), json!([1]));
        e.event_type = String::new();
        let fields: Vec<_> = e
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["event_type", "environment", "entity"]);
        assert!(event(Some("prod-eu_1.0"), json!({})).validate().is_ok());
    }
}
