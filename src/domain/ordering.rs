//! Ordered delivery: which calls of a webhook must go one at a time, in the order their
//! events were accepted, and which older ones a newer call replaces.
//!
//! The store keeps the order (a sequence per webhook and key, given out in the publishing
//! transaction); this module only says what a webhook asks for and which key an event has.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event::NewEvent;
use super::validation::Violations;

/// How a webhook's calls are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderingMode {
    /// Concurrent, in no particular order (the fastest).
    #[default]
    None,
    /// One call at a time per key, in the order the events were accepted; a failing call
    /// holds back only its own key.
    Key,
    /// As `key`, and a newer call of a key supersedes the older ones not yet delivered:
    /// for receivers that want the current state, not the history.
    Latest,
}

impl OrderingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderingMode::None => "none",
            OrderingMode::Key => "key",
            OrderingMode::Latest => "latest",
        }
    }

    pub fn parse(text: &str) -> Option<OrderingMode> {
        match text {
            "none" => Some(OrderingMode::None),
            "key" => Some(OrderingMode::Key),
            "latest" => Some(OrderingMode::Latest),
            _ => None,
        }
    }
}

/// The default key: the entity's own id.
pub const DEFAULT_KEY: &str = "/entity/id";
/// One key for the whole webhook: strict first-in, first-out.
pub const WHOLE_WEBHOOK: &str = "*";
const MAX_POINTER_BYTES: usize = 200;
/// Longer key values are stored as their hash, so one huge field cannot bloat the index.
const MAX_KEY_BYTES: usize = 200;

/// A webhook's ordering: the mode and where each event's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordering {
    pub mode: OrderingMode,
    /// A JSON pointer into the event as sent by default (`/entity/id`), or `*`.
    pub key: String,
}

impl Default for Ordering {
    fn default() -> Self {
        Ordering {
            mode: OrderingMode::None,
            key: DEFAULT_KEY.into(),
        }
    }
}

impl Ordering {
    pub fn latest_by(pointer: &str) -> Ordering {
        Ordering {
            mode: OrderingMode::Latest,
            key: pointer.into(),
        }
    }

    pub fn is_ordered(&self) -> bool {
        self.mode != OrderingMode::None
    }

    pub fn validate(&self, v: &mut Violations) {
        let pointer_ok = self.key == WHOLE_WEBHOOK
            || (self.key.starts_with('/') && self.key.len() <= MAX_POINTER_BYTES);
        if !pointer_ok {
            v.add(
                "ordering_key",
                format!(
                    "must be a JSON pointer into the event such as /entity/id (at most \
                     {MAX_POINTER_BYTES} bytes), or * for one order across the whole webhook"
                ),
            );
        }
    }

    /// The ordering key of `event`: the value the pointer finds in the event as sent by
    /// default (strings as they are, anything else as JSON), `*` for the whole webhook.
    /// Events without the value share the key `""`, so they stay in order among
    /// themselves rather than going out unordered.
    pub fn key_of(&self, event: &NewEvent) -> String {
        if self.key == WHOLE_WEBHOOK {
            return WHOLE_WEBHOOK.into();
        }
        // Read in place: the default body is not built for every event and webhook.
        let (field, rest) = match self.key[1..].split_once('/') {
            Some((field, rest)) => (field, Some(rest)),
            None => (&self.key[1..], None),
        };
        let top = |text: &str| rest.is_none().then(|| text.to_owned());
        let text = match field {
            "entity" => {
                let found = match rest {
                    None => Some(&event.entity),
                    Some(rest) => event.entity.pointer(&format!("/{rest}")),
                };
                match found {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                }
            }
            "entity_type" => top(&event.entity_type),
            "event_type" => top(&event.event_type),
            "environment" => top(event.environment()),
            _ => None,
        }
        .unwrap_or_default();
        if text.len() <= MAX_KEY_BYTES {
            return text;
        }
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(body: Value) -> NewEvent {
        NewEvent {
            entity_type: "item".into(),
            event_type: "update".into(),
            environment: None,
            entity: body["entity"].clone(),
        }
    }

    fn by(key: &str) -> Ordering {
        Ordering {
            mode: OrderingMode::Key,
            key: key.into(),
        }
    }

    #[test]
    fn the_default_key_is_the_entity_id() {
        let body = event(json!({"entity": {"id": "42", "type": "item"}}));
        assert_eq!(Ordering::default().key_of(&body), "42");
        assert!(!Ordering::default().is_ordered());
    }

    #[test]
    fn a_pointer_finds_nested_values_and_numbers_read_as_json() {
        let body = event(
            json!({"entity": {"id": 7, "relationships": {"item_type": {"data": {"id": "m1"}}}}}),
        );
        assert_eq!(
            by("/entity/relationships/item_type/data/id").key_of(&body),
            "m1"
        );
        assert_eq!(by("/entity/id").key_of(&body), "7");
        assert_eq!(by("/entity_type").key_of(&body), "item");
        assert_eq!(by("/event_type/x").key_of(&body), "");
    }

    #[test]
    fn events_without_the_value_share_one_key() {
        let body = event(json!({"entity": {"id": null}}));
        assert_eq!(by("/entity/id").key_of(&body), "");
        assert_eq!(by("/entity/missing").key_of(&body), "");
        assert_eq!(by("/nowhere").key_of(&body), "");
    }

    #[test]
    fn the_whole_webhook_is_one_key() {
        assert_eq!(by("*").key_of(&event(json!({"entity": {"id": "1"}}))), "*");
        assert_eq!(by("*").key_of(&event(json!({"entity": {"id": "2"}}))), "*");
    }

    #[test]
    fn long_values_become_their_hash() {
        let long = "x".repeat(500);
        let key = by("/entity/id").key_of(&event(json!({"entity": {"id": long}})));
        assert!(key.starts_with("sha256:") && key.len() == 7 + 64, "{key}");
        let other = by("/entity/id").key_of(&event(json!({"entity": {"id": "y".repeat(500)}})));
        assert_ne!(key, other);
    }

    #[test]
    fn keys_must_be_pointers_or_the_whole_webhook() {
        for good in ["/entity/id", "*", "/"] {
            let mut v = Violations::default();
            by(good).validate(&mut v);
            assert!(v.into_result().is_ok(), "{good}");
        }
        for bad in ["entity.id", "", &format!("/{}", "a".repeat(300))] {
            let mut v = Violations::default();
            by(bad).validate(&mut v);
            assert!(v.into_result().is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_read_back_as_written() {
        for mode in [OrderingMode::None, OrderingMode::Key, OrderingMode::Latest] {
            assert_eq!(OrderingMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(OrderingMode::parse("fifo"), None);
    }
}
