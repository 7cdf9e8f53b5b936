//! What users moving from DatoCMS, Netlify and Gatsby set up and expect to just work:
//! DatoCMS's model, field, build-trigger and environment events, and form-encoded bodies.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::TestServer;

#[tokio::test]
async fn a_datocms_model_trigger_fires_on_the_model_and_its_fields() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/models"),
            json!({"triggers": [{"entity_type": "item_type", "event_types": ["update"], "model_ids": ["blog_post"]}]}),
        )
        .await;
    let publish = |entity_type: &str, event_type: &str, entity: serde_json::Value| json!({"entity_type": entity_type, "event_type": event_type, "entity": entity});
    let calls =
        |published: serde_json::Value| published["webhook_call_ids"].as_array().unwrap().len();
    // The model itself, narrowed by its own id.
    assert_eq!(
        calls(
            server
                .publish(
                    &site,
                    publish("item_type", "update", json!({"id": "blog_post"}))
                )
                .await
        ),
        1
    );
    assert_eq!(
        calls(
            server
                .publish(
                    &site,
                    publish("item_type", "update", json!({"id": "author"}))
                )
                .await
        ),
        0
    );
    // A field of the model: its change is an update of the model.
    let field = |model: &str| json!({"id": "title", "relationships": {"item_type": {"data": {"id": model, "type": "item_type"}}}});
    assert_eq!(
        calls(
            server
                .publish(&site, publish("field", "create", field("blog_post")))
                .await
        ),
        1
    );
    assert_eq!(
        calls(
            server
                .publish(&site, publish("field", "delete", field("author")))
                .await
        ),
        0
    );
    let got = receiver.wait_for(2).await;
    let body: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(
        body["entity_type"], "field",
        "the receiver gets the event as published"
    );
}

#[tokio::test]
async fn build_triggers_and_environment_deploys_are_built_in_events() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"triggers": [
                {"entity_type": "build_trigger", "event_types": ["trigger"]},
                {"entity_type": "environment", "event_types": ["deploy"]}]}),
        )
        .await;
    for (entity_type, event_type) in [("build_trigger", "trigger"), ("environment", "deploy")] {
        let (status, published) = server
            .post(
                &format!("/api/v1/sites/{site}/events"),
                json!({"entity_type": entity_type, "event_type": event_type, "entity": {"id": "1"}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{published}");
        assert!(
            published.get("warning").is_none(),
            "a known type: {published}"
        );
        assert_eq!(published["webhook_call_ids"].as_array().unwrap().len(), 1);
    }
    receiver.wait_for(2).await;
}

#[tokio::test]
async fn form_encoded_templates_encode_their_values() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"payload_template": "title={{entity.title}}&id={{entity.id}}",
                   "content_type": "application/x-www-form-urlencoded"}),
        )
        .await;
    server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "update",
            "entity": {"id": "7", "title": "Fish & Chips = £5\nnew"}}),
        )
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        got.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&got.body)
        .into_owned()
        .collect();
    assert_eq!(
        pairs,
        [
            ("title".into(), "Fish & Chips = £5\nnew".into()),
            ("id".into(), "7".into())
        ]
    );
}

#[tokio::test]
async fn send_test_goes_to_that_webhook_only_through_its_real_target() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let tested = server
        .create_webhook(
            &site,
            &receiver.url("/tested"),
            json!({"triggers": [{"entity_type": "item", "event_types": ["unpublish"]}]}),
        )
        .await;
    server
        .create_webhook(
            &site,
            &receiver.url("/other"),
            json!({"triggers": [{"entity_type": "item", "event_types": ["*"]}]}),
        )
        .await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        tested["id"].as_str().unwrap()
    );
    let (status, sent) = server.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let calls = sent["webhook_call_ids"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    let done = server.settled_call(&site, calls[0].as_str().unwrap()).await;
    assert_eq!(done["status"], "success");
    assert_eq!(
        done["event_type"], "unpublish",
        "an event its trigger matches"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/tested");
    assert!(
        !got[0].header("webhook-signature").is_empty(),
        "signed as any call"
    );

    let (status, _) = server.patch(&path, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = server.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
}
