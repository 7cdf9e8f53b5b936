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
