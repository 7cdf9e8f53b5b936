//! `latest` ordering: a key's older state is never sent after a newer one, and what was
//! skipped says which call replaced it. GitHub commit statuses get it by themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{event, Ledger};
use crate::support::forge::Forge;
use crate::support::receiver::{Receiver, Reply};
use crate::support::TestServer;

#[tokio::test]
async fn latest_never_sends_an_older_state_after_a_newer_one() {
    let server = TestServer::start_with(&["--retry-schedule=20ms,20ms,20ms,20ms,20ms,20ms"]).await;
    let site = server.create_site().await;
    // Slow, and refusing one request in three: retries and newer states race.
    let requests = Arc::new(AtomicUsize::new(0));
    let ledger = Ledger::default();
    let receiver = Receiver::start(ledger.responder(move |request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let i = requests.fetch_add(1, Ordering::SeqCst);
        let mut reply = Reply::status(if i % 3 == 1 { 500 } else { 200 });
        // A key's first state is answered slowly, so newer ones pile up behind it.
        reply.delay = if body["entity"]["n"] == 0 {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(10)
        };
        reply
    }))
    .await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({"ordering": "latest"}))
        .await;
    assert_eq!(hook["ordering"], "latest");

    const KEYS: usize = 5;
    const PER_KEY: u64 = 30;
    // One publisher per key, each publishing its key's states in turn.
    let publishers = (0..KEYS).map(|k| {
        let server = &server;
        let site = &site;
        async move {
            let mut calls = Vec::new();
            for n in 0..PER_KEY {
                let published = server.publish(site, event(&format!("k{k}"), n)).await;
                calls.push(
                    published["webhook_call_ids"][0]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            calls
        }
    });
    let calls: Vec<Vec<String>> = join_all(publishers).await;

    let mut by_id: HashMap<String, Value> = HashMap::new();
    for id in calls.iter().flatten() {
        by_id.insert(id.clone(), server.settled_call(&site, id).await);
    }
    for (k, key_calls) in calls.iter().enumerate() {
        let key = format!("k{k}");
        let seen = &ledger.keys()[&key];
        let sent: Vec<u64> = seen.iter().map(|s| s.n).collect();
        assert!(
            sent.windows(2).all(|w| w[0] <= w[1]),
            "key {key} went back: {sent:?}"
        );
        let last = &by_id[key_calls.last().unwrap()];
        assert_eq!(
            last["status"], "success",
            "the newest state is delivered: {last}"
        );
        assert_eq!(seen.iter().rfind(|s| s.ok).unwrap().n, PER_KEY - 1);

        let mut superseded = 0;
        for (n, id) in key_calls.iter().enumerate() {
            let call = &by_id[id];
            match call["status"].as_str() {
                Some("success") => {}
                Some("superseded") => {
                    superseded += 1;
                    let by = call["superseded_by"].as_str().expect("superseded_by");
                    let newer = key_calls.iter().position(|c| c == by).expect("same key");
                    assert!(newer > n, "call {n} replaced by older call {newer}");
                    assert!(
                        seen.iter().all(|s| s.n != n as u64 || !s.ok),
                        "superseded call {n} was delivered"
                    );
                }
                other => panic!("call {n} of {key} ended {other:?}: {call}"),
            }
        }
        assert!(
            superseded > 0,
            "key {key}: nothing piled up behind a slow answer"
        );
    }
    assert!(ledger.overlaps().is_empty(), "{:?}", ledger.overlaps());
}

#[tokio::test]
async fn a_refused_pending_status_never_lands_after_success() {
    let forge = Forge::start().await;
    // A refused status is retried in 2 s: long after the deploy has succeeded.
    let server = TestServer::start_with(&["--retry-schedule=2s,2s"]).await;
    let site = server.create_site().await;
    let (status, hook) = server
        .post(
            &format!("/api/v1/sites/{site}/webhooks"),
            json!({"name": "Status", "type": "github_commit_status",
                   "triggers": [{"entity_type": "deploy", "event_types": ["*"]}],
                   "config": {"api_url": forge.base, "owner": "acme", "repo": "site", "token": "ghp_x"}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{hook}");
    assert_eq!(hook["ordering"], "latest", "{hook}");
    assert_eq!(hook["ordering_key"], "/entity/commit_ref");

    let deploy = |event_type: &str| {
        json!({"entity_type": "deploy", "event_type": event_type,
               "entity": {"id": "job_1", "site_name": "Blog", "commit_ref": "a1b2c3"}})
    };
    forge.refuse_next_statuses(1);
    let started = server.publish(&site, deploy("deploy_started")).await;
    let started = started["webhook_call_ids"][0].as_str().unwrap().to_owned();
    server
        .wait_call(&site, &started, |c| c["attempt_count"] == 1)
        .await;
    let succeeded = server.publish(&site, deploy("deploy_succeeded")).await;
    let succeeded = succeeded["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let done = server.settled_call(&site, &succeeded).await;
    assert_eq!(done["status"], "success", "{done}");
    let replaced = server.settled_call(&site, &started).await;
    assert_eq!(replaced["status"], "superseded", "{replaced}");
    assert_eq!(replaced["superseded_by"], succeeded.as_str());
    let states: Vec<Value> = forge
        .requests()
        .iter()
        .filter(|r| r.target.contains("/statuses/"))
        .map(|r| r.body["state"].clone())
        .collect();
    assert_eq!(states, [json!("pending"), json!("success")]);
}
