//! Notification targets against real parts: a real SMTP server on loopback, and local
//! stand-ins for Slack, GitHub and GitLab that check each request as those APIs document
//! it. Plus form submissions, and the JWS header's name.

mod forges;
mod mail_and_chat;
mod settings;

use crate::support::forge::Forge;
use crate::support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(super) async fn notification(server: &TestServer, site: &str, body: Value) -> Value {
    let (status, hook) = server
        .post(&format!("/api/v1/sites/{site}/webhooks"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook
}

/// Publishes a deploy event by API (a job would publish the same).
pub(super) async fn deploy_event(
    server: &TestServer,
    site: &str,
    event_type: &str,
    entity: Value,
) -> String {
    let published = server
        .publish(
            site,
            json!({"entity_type": "deploy", "event_type": event_type, "entity": entity}),
        )
        .await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .expect("a call")
        .to_owned();
    server.settled_call(site, &call).await;
    call
}
