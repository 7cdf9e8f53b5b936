//! Targets refused with the reason, and the JWS header's name.

use super::*;

#[tokio::test]
async fn bad_targets_are_refused_with_the_reason() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    let (status, problem) = server
        .post(&path, json!({"name": "BB", "type": "bitbucket_commit_status", "config": {}, "triggers": triggers}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "type");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("Bitbucket is not supported"));
    let (status, problem) = server
        .post(
            &path,
            json!({"name": "Mail", "type": "email", "triggers": triggers,
            "config": {"host": "smtp.example.com", "from": "nope", "to": []}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["config.from", "config.to"], "{problem}");
    let (status, problem) = server
        .post(
            &path,
            json!({"name": "GH", "type": "github_commit_status", "triggers": triggers,
            "config": {"owner": "acme", "repo": "site", "token": "t", "colour": "red"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_jws_header_name_is_the_webhooks_choice() {
    let receiver = crate::support::receiver::Receiver::ok().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/x"),
            json!({"jws_secret": "jws-key", "signature_header": "X-Webhook-Signature"}),
        )
        .await;
    let published = server.publish(&site, crate::support::item_event("1")).await;
    server
        .settled_call(&site, published["webhook_call_ids"][0].as_str().unwrap())
        .await;
    let got = &receiver.received()[0];
    assert!(
        got.header("x-webhook-signature").starts_with("eyJ"),
        "a JWT"
    );
    assert_eq!(got.header("x-nf-sign"), "");
}
