//! What a developer token may store is capped, each cap a 422 naming it; every list is
//! paged; out-of-range settings are refused rather than read as something else; numbers
//! reach receivers exactly as published.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::TestServer;

fn webhook(extra: Value) -> Value {
    let mut body = json!({"name": "w", "url": "http://127.0.0.1:9/",
                          "triggers": [{"entity_type": "item", "event_types": ["*"]}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn first_error(problem: &Value) -> (String, String) {
    (
        problem["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        problem["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn ids_triggers_and_urls_are_capped() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let ids: Vec<String> = (0..60_000).map(|i| i.to_string()).collect();
    let many_triggers: Vec<Value> = (0..51)
        .map(|_| json!({"entity_type": "item", "event_types": ["*"]}))
        .collect();
    for (extra, field, says) in [
        (
            json!({"triggers": [{"entity_type": "item", "event_types": ["*"], "entity_ids": ids}]}),
            "triggers",
            "at most 1000",
        ),
        (
            json!({"triggers": many_triggers}),
            "triggers",
            "at most 50 triggers",
        ),
        (
            json!({"url": format!("https://example.com/{}", "a".repeat(3000))}),
            "url",
            "at most 2048 bytes",
        ),
        (
            json!({"disable_after": "0s"}),
            "disable_after",
            "from 1m to 365d",
        ),
        (
            json!({"disable_after": "400d"}),
            "disable_after",
            "from 1m to 365d",
        ),
        (
            json!({"timeout_ms": 1458099}),
            "timeout_ms",
            "between 100 and 60000",
        ),
    ] {
        let (status, problem) = server.post(&path, webhook(extra)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let (got_field, message) = first_error(&problem);
        assert!(got_field.starts_with(field), "{field}: {problem}");
        assert!(message.contains(says), "{says}: {problem}");
    }
}

#[tokio::test]
async fn a_site_holds_a_bounded_number_of_webhooks_and_lists_are_paged() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    for i in 0..500 {
        let (status, body) = server
            .post(&path, webhook(json!({"name": format!("w{i}")})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, problem) = server.post(&path, webhook(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("500 webhooks"));
    // `limit` is honoured and the cursor walks every page once.
    let (status, first) = server.get(&format!("{path}?limit=7")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["data"].as_array().unwrap().len(), 7);
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}?limit=200&cursor={c}"),
            None => format!("{path}?limit=200"),
        };
        let (_, page) = server.get(&query).await;
        seen += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 500);
    for list in [
        "/api/v1/sites",
        "/api/v1/tokens",
        &format!("/api/v1/sites/{site}/build_hooks"),
    ] {
        let (status, page) = server.get(&format!("{list}?limit=1")).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        assert!(page["data"].as_array().unwrap().len() <= 1, "{list}");
        assert!(page.get("next_cursor").is_some(), "{list} is paged");
        let (status, _) = server.get(&format!("{list}?limit=201")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{list}");
    }
}

#[tokio::test]
async fn built_in_event_types_take_no_schema() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    for (entity, event) in [
        ("deploy", "deploy_started"),
        ("item", "publish"),
        ("operator", "webhook_disabled"),
    ] {
        let (status, problem) = server
            .post(
                &format!("/api/v1/sites/{site}/event_types"),
                json!({"entity_type": entity, "event_type": event,
                       "schema": {"type": "object", "required": ["never"]}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("built in"));
    }
}

#[tokio::test]
async fn integers_beyond_a_double_reach_the_receiver_exactly() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(&site, &receiver.url("/plain"), json!({}))
        .await;
    server
        .create_webhook(
            &site,
            &receiver.url("/templated"),
            json!({"payload_template": "{\"n\": {{entity.n}}, \"s\": \"{{entity.n}}\"}"}),
        )
        .await;
    let raw = r#"{"entity_type": "item", "event_type": "update", "entity": {"id": "1", "n": 123456789012345678901234567890, "f": 0.1000000000000000055511151231257827}}"#;
    let answer = server
        .client
        .post(format!("{}/api/v1/sites/{site}/events", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let got = receiver.wait_for(2).await;
    for request in got {
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            body.contains("123456789012345678901234567890"),
            "{}: {body}",
            request.path
        );
        if request.path == "/plain" {
            assert!(
                body.contains("0.1000000000000000055511151231257827"),
                "{body}"
            );
        }
    }
}
