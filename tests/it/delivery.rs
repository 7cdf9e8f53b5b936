//! Delivery over real HTTP to receivers on 127.0.0.1: what is sent, how failures are
//! retried and logged, resends, and shutdown.

use std::time::Duration;

use crate::support::receiver::{Receiver, Reply};
use crate::support::{item_event, TestServer};
use base64::Engine;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Verifies a Standard Webhooks signature the way a receiver would, independently of
/// hookrelay's signer.
fn signature_is_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|candidate| candidate == expected)
}

fn call_id(published: &Value) -> String {
    published["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_delivery_carries_the_event_headers_auth_and_a_valid_signature() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/hooks/in?x=1"),
            json!({"headers": {"X-Team": "blue"}, "basic_auth": {"username": "robot", "password": "pa:ss"}}),
        )
        .await;
    let event = json!({"entity_type": "item", "event_type": "publish", "environment": "staging",
                       "entity": {"id": "293467", "title": "Caf\u{e9} \"quoted\"\n"}});
    let published = server.publish(&site, event.clone()).await;
    let got = receiver.wait_for(1).await.remove(0);

    assert_eq!(got.path, "/hooks/in");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        body,
        json!({"entity_type": "item", "event_type": "publish", "environment": "staging", "entity": event["entity"]})
    );
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(
        got.header("user-agent"),
        format!("hookrelay/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(got.header("x-site-id"), site);
    assert_eq!(got.header("x-webhook-id"), hook["id"]);
    assert_eq!(got.header("x-environment"), "staging");
    assert_eq!(got.header("x-team"), "blue");
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("robot:pa:ss")
    );
    assert_eq!(got.header("authorization"), expected_auth);

    assert_eq!(got.header("webhook-id"), call_id(&published));
    let timestamp: i64 = got.header("webhook-timestamp").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - timestamp).abs() < 60, "timestamp is current");
    assert!(signature_is_valid(
        hook["secret"].as_str().unwrap(),
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        &got.body,
        got.header("webhook-signature"),
    ));
    assert!(!signature_is_valid(
        hook["secret"].as_str().unwrap(),
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        b"tampered",
        got.header("webhook-signature"),
    ));

    let call = server.settled_call(&site, &call_id(&published)).await;
    assert_eq!(call["status"], "success");
    assert_eq!(
        call["request"]["headers"]["authorization"],
        "Basic ********"
    );
    assert_eq!(
        call["request"]["body"].as_str().unwrap().as_bytes(),
        &got.body[..]
    );
}

#[tokio::test]
async fn failures_are_retried_on_schedule_with_a_stable_id_until_success() {
    let server = TestServer::start_with(&["--retry-schedule=50ms,50ms,50ms"]).await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|n, _| {
        if n < 2 {
            Reply::status(500)
        } else {
            Reply::status(204)
        }
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let got = receiver.wait_for(3).await;
    assert!(
        got.iter().all(|r| r.header("webhook-id") == call),
        "webhook-id is stable across retries"
    );

    let settled = server.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "success");
    assert_eq!(settled["attempt_count"], 3);
    let statuses: Vec<_> = settled["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_status"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(204)]);
    assert_eq!(settled["attempts"][0]["error"], "HTTP 500");
    assert_eq!(settled["attempts"][0]["response_body"], "ok");
    assert!(settled["attempts"][0]["response_headers"]["content-length"].is_string());
}

#[tokio::test]
async fn an_exhausted_call_fails_and_a_resend_makes_exactly_one_more_attempt() {
    let server = TestServer::start_with(&["--retry-schedule=20ms,20ms"]).await;
    let site = server.create_site().await;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let receiver = Receiver::start(move |_, _| {
        Reply::status(if flag.load(std::sync::atomic::Ordering::SeqCst) {
            200
        } else {
            503
        })
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let failed = server.settled_call(&site, &call).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempt_count"], 3);
    assert_eq!(failed["last_status_code"], 503);

    let resend = format!("/api/v1/sites/{site}/webhook_calls/{call}/resend");
    let (status, queued) = server.post(&resend, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(queued["status"], "pending");
    let still_failed = server.settled_call(&site, &call).await;
    assert_eq!(still_failed["status"], "failed");
    assert_eq!(
        still_failed["attempt_count"], 4,
        "a failed resend does not restart the schedule"
    );
    assert_eq!(still_failed["attempts"][3]["manual"], true);
    assert_eq!(receiver.received().len(), 4);

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    server.post(&resend, json!({})).await;
    let recovered = server.settled_call(&site, &call).await;
    assert_eq!(recovered["status"], "success");
    assert_eq!(recovered["attempt_count"], 5);

    // A successful call can be resent too.
    server.post(&resend, json!({})).await;
    receiver.wait_for(6).await;
    let again = server.settled_call(&site, &call).await;
    assert_eq!(again["attempt_count"], 6);
    assert_eq!(again["status"], "success");
}

#[tokio::test]
async fn a_slow_receiver_times_out_after_the_webhook_timeout() {
    let server = TestServer::start_with(&["--retry-schedule="]).await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|_, _| Reply {
        delay: Duration::from_secs(3),
        ..Reply::status(200)
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({"timeout_ms": 300}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let settled = server.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "failed");
    let attempt = &settled["attempts"][0];
    assert!(
        attempt["error"].as_str().unwrap().contains("timed out"),
        "{attempt}"
    );
    assert_eq!(attempt["response_status"], Value::Null);
    let took = attempt["duration_ms"].as_i64().unwrap();
    assert!(
        (300..2500).contains(&took),
        "gave up after the timeout, took {took} ms"
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_count_as_failures() {
    let server = TestServer::start_with(&["--retry-schedule="]).await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|_, request| {
        if request.path == "/old" {
            Reply {
                headers: vec![("location".into(), "/new".into())],
                ..Reply::status(301)
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/old"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let settled = server.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "failed");
    assert_eq!(settled["last_status_code"], 301);
    assert!(settled["last_error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
    assert_eq!(
        receiver.received().len(),
        1,
        "the Location was never requested"
    );
}

#[tokio::test]
async fn connection_errors_are_logged_with_their_cause() {
    let server = TestServer::start_with(&["--retry-schedule="]).await;
    let site = server.create_site().await;
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    server
        .create_webhook(&site, &format!("http://127.0.0.1:{port}/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let settled = server.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "failed");
    let error = settled["attempts"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("connection failed"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
}

#[tokio::test]
async fn response_bodies_are_cut_to_64_kib_in_the_log() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|_, _| Reply {
        body: vec![b'a'; 100 * 1024],
        ..Reply::status(200)
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    let settled = server.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "success");
    assert_eq!(
        settled["attempts"][0]["response_body"]
            .as_str()
            .unwrap()
            .len(),
        64 * 1024
    );
}

#[tokio::test]
async fn calls_of_a_disabled_webhook_wait_instead_of_going_out() {
    let server = TestServer::start_with(&["--retry-schedule=1h"]).await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|_, _| Reply::status(500)).await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    server
        .wait_call(&site, &call, |c| c["attempt_count"] == 1)
        .await;
    let hook_path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let (status, _) = server.patch(&hook_path, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    // The retry is an hour away; a resend makes it due now, and it must not go out: it
    // is paused again (pending, with no due time) until the webhook is enabled.
    let (status, resent) = server
        .post(
            &format!("/api/v1/sites/{site}/webhook_calls/{call}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resent}");
    assert!(resent["next_attempt_at"].is_string(), "due now: {resent}");
    let paused = server
        .wait_call(&site, &call, |c| c["next_attempt_at"].is_null())
        .await;
    assert_eq!(paused["status"], "pending");
    assert_eq!(paused["attempt_count"], 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_deliveries_finish_and_records_them() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|_, _| Reply {
        delay: Duration::from_millis(500),
        ..Reply::status(200)
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    receiver.wait_for(1).await; // the attempt is now in flight
    let dir = server.stop().await;

    let restarted = TestServer::start_in(dir, &[]).await;
    let settled = restarted.call(&site, &call).await;
    assert_eq!(settled["status"], "success", "{settled}");
    assert_eq!(settled["attempt_count"], 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn shutdown_hands_back_deliveries_that_outlive_the_grace_period() {
    // A 60 s lease: if the claim were not handed back, the restarted server could not
    // retry for a minute and this test would hit its 30 s bound.
    let args = ["--shutdown-grace=100ms", "--lease=60s"];
    let server = TestServer::start_with(&args).await;
    let site = server.create_site().await;
    let receiver = Receiver::start(|n, _| {
        let delay = if n == 0 {
            Duration::from_secs(10)
        } else {
            Duration::ZERO
        };
        Reply {
            delay,
            ..Reply::status(200)
        }
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({"timeout_ms": 20000}))
        .await;
    let call = call_id(&server.publish(&site, item_event("1")).await);
    receiver.wait_for(1).await;
    let dir = server.stop().await;

    let restarted = TestServer::start_in(dir, &args).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].header("webhook-id"), call);
    let settled = restarted.settled_call(&site, &call).await;
    assert_eq!(settled["status"], "success");
    assert_eq!(
        settled["attempt_count"], 1,
        "the abandoned attempt was never recorded as made"
    );
}

/// Connections to a receiver are kept for reuse up to the number of deliveries in flight:
/// a second burst as large as the first opens no new ones.
#[tokio::test]
async fn a_busy_receiver_keeps_its_connections_between_bursts() {
    const IN_FLIGHT: usize = 100;
    let server = TestServer::start_with(&["--max-in-flight=100"]).await;
    let site = server.create_site().await;
    // Each answer waits long enough for the whole burst to be in flight at once.
    let receiver = Receiver::start(|_, _| Reply {
        delay: Duration::from_millis(1000),
        ..Reply::status(200)
    })
    .await;
    server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    for _burst in 0..2 {
        let publishes = (0..IN_FLIGHT).map(|i| server.publish(&site, item_event(&i.to_string())));
        let published = futures_util::future::join_all(publishes).await;
        // The burst is over when every call has its answer (its connection is free again).
        for call in published.iter().map(call_id) {
            let settled = server.settled_call(&site, &call).await;
            assert_eq!(settled["status"], "success", "{settled}");
        }
    }
    assert!(
        receiver.connections() <= IN_FLIGHT,
        "{} connections for bursts of {IN_FLIGHT}",
        receiver.connections()
    );
}

/// A throttling receiver's `Retry-After` sets the next attempt: later than the schedule
/// would (2 s instead of 100 ms), but never past the schedule's longest step (3 s).
#[tokio::test]
async fn retry_after_on_429_and_503_sets_the_next_attempt_within_bounds() {
    let receiver = Receiver::start(|n, _| {
        let (status, wait) = match n {
            0 => (429, "2"),
            _ => (503, "3600"),
        };
        Reply {
            headers: vec![("retry-after".into(), wait.into())],
            ..Reply::status(status)
        }
    })
    .await;
    let server = TestServer::start_with(&["--retry-schedule=100ms,100ms,3s"]).await;
    let site = server.create_site().await;
    server
        .create_webhook(&site, &receiver.url("/busy"), json!({}))
        .await;
    let published = server.publish(&site, item_event("1")).await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let gap = |c: &Value| {
        let at = |field: &str| {
            time::OffsetDateTime::parse(
                c[field].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        (at("next_attempt_at") - at("last_attempt_at")).whole_milliseconds()
    };
    let first = server
        .wait_call(&site, &call, |c| c["attempt_count"] == 1)
        .await;
    assert_eq!(first["last_status_code"], 429);
    assert_eq!(gap(&first), 2_000, "{first}");
    let second = server
        .wait_call(&site, &call, |c| c["attempt_count"] == 2)
        .await;
    assert_eq!(second["last_status_code"], 503);
    assert_eq!(
        gap(&second),
        3_000,
        "an hour asked, the longest step given: {second}"
    );
}

/// 410 Gone disables the webhook at once, saying why; re-enabling clears the reason.
#[tokio::test]
async fn gone_disables_the_webhook_with_the_reason() {
    let receiver = Receiver::start(|_, _| Reply::status(410)).await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/gone"), json!({}))
        .await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let published = server.publish(&site, item_event("1")).await;
    let call_id = published["webhook_call_ids"][0].as_str().unwrap();
    let disabled = server.wait_json(&path, |w| w["enabled"] == false).await;
    // The call waits, paused, for the webhook to be enabled again.
    let paused = server
        .wait_call(&site, call_id, |c| c["next_attempt_at"].is_null())
        .await;
    assert_eq!(
        (&paused["status"], &paused["attempt_count"]),
        (&json!("pending"), &json!(1))
    );
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{disabled}"
    );
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(
        receiver.received().len(),
        1,
        "no retry to an endpoint that is gone"
    );
    let next = server.publish(&site, item_event("2")).await;
    assert!(
        next["webhook_call_ids"].as_array().unwrap().is_empty(),
        "no new calls"
    );
    let (status, enabled) = server.patch(&path, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(enabled.get("disabled_reason").is_none(), "{enabled}");
    receiver.wait_for(2).await;
}
