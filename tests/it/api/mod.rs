//! The management API over real HTTP: auth, validation, events, activity log.

mod access;
mod events;
mod webhooks;

use crate::support::receiver::Receiver;
use crate::support::{item_event, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(super) fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn call_webhooks(
    server: &TestServer,
    site: &str,
    published: Value,
) -> Vec<String> {
    let mut hooks = Vec::new();
    for call_id in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.call(site, call_id.as_str().unwrap()).await;
        hooks.push(call["webhook_id"].as_str().unwrap().to_owned());
    }
    hooks.sort();
    hooks
}
