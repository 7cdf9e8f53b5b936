//! Tokens, roles, sites, and how every error and overload is answered.

use super::*;

#[tokio::test]
async fn requests_without_a_valid_token_get_401_problem_json() {
    let server = TestServer::start().await;
    let plain = reqwest::get(format!("{}/api/v1/sites", server.base))
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
    assert_eq!(plain.headers()["www-authenticate"], "Bearer");

    let (status, problem) = server
        .with_token("hr_not_a_real_token")
        .get("/api/v1/sites")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["status"], 401);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("unknown or has been revoked"));
}

#[tokio::test]
async fn roles_limit_what_a_token_may_do_and_revocation_is_immediate() {
    let server = TestServer::start().await;
    let site = server.create_site().await;

    let (status, viewer) = server
        .post("/api/v1/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let viewer_token = viewer["token"].as_str().unwrap();
    assert!(viewer_token.starts_with("hr_"));
    let as_viewer = server.with_token(viewer_token);
    assert_eq!(
        as_viewer.get(&format!("/api/v1/sites/{site}")).await.0,
        StatusCode::OK
    );
    let (status, problem) = as_viewer.post("/api/v1/sites", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("needs a developer token"),
        "{problem}"
    );

    let (_, developer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "dev", "role": "developer"}),
        )
        .await;
    let as_developer = server.with_token(developer["token"].as_str().unwrap());
    assert_eq!(
        as_developer
            .post("/api/v1/sites", json!({"name": "x"}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        as_developer.get("/api/v1/tokens").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        as_developer
            .delete(&format!("/api/v1/sites/{site}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let (_, tokens) = server.get("/api/v1/tokens").await;
    assert_eq!(tokens["data"].as_array().unwrap().len(), 3);
    assert!(
        tokens.to_string().find("hr_").is_none(),
        "token secrets are never listed"
    );

    let viewer_id = viewer["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(&format!("/api/v1/tokens/{viewer_id}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        as_viewer.get("/api/v1/sites").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sites_can_be_created_read_renamed_and_deleted() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (_, list) = server.get("/api/v1/sites").await;
    assert_eq!(list["data"][0]["id"], site);
    let (status, renamed) = server
        .patch(&format!("/api/v1/sites/{site}"), json!({"name": "Docs"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "Docs");
    let (status, problem) = server.post("/api/v1/sites", json!({"name": " "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["name"]);
    assert_eq!(
        server.delete(&format!("/api/v1/sites/{site}")).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, problem) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "site not found");
}

#[tokio::test]
async fn unknown_routes_and_health_answer_sensibly() {
    let server = TestServer::start().await;
    let (status, problem) = server.get("/api/v2/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let (status, _) = server
        .send(reqwest::Method::PUT, "/api/v1/sites", None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn splitting_roles_on_sqlite_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = crate::support::test_args(dir.path(), &["--role=worker"]).await;
    args.database.database_url = None; // the embedded SQLite store
    let error = hookrelay::app::start(args).await.err().expect("refused");
    assert!(error.to_string().contains("needs PostgreSQL"), "{error}");
}

#[tokio::test]
async fn beyond_the_requests_in_flight_allowed_a_request_is_shed_with_503_and_retry_after() {
    let server = TestServer::start_with(&["--max-requests-in-flight=1"]).await;
    // A request held inside its handler: the database is locked for writes, so creating a
    // site waits there, holding the one place.
    let lock = crate::support::lock_writes(&server.database_url().await).await;
    let creating = tokio::spawn({
        let (client, base, token) = (
            server.client.clone(),
            server.base.clone(),
            server.token.clone(),
        );
        async move {
            // Shed itself while a probe below holds the place: then it tries again.
            loop {
                let status = client
                    .post(format!("{base}/api/v1/sites"))
                    .bearer_auth(&token)
                    .json(&json!({"name": "held"}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    return status;
                }
            }
        }
    });
    let shed = loop {
        let response = server
            .client
            .get(format!("{}/api/v1/sites", server.base))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(!creating.is_finished(), "the held request ended early");
        tokio::task::yield_now().await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(shed.headers()["content-type"], "application/problem+json");
    let problem: Value = shed.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--max-requests-in-flight"),
        "{problem}"
    );
    // Health checks are never shed.
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // The held request completes, and its place is free again.
    lock.release().await;
    assert_eq!(creating.await.unwrap(), StatusCode::CREATED);
    let (status, sites) = server.get("/api/v1/sites").await;
    assert_eq!(status, StatusCode::OK, "{sites}");
    assert!(sites.to_string().contains("held"), "{sites}");
}

/// Errors that axum's own extractors answer (a path segment that is not UTF-8) are
/// problem+json like every other.
#[tokio::test]
async fn even_a_malformed_path_gets_a_problem_document() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}/api/v1/sites/%FF/webhooks", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert!(
        problem["detail"].as_str().unwrap().contains("UTF-8"),
        "{problem}"
    );
}

/// A missing field and a bad value come back together, each named, not one per try.
#[tokio::test]
async fn missing_fields_and_bad_values_are_named_together() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (status, problem) = server
        .post(
            &format!("/api/v1/sites/{site}/webhooks"),
            json!({"url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "url", "triggers"], "{problem}");
    let (status, problem) = server
        .post(
            &format!("/api/v1/sites/{site}/events"),
            json!({"entity": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3, "{problem}");
}
