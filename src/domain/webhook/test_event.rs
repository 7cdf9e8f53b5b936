//! The event a webhook's "Send test" publishes: one its first trigger would match, so the
//! receiver (or the notification) sees what a real one looks like.

use serde_json::json;

use super::WebhookSettings;
use crate::domain::catalog::BUILT_IN;
use crate::domain::event::NewEvent;
use crate::domain::trigger::ANY_EVENT;

impl WebhookSettings {
    /// An event of the first trigger's entity type and first named event type (for `*`,
    /// the type's first built-in event; a deploy's is `deploy_succeeded`).
    pub fn test_event(&self, site_name: &str) -> NewEvent {
        let (entity_type, listed) = self.triggers.first().map_or(("item", None), |t| {
            let named = t.event_types.iter().find(|e| *e != ANY_EVENT);
            (t.entity_type.as_str(), named.cloned())
        });
        let event_type = listed.unwrap_or_else(|| match entity_type {
            "deploy" => "deploy_succeeded".to_owned(),
            other => BUILT_IN
                .iter()
                .find(|(t, _)| *t == other)
                .and_then(|(_, events)| events.first())
                .map_or("test", |e| e)
                .to_owned(),
        });
        NewEvent {
            entity_type: entity_type.to_owned(),
            event_type,
            environment: None,
            entity: json!({
                "id": "test",
                "test": true,
                "site_name": site_name,
                "title": format!("A test from hookrelay for {}", self.name),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trigger::Trigger;

    fn with_trigger(entity_type: &str, events: &[&str]) -> WebhookSettings {
        let mut s = WebhookSettings::new("Index", "https://example.com/");
        s.triggers = vec![Trigger {
            entity_type: entity_type.into(),
            event_types: events.iter().map(|e| e.to_string()).collect(),
            entity_ids: vec![],
            model_ids: vec![],
        }];
        s
    }

    #[test]
    fn the_test_event_is_one_the_first_trigger_matches() {
        let e = with_trigger("item", &["*", "unpublish"]).test_event("Blog");
        assert_eq!(
            (e.entity_type.as_str(), e.event_type.as_str()),
            ("item", "unpublish")
        );
        let e = with_trigger("deploy", &["*"]).test_event("Blog");
        assert_eq!(e.event_type, "deploy_succeeded");
        assert_eq!(e.entity["site_name"], "Blog");
        let e = with_trigger("upload", &["*"]).test_event("Blog");
        assert_eq!(e.event_type, "create");
        let e = WebhookSettings::new("x", "https://example.com/").test_event("Blog");
        assert_eq!(e.entity_type, "item");
    }
}
