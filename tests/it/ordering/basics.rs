//! `key` ordering end to end on one server: order per key, a failing key holding back
//! only itself, what the log and the webhook page say of held calls, resends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;

use super::{event, Ledger};
use crate::support::receiver::{Receiver, Reply};
use crate::support::TestServer;

#[tokio::test]
async fn a_failing_call_holds_back_only_its_own_key() {
    let server = TestServer::start_with(&["--retry-schedule=50ms,50ms,50ms"]).await;
    let site = server.create_site().await;
    // Every call of key `a` is refused twice before it is taken; the other keys' calls
    // are taken at once.
    let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let ledger = Ledger::default();
    let receiver = Receiver::start(ledger.responder(move |request| {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let mut attempts = attempts.lock().unwrap();
        let tries = attempts
            .entry(request.header("webhook-id").to_owned())
            .or_default();
        *tries += 1;
        match body["entity"]["id"].as_str() {
            Some("a") if *tries <= 2 => Reply::status(503),
            _ => Reply::status(200),
        }
    }))
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({"ordering": "key"}))
        .await;

    const PER_KEY: u64 = 10;
    let keys = ["a", "b", "c", "d"];
    // Interleaved, as a CMS would publish them.
    for n in 0..PER_KEY {
        for key in keys {
            server.publish(&site, event(key, n)).await;
        }
    }
    // Key a: 10 calls of 3 attempts each; the rest: one each.
    receiver.wait_for(PER_KEY as usize * (3 + 3)).await;

    let firsts = ledger.first_successes();
    for key in keys {
        assert_eq!(
            firsts[key],
            (0..PER_KEY).collect::<Vec<_>>(),
            "key {key} out of order"
        );
        let sequences: Vec<u64> = ledger.keys()[key]
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.sequence.expect("webhook-sequence"))
            .collect();
        assert_eq!(sequences, (1..=PER_KEY).collect::<Vec<_>>(), "key {key}");
    }
    assert!(ledger.overlaps().is_empty(), "{:?}", ledger.overlaps());
    // The others did not wait for a: each was through before a was half-way.
    let seen = ledger.keys();
    let a_halfway = seen["a"].iter().filter(|s| s.ok).nth(4).unwrap().at;
    for key in ["b", "c", "d"] {
        let done = seen[key].iter().rfind(|s| s.ok).unwrap().at;
        assert!(done < a_halfway, "key {key} waited for key a");
    }
}

#[tokio::test]
async fn held_calls_say_what_they_wait_for_and_follow_a_resend() {
    // Retried in an hour: the first failure holds the key.
    let server = TestServer::start_with(&["--retry-schedule=1h"]).await;
    let site = server.create_site().await;
    let ledger = Ledger::default();
    let (receiver, refusing) = refusing_until_told(&ledger).await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({"ordering": "key"}))
        .await;
    assert_eq!(hook["ordering"], "key");
    assert_eq!(hook["ordering_key"], "/entity/id");
    let hook_id = hook["id"].as_str().unwrap();

    let mut calls = Vec::new();
    for n in 0..4 {
        let published = server.publish(&site, event("stuck", n)).await;
        calls.push(
            published["webhook_call_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let head = server
        .wait_call(&site, &calls[0], |c| c["attempt_count"] == 1)
        .await;
    assert_eq!(head["status"], "pending");
    assert_eq!(head["sequence"], 1);
    assert!(head.get("waiting_behind").is_none(), "{head}");
    for (i, id) in calls.iter().enumerate().skip(1) {
        let held = server.call(&site, id).await;
        assert_eq!(held["status"], "pending", "{held}");
        assert_eq!(held["sequence"], i + 1);
        assert_eq!(held["waiting_behind"], calls[0].as_str(), "{held}");
        assert!(held["next_attempt_at"].is_null(), "{held}");
        assert_eq!(held["attempt_count"], 0);
    }
    let (status, held) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{hook_id}/held_keys"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held["total"], 1);
    assert_eq!(held["data"][0]["key"], "stuck");
    assert_eq!(held["data"][0]["head_call_id"], calls[0].as_str());
    assert_eq!(held["data"][0]["waiting"], 3);
    assert_eq!(held["data"][0]["last_status_code"], 500);

    // A resend of a call that waits does not let it overtake the head.
    let resend = |id: &str| format!("/api/v1/sites/{site}/webhook_calls/{id}/resend");
    let (status, resent) = server.post(&resend(&calls[2]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resent}");
    assert_eq!(resent["waiting_behind"], calls[0].as_str(), "{resent}");
    // The receiver mends; a resend of the head lets the whole key through, in order.
    refusing.store(false, Ordering::SeqCst);
    let (status, _) = server.post(&resend(&calls[0]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for id in &calls {
        assert_eq!(server.settled_call(&site, id).await["status"], "success");
    }
    assert_eq!(ledger.first_successes()["stuck"], [0, 1, 2, 3]);

    // A resend of a delivered call joins the back of its key, with a new sequence.
    let (status, resent) = server.post(&resend(&calls[1]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(resent["sequence"], 5, "{resent}");
    server
        .wait_call(&site, &calls[1], |c| c["attempt_count"] == 2)
        .await;
    let last = ledger.keys()["stuck"].last().cloned().unwrap();
    assert_eq!((last.n, last.sequence), (1, Some(5)));
    let (_, held) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{hook_id}/held_keys"
        ))
        .await;
    assert_eq!(held["total"], 0, "{held}");
}

#[tokio::test]
async fn disabling_an_ordered_webhook_holds_its_keys_and_enabling_resumes_in_order() {
    let server = TestServer::start_with(&["--retry-schedule=1h"]).await;
    let site = server.create_site().await;
    let ledger = Ledger::default();
    let (receiver, refusing) = refusing_until_told(&ledger).await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"ordering": "key", "ordering_key": "*"}),
        )
        .await;
    let hook_path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let mut calls = Vec::new();
    for n in 0..20 {
        // Different entities, one order: `*` is strict FIFO across the webhook.
        let published = server.publish(&site, event(&format!("e{n}"), n)).await;
        calls.push(
            published["webhook_call_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    server
        .wait_call(&site, &calls[0], |c| c["attempt_count"] == 1)
        .await;
    let (status, _) = server.patch(&hook_path, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    refusing.store(false, Ordering::SeqCst);
    let (status, _) = server.patch(&hook_path, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    for id in &calls {
        assert_eq!(server.settled_call(&site, id).await["status"], "success");
    }
    let mut all: Vec<_> = ledger.keys().into_values().flatten().collect();
    all.sort_by_key(|s| s.at);
    let delivered: Vec<u64> = all.iter().filter(|s| s.ok).map(|s| s.n).collect();
    assert_eq!(delivered, (0..20).collect::<Vec<_>>());
    let sequences: Vec<u64> = all
        .iter()
        .filter(|s| s.ok)
        .filter_map(|s| s.sequence)
        .collect();
    assert_eq!(sequences, (1..=20).collect::<Vec<_>>());
    // One order across the webhook: never two of its calls at once.
    let mut previous: Option<&super::Seen> = None;
    for s in &all {
        if let Some(p) = previous {
            assert!(s.at >= p.at + p.delay, "two calls of one order at once");
        }
        previous = Some(s);
    }
}

#[tokio::test]
async fn ordering_settings_are_checked_and_named() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let body = |extra: serde_json::Value| {
        let mut body = json!({"name": "x", "url": "http://127.0.0.1:9/", "triggers": [{"entity_type": "item", "event_types": ["*"]}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, problem) = server
        .post(
            &path,
            body(json!({"ordering": "key", "ordering_key": "entity.id"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(crate::api::fields(&problem), ["ordering_key"]);
    let (status, problem) = server.post(&path, body(json!({"ordering": "fifo"}))).await;
    assert!(status.is_client_error(), "{problem}");
    assert_eq!(crate::api::fields(&problem), ["ordering"], "{problem}");
    // Unordered by default.
    let (status, hook) = server.post(&path, body(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(hook["ordering"], "none");
}

/// A receiver that answers 500 until the flag is cleared, then 200.
async fn refusing_until_told(ledger: &Ledger) -> (Receiver, Arc<AtomicBool>) {
    let refusing = Arc::new(AtomicBool::new(true));
    let refuse = refusing.clone();
    let receiver = Receiver::start(ledger.responder(move |_| {
        Reply::status(if refuse.load(Ordering::SeqCst) {
            500
        } else {
            200
        })
    }))
    .await;
    (receiver, refusing)
}
