//! A stored credential is bound to the destination it was entered for: a PATCH that
//! moves the destination elsewhere must enter each credential again (or remove it), so a
//! developer cannot read a password by pointing its webhook at their own server.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::{item_event, TestServer};

fn fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    fields
}

#[tokio::test]
async fn moving_an_http_webhook_elsewhere_needs_its_credentials_again() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let first = Receiver::ok().await;
    let elsewhere = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &first.url("/hook"),
            json!({"basic_auth": {"username": "u", "password": "stored-password"},
                   "headers": {"X-Api-Key": "stored-key", "X-Team": "web"}}),
        )
        .await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    // Moving the URL, sending nothing else or the masks back: each credential is named.
    for patch in [
        json!({"url": elsewhere.url("/steal")}),
        json!({"url": elsewhere.url("/steal"),
               "basic_auth": {"username": "u", "password": "********"},
               "headers": {"X-Api-Key": "********", "X-Team": "web"}}),
    ] {
        let (status, problem) = server.patch(&path, patch).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(
            fields(&problem),
            ["basic_auth.password", "headers.X-Api-Key"]
        );
        assert!(problem["detail"].as_str().unwrap().contains("entered for"));
    }
    // Another path on the same origin keeps them.
    let (status, moved) = server
        .patch(&path, json!({"url": first.url("/other")}))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    // Entered again, they go to the new place; the stored ones never do.
    let (status, _) = server
        .patch(
            &path,
            json!({"url": elsewhere.url("/new"),
                   "basic_auth": {"username": "u", "password": "new-password"},
                   "headers": {"X-Api-Key": "new-key", "X-Team": "web"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.publish(&site, item_event("1")).await;
    let got = elsewhere.wait_for(1).await;
    assert_eq!(got[0].header("x-api-key"), "new-key");
    let basic = got[0].header("authorization");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim_start_matches("Basic "))
        .unwrap();
    assert_eq!(decoded, b"u:new-password");
    assert!(first.received().is_empty());
}

#[tokio::test]
async fn a_notifications_secret_stays_with_its_api_or_mail_server() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    for (kind, config, moved, field) in [
        (
            "github_commit_status",
            json!({"api_url": "http://127.0.0.1:9", "owner": "acme", "repo": "site", "token": "ghp_stored"}),
            json!({"api_url": "http://127.0.0.2:9", "owner": "acme", "repo": "site", "token": "********"}),
            "config.token",
        ),
        (
            "gitlab_mr_comment",
            json!({"api_url": "http://127.0.0.1:9", "project": "g/s", "token": "glpat-stored"}),
            json!({"api_url": "http://127.0.0.2:9", "project": "g/s", "token": "********"}),
            "config.token",
        ),
        (
            "email",
            json!({"host": "127.0.0.1", "port": 2525, "tls": "none", "username": "u", "password": "stored",
                   "from": "a@example.com", "to": ["b@example.com"]}),
            json!({"host": "127.0.0.2", "port": 2525, "tls": "none", "username": "u", "password": "********",
                   "from": "a@example.com", "to": ["b@example.com"]}),
            "config.password",
        ),
    ] {
        let (status, hook) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({"name": kind, "type": kind, "config": config, "triggers": triggers}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        let path = format!(
            "/api/v1/sites/{site}/webhooks/{}",
            hook["id"].as_str().unwrap()
        );
        let (status, problem) = server.patch(&path, json!({"config": moved})).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{kind}");
        // The same destination keeps the masked secret.
        let (status, kept) = server
            .patch(&path, json!({"config": config_with_mask(&config, field)}))
            .await;
        assert_eq!(status, StatusCode::OK, "{kind}: {kept}");
    }
}

/// `config` with the secret at `field` sent back as the mask.
fn config_with_mask(config: &Value, field: &str) -> Value {
    let mut config = config.clone();
    config[field.trim_start_matches("config.")] = json!("********");
    config
}
