//! The audit log records who made and revoked API tokens (server-wide) and who changed a
//! site's commands and directories, with the token they used.

use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn token_and_site_changes_are_audited_with_who_and_which_token() {
    let server = TestServer::start().await;
    let (_, made) = server
        .post("/api/v1/tokens", json!({"name": "CI", "role": "developer"}))
        .await;
    let id = made["id"].as_str().unwrap();
    let (status, _) = server.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, log) = server.get("/api/v1/audit_log").await;
    assert_eq!(status, StatusCode::OK);
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<_> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.revoked", "token.created"], "newest first");
    for entry in entries {
        assert_eq!(entry["actor"], "admin");
        assert!(entry["token_id"].as_str().unwrap().starts_with("tok_"));
        assert_eq!(entry["target_id"], id);
        assert_eq!(entry["details"]["name"], "CI");
        assert!(entry["site_id"].is_null());
    }
    let viewer = server
        .post("/api/v1/tokens", json!({"name": "Eyes", "role": "viewer"}))
        .await
        .1;
    let as_viewer = server.with_token(viewer["token"].as_str().unwrap());
    assert_eq!(
        as_viewer.get("/api/v1/audit_log").await.0,
        StatusCode::FORBIDDEN
    );

    let site = server.create_site().await;
    let (status, _) = server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "make site", "env": {"API_KEY": "s3cret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = server.get(&format!("/api/v1/sites/{site}/audit_log")).await;
    let entry = &log["data"][0];
    assert_eq!(entry["action"], "site.updated");
    assert_eq!(entry["details"]["build_command"], "make site");
    assert_eq!(entry["details"]["env"], json!(["API_KEY"]));
    assert!(
        !log.to_string().contains("s3cret"),
        "environment values stay out"
    );
    // A PATCH that changes nothing leaves no entry.
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "make site"}),
        )
        .await;
    let (_, again) = server.get(&format!("/api/v1/sites/{site}/audit_log")).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_webhooks_changes_are_audited_field_by_field_with_secrets_kept_out() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, "https://example.com/hook", json!({"name": "Index"}))
        .await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let (status, problem) = server
        .patch(
            &path,
            json!({"url": "https://new.example/hook?key=k3y", "timeout_ms": 2500,
                   "headers": {"X-Api-Key": "s3cret"},
                   "basic_auth": {"username": "ci", "password": "hunter2"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    // Saving it unchanged records nothing.
    let (status, _) = server.patch(&path, json!({"timeout_ms": 2500})).await;
    assert_eq!(status, StatusCode::OK);

    let (_, log) = server.get(&format!("/api/v1/sites/{site}/audit_log")).await;
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<_> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["webhook.updated", "webhook.created"],
        "newest first"
    );
    let changed = &entries[0]["details"]["changed"];
    assert_eq!(changed["timeout_ms"], json!({"from": 5000, "to": 2500}));
    assert_eq!(changed["url"]["from"], "https://example.com/hook");
    assert_eq!(changed["headers"], "changed");
    assert_eq!(changed["basic_auth.password"], "changed");
    assert_eq!(changed["basic_auth.username"]["to"], "ci");
    assert!(changed.get("name").is_none(), "{changed}");
    let text = log.to_string();
    for secret in ["k3y", "s3cret", "hunter2"] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    assert_eq!(entries[0]["actor"], "admin");

    // The dashboard's audit page reads as sentences, not JSON.
    let session =
        crate::support::session::Session::sign_in(&server.base, crate::support::ADMIN_TOKEN).await;
    let page = session
        .get(&format!("/sites/{site}/audit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<code>timeout_ms</code>: 5000 → 2500"),
        "{page}"
    );
    assert!(!page.contains("hunter2"));
}
