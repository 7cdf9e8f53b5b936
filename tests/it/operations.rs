//! The bad months: disabled webhooks pause their calls and resume them, failing webhooks
//! are disabled after `disable_after`, and operator events report it all.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::receiver::{Receiver, Reply};
use crate::support::{item_event, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A receiver answering whatever status `status` holds at the time.
async fn switchable(status: &Arc<AtomicU16>) -> Receiver {
    let status = status.clone();
    Receiver::start(move |_, _| Reply::status(status.load(Ordering::SeqCst))).await
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// A webhook subscribed to every operator event, to `receiver`.
async fn operator_hook(server: &TestServer, site: &str, receiver: &Receiver) -> Value {
    server
        .create_webhook(
            site,
            &receiver.url("/operator"),
            json!({"name": "On call", "triggers": [{"entity_type": "operator", "event_types": ["*"]}]}),
        )
        .await
}

/// The operator events `receiver` got, as (event type, entity attributes).
fn operator_events(receiver: &Receiver) -> Vec<(String, Value)> {
    receiver
        .received()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
            assert_eq!(body["entity_type"], "operator", "{body}");
            (
                body["event_type"].as_str().unwrap_or_default().to_owned(),
                body["entity"]["attributes"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn disabling_pauses_pending_calls_and_enabling_resumes_them() {
    let status = Arc::new(AtomicU16::new(500));
    let receiver = switchable(&status).await;
    // Retries an hour apart: the call stays pending through the test.
    let server = TestServer::start_with(&["--retry-schedule=1h"]).await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/flaky"), json!({}))
        .await;
    let path = format!("/api/v1/sites/{site}/webhooks/{}", id(&hook));
    let published = server.publish(&site, item_event("1")).await;
    let call_id = published["webhook_call_ids"][0].as_str().unwrap();
    server
        .wait_call(&site, call_id, |c| c["attempt_count"] == 1)
        .await;

    let (code, _) = server.patch(&path, json!({"enabled": false})).await;
    assert_eq!(code, StatusCode::OK);
    let paused = server.call(&site, call_id).await;
    assert_eq!(paused["status"], "pending", "{paused}");
    assert!(paused["next_attempt_at"].is_null(), "paused: {paused}");

    status.store(200, Ordering::SeqCst);
    let (code, _) = server.patch(&path, json!({"enabled": true})).await;
    assert_eq!(code, StatusCode::OK);
    let delivered = server.settled_call(&site, call_id).await;
    assert_eq!(delivered["status"], "success", "{delivered}");
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_webhook_failing_past_disable_after_is_disabled_and_reported() {
    let failing = Receiver::start(|_, _| Reply::status(503)).await;
    let operator = Receiver::ok().await;
    let server = TestServer::start_with(&[
        "--disable-after=1s",
        "--health-check-interval=100ms",
        "--retry-schedule=100ms,100ms",
    ])
    .await;
    let site = server.create_site().await;
    operator_hook(&server, &site, &operator).await;
    let doomed = server
        .create_webhook(&site, &failing.url("/doomed"), json!({"name": "Doomed"}))
        .await;
    let spared = server
        .create_webhook(
            &site,
            &failing.url("/spared"),
            json!({"name": "Spared", "disable_after": "never"}),
        )
        .await;
    assert_eq!(spared["disable_after"], "never");
    assert!(
        doomed["disable_after"].is_null(),
        "server default: {doomed}"
    );
    let published = server.publish(&site, item_event("1")).await;
    for call_id in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.settled_call(&site, call_id.as_str().unwrap()).await;
        assert_eq!(call["status"], "failed");
    }
    let doomed_path = format!("/api/v1/sites/{site}/webhooks/{}", id(&doomed));
    let disabled = server
        .wait_json(&doomed_path, |w| w["enabled"] == false)
        .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("every call failed"), "{reason}");
    assert!(disabled["failing_since"].is_string(), "{disabled}");

    // Reported: both exhausted calls, then the one disabled webhook.
    let seen = operator.wait_for(3).await;
    assert_eq!(seen.len(), 3);
    let events = operator_events(&operator);
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "call_exhausted").count(),
        2,
        "{kinds:?}"
    );
    let (_, about) = events
        .iter()
        .find(|(kind, _)| kind == "webhook_disabled")
        .expect("webhook_disabled reported");
    assert_eq!(about["webhook_id"], id(&doomed));
    assert_eq!(about["webhook_name"], "Doomed");
    let exhausted = &events
        .iter()
        .find(|(kind, _)| kind == "call_exhausted")
        .unwrap()
        .1;
    assert_eq!(exhausted["attempts"], 3);
    assert_eq!(exhausted["last_status_code"], 503);

    // Its own `never` keeps the other one going, failing as it is.
    let (_, spared) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{}", id(&spared)))
        .await;
    assert_eq!(spared["enabled"], true, "{spared}");
    assert!(spared["failing_since"].is_string());
}

#[tokio::test]
async fn a_failing_webhook_that_delivers_again_is_reported_recovered() {
    // Fails the first two attempts, then works.
    let flaky = Receiver::start(|n, _| Reply::status(if n < 2 { 500 } else { 200 })).await;
    let operator = Receiver::ok().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    operator_hook(&server, &site, &operator).await;
    let hook = server
        .create_webhook(&site, &flaky.url("/flaky"), json!({"name": "Flaky"}))
        .await;
    let published = server.publish(&site, item_event("1")).await;
    let call_id = published["webhook_call_ids"][0].as_str().unwrap();
    let call = server.settled_call(&site, call_id).await;
    assert_eq!(call["status"], "success");
    operator.wait_for(1).await;
    let events = operator_events(&operator);
    assert_eq!(events.len(), 1, "{events:?}");
    let (kind, about) = &events[0];
    assert_eq!(kind, "call_recovered");
    assert_eq!(about["call_id"], call_id);
    assert_eq!(about["webhook_id"], id(&hook));
    let (_, healthy) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{}", id(&hook)))
        .await;
    assert!(healthy.get("failing_since").is_none(), "{healthy}");
}

/// A webhook subscribed to operator events that fails itself is not reported on: its
/// own `call_exhausted` would feed it another call to fail, for ever.
#[tokio::test]
async fn operator_events_about_operator_calls_are_not_sent() {
    let broken = Receiver::start(|_, _| Reply::status(500)).await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let reporter = operator_hook(&server, &site, &broken).await;
    let failing = Receiver::start(|_, _| Reply::status(500)).await;
    server
        .create_webhook(&site, &failing.url("/x"), json!({}))
        .await;
    server.publish(&site, item_event("1")).await;
    // The item call is exhausted (3 attempts), then its call_exhausted call (3 more).
    broken.wait_for(3).await;
    let calls = format!(
        "/api/v1/sites/{site}/webhook_calls?webhook_id={}",
        id(&reporter)
    );
    let log = server
        .wait_json(&calls, |page| page["data"][0]["status"] == "failed")
        .await;
    // Absence can only be shown by waiting: long enough for three more attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        broken.received().len(),
        3,
        "nothing after the report failed"
    );
    assert_eq!(
        log["data"].as_array().unwrap().len(),
        1,
        "one report: {log}"
    );
    let (_, again) = server.get(&calls).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 1, "{again}");
}

/// Calls over a webhook's rate limit wait their turn: none is dropped, and no second sees
/// more than the limit and its burst allowance (a twentieth of a second's calls, at least 1).
#[tokio::test]
async fn a_rate_limit_spaces_calls_and_drops_none() {
    const LIMIT: usize = 20;
    const EVENTS: usize = 60;
    let receiver = Receiver::ok().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/limited"),
            json!({"rate_limit_per_s": LIMIT}),
        )
        .await;
    let mut calls = Vec::new();
    for i in 0..EVENTS {
        let published = server.publish(&site, item_event(&i.to_string())).await;
        calls.push(
            published["webhook_call_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let arrived = receiver.wait_for(EVENTS).await;
    assert_eq!(arrived.len(), EVENTS);
    // Judged by when the server started each attempt (the receiver's own clock bunches
    // arrivals together whenever the test process itself waits for a core).
    let mut started = Vec::new();
    for call_id in &calls {
        let call = server.settled_call(&site, call_id).await;
        assert_eq!(
            (&call["status"], &call["attempt_count"]),
            (&json!("success"), &json!(1))
        );
        let at = call["attempts"][0]["started_at"].as_str().unwrap();
        started.push(hookrelay::domain::time::parse_rfc3339(at).unwrap());
    }
    started.sort_unstable();
    let busiest = started
        .iter()
        .enumerate()
        .map(|(i, first)| {
            started[i..]
                .iter()
                .take_while(|t| **t < first + 1000)
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= LIMIT + 2, "{busiest} in one second");
    let span = started.last().unwrap() - started[0];
    // 60 calls at 20 a second, 2 of them at once: at least 2.9 s.
    assert!(span >= 2_800, "took only {span} ms");
}

#[tokio::test]
async fn a_rate_limit_or_disable_after_out_of_range_is_refused_naming_the_field() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    for (extra, field) in [
        (json!({"rate_limit_per_s": 0}), "rate_limit_per_s"),
        (json!({"disable_after": "soon"}), "disable_after"),
        (json!({"disable_after": "10s"}), "disable_after"),
    ] {
        let mut body = json!({"name": "x", "url": "http://127.0.0.1:9/",
                              "triggers": [{"entity_type": "item", "event_types": ["*"]}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, problem) = server
            .post(&format!("/api/v1/sites/{site}/webhooks"), body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}

/// A receiver that hangs holds at most its endpoint's share of the delivery slots: the
/// other webhooks' calls go out while it hangs.
#[tokio::test]
async fn a_hanging_receiver_does_not_hold_back_the_others() {
    let hanging = Receiver::start(|_, _| Reply {
        delay: Duration::from_secs(30),
        ..Reply::status(200)
    })
    .await;
    let healthy = Receiver::ok().await;
    // Four slots: two at most for one webhook.
    let server = TestServer::start_with(&["--max-in-flight=4"]).await;
    let site = server.create_site().await;
    let stuck = server
        .create_webhook(
            &site,
            &hanging.url("/hangs"),
            json!({"timeout_ms": 3000, "triggers": [{"entity_type": "upload", "event_types": ["*"]}]}),
        )
        .await;
    server
        .create_webhook(&site, &healthy.url("/ok"), json!({}))
        .await;
    let upload = json!({"entity_type": "upload", "event_type": "create", "entity": {"id": "u"}});
    for _ in 0..10 {
        server.publish(&site, upload.clone()).await;
    }
    hanging.wait_for(2).await;
    for i in 0..10 {
        server.publish(&site, item_event(&i.to_string())).await;
    }
    healthy.wait_for(10).await;
    // All of them went out while the hanging receiver still held its first calls.
    let (_, calls) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhook_calls?webhook_id={}",
            id(&stuck)
        ))
        .await;
    let attempted: Vec<&Value> = calls["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["attempt_count"] != 0)
        .collect();
    assert!(
        attempted.is_empty(),
        "no hanging call had ended yet: {attempted:?}"
    );
    assert_eq!(hanging.received().len(), 2, "its cap is 2 in flight");
}
