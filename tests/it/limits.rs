//! Every limit a request or a rendering can pass is answered with a 4xx problem document
//! that names it, and what is kept of a receiver's answer is bounded.

use std::time::Duration;

use crate::support::receiver::{Receiver, Reply};
use crate::support::{item_event, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn json_nested_past_the_limit_is_refused_naming_it() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let deep = format!(
        r#"{{"entity_type": "item", "event_type": "create", "entity": {{"id": "1", "x": {}1{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let response = server
        .client
        .post(format!("{}/api/v1/sites/{site}/events", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, problem) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("deeper than 32 levels"),
        "{problem}"
    );
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_refused_naming_the_limit() {
    let server = TestServer::start().await;
    let mut many = server
        .client
        .get(format!("{}/api/v1/sites", server.base))
        .bearer_auth(&server.token);
    for i in 0..70 {
        many = many.header(format!("x-extra-{i}"), "v");
    }
    let (status, problem) = crate::support::read(many.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 64"),
        "{problem}"
    );

    let big = server
        .client
        .get(format!("{}/api/v1/sites", server.base))
        .bearer_auth(&server.token)
        .header("x-big", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    let (status, problem) = crate::support::read(big).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("at most 16384"),
        "{problem}"
    );
}

/// A client that sends a body past the limit without waiting for `100 Continue` still
/// reads the 413 (with the limit named) before the connection closes.
#[tokio::test]
async fn a_body_past_the_limit_gets_413_before_the_connection_closes() {
    let server = TestServer::start_with(&["--max-body-bytes=65536"]).await;
    let site = server.create_site().await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let length = 4 * 1024 * 1024;
    let head = format!(
        "POST /api/v1/sites/{site}/events HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n",
        server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Keep sending until the server stops reading; whatever happens to the writes, the
    // answer must be readable.
    let sending = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..(length / chunk.len()) {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    sending.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("larger than 65536 bytes"), "{answer}");
}

/// A template that renders past its limit for one event fails that webhook's call, with
/// the reason; the event and the site's other webhooks are not held back by it.
#[tokio::test]
async fn a_template_rendering_past_its_limit_fails_only_its_own_call() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let loops =
        "{{#entity.a}}{{#entity.a}}{{#entity.a}}xxxxxx{{/entity.a}}{{/entity.a}}{{/entity.a}}";
    let cube = server
        .create_webhook(
            &site,
            &receiver.url("/cube"),
            json!({"name": "Cube", "payload_template": loops, "content_type": "text/plain"}),
        )
        .await;
    server
        .create_webhook(&site, &receiver.url("/plain"), json!({"name": "Plain"}))
        .await;
    let list: Vec<u32> = (0..200).collect();
    let published = server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "update", "entity": {"id": "1", "a": list}}),
        )
        .await;
    let calls = published["webhook_call_ids"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    receiver.wait_for(1).await;
    for call in calls {
        let call = server.settled_call(&site, call.as_str().unwrap()).await;
        if call["webhook_id"] == cube["id"] {
            assert_eq!(call["status"], "failed", "{call}");
            let error = call["last_error"].as_str().unwrap();
            assert!(error.contains("1 MiB"), "{call}");
            assert_eq!(call["attempt_count"], 0, "never sent: {call}");
        } else {
            assert_eq!(call["status"], "success", "{call}");
        }
    }
    assert_eq!(
        receiver.received().len(),
        1,
        "only the plain webhook was called"
    );
}

/// Every custom body of one event together stays within --max-rendered-bytes-per-event:
/// past it, the remaining calls fail with the reason instead of filling the disk.
#[tokio::test]
async fn one_events_rendered_bodies_stay_within_their_budget() {
    let server = TestServer::start_with(&["--max-rendered-bytes-per-event=250000"]).await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let template = "{{#entity.a}}{{entity.text}}{{/entity.a}}";
    for i in 0..5 {
        server
            .create_webhook(
                &site,
                &receiver.url(&format!("/w{i}")),
                json!({"payload_template": template, "content_type": "text/plain"}),
            )
            .await;
    }
    // Each webhook renders 100 × 1 000 bytes: two fit in 250 000, three do not.
    let entity = json!({"id": "1", "a": (0..100).collect::<Vec<u32>>(), "text": "x".repeat(1000)});
    let published = server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "update", "entity": entity}),
        )
        .await;
    receiver.wait_for(2).await;
    let mut failed = 0;
    for call in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.settled_call(&site, call.as_str().unwrap()).await;
        if call["status"] == "failed" {
            failed += 1;
            let error = call["last_error"].as_str().unwrap();
            assert!(error.contains("--max-rendered-bytes-per-event"), "{call}");
        }
    }
    assert_eq!(failed, 3);
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_long_answer_is_kept_up_to_the_response_body_limit() {
    let receiver = Receiver::start(|_, _| Reply {
        body: vec![b'z'; 200_000],
        ..Reply::status(200)
    })
    .await;
    let server = TestServer::start_with(&["--response-body-limit=1000"]).await;
    let site = server.create_site().await;
    server
        .create_webhook(&site, &receiver.url("/long"), json!({}))
        .await;
    let published = server.publish(&site, item_event("1")).await;
    let call_id = published["webhook_call_ids"][0].as_str().unwrap();
    server.settled_call(&site, call_id).await;
    let call: Value = server.call(&site, call_id).await;
    let kept = call["attempts"][0]["response_body"].as_str().unwrap();
    assert_eq!(kept.len(), 1000);
}
