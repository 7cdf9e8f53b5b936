//! Events and their calls, idempotency keys, and the activity log's filters and cursor.

use super::*;

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
