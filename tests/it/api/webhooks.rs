//! Webhooks: validation naming every field, private destinations, masked credentials.

use super::*;

#[tokio::test]
async fn webhook_validation_names_every_bad_field() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");

    let (status, problem) = server
        .post(&path, json!({"name": "", "url": "ftp://x", "triggers": [{"entity_type": "item", "event_types": []}], "timeout_ms": 5}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&problem),
        ["name", "url", "triggers[0].event_types", "timeout_ms"]
    );

    let (status, problem) = server
        .post(&path, json!({"name": "x", "url": "https://example.com", "triggers": [{"entity_type": "item", "event_types": "update"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["triggers[0].event_types"]);

    let (status, problem) = server
        .post(
            &path,
            json!({"name": "x", "url": "https://example.com", "triggers": [], "colour": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{problem}"
    );

    let (status, problem) = server
        .post(
            &path,
            json!({"name": "x", "url": "https://example.com", "triggers": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["triggers"]);

    let raw = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(raw.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn private_destinations_are_refused_unless_the_operator_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = crate::support::test_args(dir.path(), &[]).await;
    args.allow_private_targets = false;
    let server = TestServer::launch(dir, args).await;
    let site = server.create_site().await;
    for url in [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/latest",
        "http://localhost/",
        "http://[::1]/",
    ] {
        let (status, problem) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({"name": "x", "url": url, "triggers": [{"entity_type": "item", "event_types": ["*"]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(fields(&problem), ["url"]);
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-private-targets"));
    }
}

#[tokio::test]
async fn webhooks_crud_masks_credentials_and_shows_the_secret_once() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(
            &site,
            "https://example.com/hook",
            json!({"headers": {"X-Api-Key": "k1", "X-Team": "blue"}, "basic_auth": {"username": "u", "password": "p"}}),
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(hook["timeout_ms"], 5000);
    assert_eq!(hook["enabled"], true);

    let path = format!("/api/v1/sites/{site}/webhooks/{id}");
    let (_, shown) = server.get(&path).await;
    assert!(shown.get("secret").is_none());
    assert_eq!(shown["headers"]["X-Api-Key"], "********");
    assert_eq!(shown["headers"]["X-Team"], "blue");
    assert_eq!(shown["basic_auth"]["password"], "********");
    let (_, secret) = server.get(&format!("{path}/secret")).await;
    assert_eq!(secret["secret"], hook["secret"]);

    // Sending back what was read keeps the stored credentials.
    let (status, patched) = server
        .patch(&path, json!({"name": "Renamed", "headers": shown["headers"], "basic_auth": shown["basic_auth"], "timeout_ms": 1000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["timeout_ms"], 1000);
    let (_, list) = server.get(&format!("/api/v1/sites/{site}/webhooks")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let (status, problem) = server.patch(&path, json!({"url": "nope"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["url"]);
    let (_, unchanged) = server.get(&path).await;
    assert_eq!(
        unchanged["url"], "https://example.com/hook",
        "a refused PATCH changes nothing"
    );

    let (_, cleared) = server.patch(&path, json!({"basic_auth": null})).await;
    assert_eq!(cleared["basic_auth"], Value::Null);
    assert_eq!(server.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.get(&path).await.0, StatusCode::NOT_FOUND);
}
