//! Operator events: what hookrelay itself reports about delivery, as ordinary events of the
//! `operator` entity type, so any webhook or notification target can subscribe to them
//! (a Slack channel for `operator.webhook_disabled`, say).

use serde_json::json;

use super::event::NewEvent;
use super::time::{to_rfc3339, UnixMillis};

pub const ENTITY_TYPE: &str = "operator";
pub const WEBHOOK_DISABLED: &str = "webhook_disabled";
pub const CALL_EXHAUSTED: &str = "call_exhausted";
pub const CALL_RECOVERED: &str = "call_recovered";
pub const EVENT_TYPES: &[&str] = &[WEBHOOK_DISABLED, CALL_EXHAUSTED, CALL_RECOVERED];

/// The webhook a notice is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRef {
    pub site_id: String,
    pub id: String,
    pub name: String,
}

/// Something an operator should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// hookrelay disabled the webhook; its pending calls wait until it is enabled again.
    WebhookDisabled {
        webhook: WebhookRef,
        reason: String,
        at: UnixMillis,
    },
    /// A call used up its retries and failed for good.
    CallExhausted {
        webhook: WebhookRef,
        call_id: String,
        event_id: String,
        attempts: u32,
        last_status_code: Option<i64>,
        last_error: Option<String>,
    },
    /// A webhook that was failing delivered a call again.
    CallRecovered {
        webhook: WebhookRef,
        call_id: String,
        failing_since: UnixMillis,
        at: UnixMillis,
    },
}

impl Notice {
    pub fn webhook(&self) -> &WebhookRef {
        match self {
            Notice::WebhookDisabled { webhook, .. }
            | Notice::CallExhausted { webhook, .. }
            | Notice::CallRecovered { webhook, .. } => webhook,
        }
    }

    /// The event published in the webhook's site.
    pub fn event(&self) -> NewEvent {
        let webhook = self.webhook();
        let (event_type, id, details) = match self {
            Notice::WebhookDisabled { reason, at, .. } => (
                WEBHOOK_DISABLED,
                webhook.id.clone(),
                json!({"reason": reason, "disabled_at": to_rfc3339(*at)}),
            ),
            Notice::CallExhausted {
                call_id,
                event_id,
                attempts,
                last_status_code,
                last_error,
                ..
            } => (
                CALL_EXHAUSTED,
                call_id.clone(),
                json!({
                    "call_id": call_id,
                    "event_id": event_id,
                    "attempts": attempts,
                    "last_status_code": last_status_code,
                    "last_error": last_error,
                }),
            ),
            Notice::CallRecovered {
                call_id,
                failing_since,
                at,
                ..
            } => (
                CALL_RECOVERED,
                call_id.clone(),
                json!({
                    "call_id": call_id,
                    "failing_since": to_rfc3339(*failing_since),
                    "recovered_at": to_rfc3339(*at),
                }),
            ),
        };
        let mut attributes = json!({
            "webhook_id": webhook.id,
            "webhook_name": webhook.name,
        });
        if let (Some(all), Some(more)) = (attributes.as_object_mut(), details.as_object()) {
            all.extend(more.clone());
        }
        NewEvent {
            entity_type: ENTITY_TYPE.into(),
            event_type: event_type.into(),
            environment: None,
            entity: json!({"id": id, "type": ENTITY_TYPE, "attributes": attributes}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook() -> WebhookRef {
        WebhookRef {
            site_id: "site_1".into(),
            id: "wh_1".into(),
            name: "Search index".into(),
        }
    }

    #[test]
    fn a_disabled_webhook_is_an_operator_event_naming_it_and_why() {
        let event = Notice::WebhookDisabled {
            webhook: webhook(),
            reason: "failing for 5 days".into(),
            at: 0,
        }
        .event();
        assert_eq!(
            (event.entity_type.as_str(), event.event_type.as_str()),
            ("operator", "webhook_disabled")
        );
        assert_eq!(event.entity["id"], "wh_1");
        assert_eq!(event.entity["attributes"]["webhook_name"], "Search index");
        assert_eq!(event.entity["attributes"]["reason"], "failing for 5 days");
        assert_eq!(
            event.entity["attributes"]["disabled_at"],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn an_exhausted_call_carries_its_last_answer() {
        let event = Notice::CallExhausted {
            webhook: webhook(),
            call_id: "call_9".into(),
            event_id: "evt_3".into(),
            attempts: 8,
            last_status_code: Some(503),
            last_error: None,
        }
        .event();
        assert_eq!(event.event_type, "call_exhausted");
        assert_eq!(event.entity["id"], "call_9");
        let attributes = &event.entity["attributes"];
        assert_eq!(attributes["attempts"], 8);
        assert_eq!(attributes["last_status_code"], 503);
        assert_eq!(attributes["event_id"], "evt_3");
        assert_eq!(attributes["webhook_id"], "wh_1");
    }
}
