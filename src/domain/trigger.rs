//! Which webhooks an event triggers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validation::Violations;

/// Matches every event type.
pub const ANY_EVENT: &str = "*";
/// A model (DatoCMS's `item_type`), and one of its fields: a change to a field is an
/// `update` of its model for the model's triggers.
const MODEL: &str = "item_type";
const FIELD: &str = "field";
/// Event types one trigger may list.
pub const MAX_EVENT_TYPES: usize = 100;
/// Entity and model ids a webhook's triggers may list together: each webhook's triggers
/// are held in memory for matching, so thousands of webhooks with tens of thousands of
/// ids each would take gigabytes.
pub const MAX_IDS_PER_WEBHOOK: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `item`, `item_type`, `upload`, `build_trigger`, `environment`, `deploy`,
    /// `form_submission`, or any string the site publishes (one its catalog knows).
    #[schema(min_length = 1, max_length = 100, pattern = r"[^\s\u0085]")]
    pub entity_type: String,
    /// Event types (`create`, `update`, `publish`, …) or `*`.
    #[schema(min_items = 1, max_items = 100)]
    pub event_types: Vec<String>,
    /// When non-empty, only entities with one of these ids match (at most 1 000 ids
    /// across a webhook's triggers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub entity_ids: Vec<String>,
    /// When non-empty, only entities whose model
    /// (`entity.relationships.item_type.data.id`) is one of these match; for a model
    /// trigger (`item_type`), the model's own id (`entity.id`), or a field's model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub model_ids: Vec<String>,
}

/// The parts of an event that triggers look at.
pub struct EventKey<'a> {
    pub entity_type: &'a str,
    pub event_type: &'a str,
    pub entity: &'a Value,
}

impl EventKey<'_> {
    /// `entity.id`, as a string whether it was published as a string or a number.
    fn entity_id(&self) -> Option<String> {
        id_text(self.entity.get("id")?)
    }

    /// The model the entity is or belongs to: a model's own id, else its
    /// `relationships.item_type` (a record's or a field's).
    fn model_id(&self) -> Option<String> {
        if self.entity_type == MODEL {
            return self.entity_id();
        }
        id_text(self.entity.pointer("/relationships/item_type/data/id")?)
    }

    /// What a trigger on `trigger_entity_type` compares with: entity type, event type and
    /// entity id. A field's change is an update of its model for a model trigger.
    fn as_seen_by(&self, trigger_entity_type: &str) -> (&str, &str, Option<String>) {
        if trigger_entity_type == MODEL && self.entity_type == FIELD {
            (MODEL, "update", self.model_id())
        } else {
            (self.entity_type, self.event_type, self.entity_id())
        }
    }
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Trigger {
    pub fn matches(&self, event: &EventKey<'_>) -> bool {
        let (entity_type, event_type, entity_id) = event.as_seen_by(&self.entity_type);
        self.entity_type == entity_type
            && self
                .event_types
                .iter()
                .any(|t| t == ANY_EVENT || t == event_type)
            && (self.entity_ids.is_empty()
                || entity_id.is_some_and(|id| self.entity_ids.contains(&id)))
            && (self.model_ids.is_empty()
                || event
                    .model_id()
                    .is_some_and(|id| self.model_ids.contains(&id)))
    }

    pub fn validate(&self, field: &str, v: &mut Violations) {
        v.text(&format!("{field}.entity_type"), &self.entity_type, 100);
        if self.event_types.is_empty() {
            v.add(
                format!("{field}.event_types"),
                "must list at least one event type, or \"*\" for all",
            );
        }
        if self.event_types.len() > MAX_EVENT_TYPES {
            v.add(
                format!("{field}.event_types"),
                format!("must list at most {MAX_EVENT_TYPES} event types"),
            );
        } else {
            for (i, t) in self.event_types.iter().enumerate() {
                v.text(&format!("{field}.event_types[{i}]"), t, 100);
            }
        }
        for (name, list) in [
            ("entity_ids", &self.entity_ids),
            ("model_ids", &self.model_ids),
        ] {
            if list.len() > MAX_IDS_PER_WEBHOOK {
                v.add(
                    format!("{field}.{name}"),
                    format!("must list at most {MAX_IDS_PER_WEBHOOK} ids"),
                );
                continue;
            }
            for (i, id) in list.iter().enumerate() {
                v.text(&format!("{field}.{name}[{i}]"), id, 200);
            }
        }
    }

    /// Entity and model ids it lists.
    pub fn id_count(&self) -> usize {
        self.entity_ids.len() + self.model_ids.len()
    }
}

/// A webhook fires when any of its triggers matches.
pub fn any_matches(triggers: &[Trigger], event: &EventKey<'_>) -> bool {
    triggers.iter().any(|t| t.matches(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger(entity_type: &str, events: &[&str]) -> Trigger {
        Trigger {
            entity_type: entity_type.into(),
            event_types: events.iter().map(|s| s.to_string()).collect(),
            entity_ids: vec![],
            model_ids: vec![],
        }
    }

    fn key<'a>(entity_type: &'a str, event_type: &'a str, entity: &'a Value) -> EventKey<'a> {
        EventKey {
            entity_type,
            event_type,
            entity,
        }
    }

    #[test]
    fn entity_type_must_be_equal() {
        let e = json!({"id": "1"});
        let t = trigger("item", &["update"]);
        assert!(t.matches(&key("item", "update", &e)));
        assert!(!t.matches(&key("upload", "update", &e)));
    }

    #[test]
    fn event_type_must_be_listed_or_star() {
        let e = json!({"id": "1"});
        let t = trigger("item", &["create", "publish"]);
        assert!(t.matches(&key("item", "publish", &e)));
        assert!(!t.matches(&key("item", "delete", &e)));
        assert!(trigger("item", &["*"]).matches(&key("item", "delete", &e)));
    }

    #[test]
    fn entity_ids_narrow_and_accept_numeric_ids() {
        let mut t = trigger("item", &["*"]);
        t.entity_ids = vec!["42".into()];
        assert!(t.matches(&key("item", "update", &json!({"id": "42"}))));
        assert!(t.matches(&key("item", "update", &json!({"id": 42}))));
        assert!(!t.matches(&key("item", "update", &json!({"id": "43"}))));
        assert!(!t.matches(&key("item", "update", &json!({}))));
    }

    #[test]
    fn model_ids_look_at_item_type_relationship() {
        let mut t = trigger("item", &["*"]);
        t.model_ids = vec!["m1".into()];
        let of_m1 = json!({"id": "1", "relationships": {"item_type": {"data": {"id": "m1", "type": "item_type"}}}});
        let of_m2 = json!({"id": "1", "relationships": {"item_type": {"data": {"id": "m2"}}}});
        assert!(t.matches(&key("item", "create", &of_m1)));
        assert!(!t.matches(&key("item", "create", &of_m2)));
        assert!(!t.matches(&key("item", "create", &json!({"id": "1"}))));
    }

    #[test]
    fn a_model_trigger_narrows_by_the_models_id_and_fires_on_its_fields() {
        let mut t = trigger("item_type", &["update"]);
        t.model_ids = vec!["m1".into()];
        assert!(t.matches(&key("item_type", "update", &json!({"id": "m1"}))));
        assert!(!t.matches(&key("item_type", "update", &json!({"id": "m2"}))));
        let field_of = |model: &str| json!({"id": "f9", "relationships": {"item_type": {"data": {"id": model}}}});
        for change in ["create", "update", "delete"] {
            assert!(
                t.matches(&key("field", change, &field_of("m1"))),
                "{change}"
            );
        }
        assert!(!t.matches(&key("field", "update", &field_of("m2"))));
        t.model_ids.clear();
        t.entity_ids = vec!["m1".into()];
        assert!(t.matches(&key("field", "delete", &field_of("m1"))));
        // A model trigger for `create` only: a field's change is an update.
        assert!(!trigger("item_type", &["create"]).matches(&key(
            "field",
            "create",
            &field_of("m1")
        )));
        // Field triggers of their own see fields as they are.
        assert!(trigger("field", &["create"]).matches(&key("field", "create", &field_of("m1"))));
    }

    #[test]
    fn entity_and_model_filters_both_apply() {
        let mut t = trigger("item", &["*"]);
        t.entity_ids = vec!["1".into()];
        t.model_ids = vec!["m1".into()];
        let right = json!({"id": "1", "relationships": {"item_type": {"data": {"id": "m1"}}}});
        let wrong_model =
            json!({"id": "1", "relationships": {"item_type": {"data": {"id": "m2"}}}});
        assert!(t.matches(&key("item", "create", &right)));
        assert!(!t.matches(&key("item", "create", &wrong_model)));
    }

    #[test]
    fn any_trigger_of_a_webhook_suffices() {
        let triggers = vec![trigger("upload", &["create"]), trigger("item", &["delete"])];
        let e = json!({"id": "1"});
        assert!(any_matches(&triggers, &key("item", "delete", &e)));
        assert!(!any_matches(&triggers, &key("item", "create", &e)));
        assert!(!any_matches(&[], &key("item", "create", &e)));
    }

    #[test]
    fn validation_names_the_field() {
        let mut v = Violations::default();
        let mut t = trigger("", &[]);
        t.entity_ids = vec!["".into()];
        t.validate("triggers[2]", &mut v);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "triggers[2].entity_type",
                "triggers[2].event_types",
                "triggers[2].entity_ids[0]"
            ]
        );
    }
}
