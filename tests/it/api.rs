//! The management API over real HTTP: auth, validation, events, activity log.

use crate::support::receiver::Receiver;
use crate::support::{item_event, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn fields(problem: &Value) -> Vec<String> {
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

async fn call_webhooks(server: &TestServer, site: &str, published: Value) -> Vec<String> {
    let mut hooks = Vec::new();
    for call_id in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.call(site, call_id.as_str().unwrap()).await;
        hooks.push(call["webhook_id"].as_str().unwrap().to_owned());
    }
    hooks.sort();
    hooks
}

#[tokio::test]
async fn an_event_creates_one_call_per_matching_enabled_webhook() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let url = receiver.url("/");
    let any_item = server.create_webhook(&site, &url, json!({})).await;
    let publish_only = server
        .create_webhook(
            &site,
            &url,
            json!({"triggers": [{"entity_type": "item", "event_types": ["publish"]}]}),
        )
        .await;
    let entity_42 = server
        .create_webhook(&site, &url, json!({"triggers": [{"entity_type": "item", "event_types": ["*"], "entity_ids": ["42"]}]}))
        .await;
    let model_m1 = server
        .create_webhook(&site, &url, json!({"triggers": [{"entity_type": "item", "event_types": ["*"], "model_ids": ["m1"]}]}))
        .await;
    server
        .create_webhook(&site, &url, json!({"enabled": false}))
        .await;
    server
        .create_webhook(
            &site,
            &url,
            json!({"triggers": [{"entity_type": "upload", "event_types": ["*"]}]}),
        )
        .await;

    let id = |hook: &Value| hook["id"].as_str().unwrap().to_owned();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    let published = server
        .publish(&site, json!({"entity_type": "item", "event_type": "publish", "entity": {"id": 42, "relationships": {"item_type": {"data": {"id": "m1"}}}}}))
        .await;
    assert_eq!(
        call_webhooks(&server, &site, published).await,
        sorted(vec![
            id(&any_item),
            id(&publish_only),
            id(&entity_42),
            id(&model_m1)
        ])
    );
    let published = server.publish(&site, item_event("7")).await;
    assert_eq!(
        call_webhooks(&server, &site, published).await,
        vec![id(&any_item)]
    );
    let published = server
        .publish(&site, json!({"entity_type": "form_submission", "event_type": "submission_created", "entity": {}}))
        .await;
    assert!(published["webhook_call_ids"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn events_are_validated_and_need_an_existing_site() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (status, problem) = server
        .post(
            &format!("/api/v1/sites/{site}/events"),
            json!({"entity_type": "item", "event_type": "", "environment": "a b", "entity": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["event_type", "environment", "entity"]);
    let (status, problem) = server
        .post(
            &format!("/api/v1/sites/{site}/events"),
            json!({"event_type": "x", "entity": {}}),
        )
        .await;
    // A missing field is named like any other at fault.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["entity_type"]);
    let (status, _) = server
        .post("/api/v1/sites/site_nope/events", item_event("1"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_creates_nothing() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let send = |body: Value| {
        server
            .client
            .post(format!("{}/api/v1/sites/{site}/events", server.base))
            .bearer_auth(&server.token)
            .header("Idempotency-Key", "order-1234")
            .json(&body)
            .send()
    };
    let first = send(item_event("1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.json::<Value>().await.unwrap();
    let second = send(item_event("1")).await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.json::<Value>().await.unwrap(), first);

    let (_, calls) = server
        .get(&format!("/api/v1/sites/{site}/webhook_calls"))
        .await;
    assert_eq!(
        calls["data"].as_array().unwrap().len(),
        1,
        "the replay created no call"
    );
    let (status, problem) = crate::support::read(send(item_event("2")).await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("different request"));
}

#[tokio::test]
async fn the_activity_log_filters_and_pages_with_a_cursor() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start(|_, _| crate::support::receiver::Reply::status(500)).await;
    let good = server.create_webhook(&site, &ok.url("/"), json!({})).await;
    let bad = server
        .create_webhook(
            &site,
            &failing.url("/"),
            json!({"triggers": [{"entity_type": "item", "event_types": ["publish"]}]}),
        )
        .await;
    let mut good_calls = Vec::new();
    for i in 0..5 {
        let published = server.publish(&site, item_event(&i.to_string())).await;
        good_calls.push(
            published["webhook_call_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let published = server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "publish", "entity": {"id": "p"}}),
        )
        .await;
    let ids: Vec<_> = published["webhook_call_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for call_id in good_calls.iter().chain(&ids) {
        server.settled_call(&site, call_id).await;
    }

    let base = format!("/api/v1/sites/{site}/webhook_calls");
    let (_, all) = server.get(&base).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 7);
    let (_, failed) = server.get(&format!("{base}?status=failed")).await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
    assert_eq!(failed["data"][0]["webhook_id"], bad["id"]);
    assert_eq!(failed["data"][0]["attempt_count"], 3);
    let (_, published_only) = server.get(&format!("{base}?event_type=publish")).await;
    assert_eq!(published_only["data"].as_array().unwrap().len(), 2);
    let (_, by_hook) = server
        .get(&format!(
            "{base}?webhook_id={}",
            good["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_hook["data"].as_array().unwrap().len(), 6);
    let (_, future) = server
        .get(&format!("{base}?since=2999-01-01T00:00:00Z"))
        .await;
    assert!(future["data"].as_array().unwrap().is_empty());
    let (_, past) = server
        .get(&format!("{base}?until=2000-01-01T00:00:00Z"))
        .await;
    assert!(past["data"].as_array().unwrap().is_empty());

    // Paging: newest first, three pages of 3, 3 and 1, no overlap.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}?limit=3&cursor={c}"),
            None => format!("{base}?limit=3"),
        };
        let (_, page) = server.get(&path).await;
        pages += 1;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are newest first without repeats");
    assert_eq!(seen.len(), 7);

    for (query, field) in [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
    ] {
        let (status, problem) = server.get(&format!("{base}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(fields(&problem), [field]);
    }
    let (status, _) = server.get(&format!("{base}?colour=red")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Cursors are opaque positions: one the API never made is simply a place in the list.
    let (status, page) = server.get(&format!("{base}?cursor=abc")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"], serde_json::json!([]));
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
