//! Bulk recovery: a webhook's failed calls of a window re-sent as one durable operation
//! that resumes after a restart and runs once when several processes look for work.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use crate::support::receiver::{Receiver, Reply};
use crate::support::{item_event, TestServer};
use hookrelay::domain::time::{now_millis, to_rfc3339};
use hookrelay::store::{PoolSettings, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn failed_calls(server: &TestServer, site: &str, n: usize) -> Vec<String> {
    let mut calls = Vec::new();
    for i in 0..n {
        let published = server.publish(site, item_event(&i.to_string())).await;
        calls.push(
            published["webhook_call_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for call in &calls {
        let settled = server.settled_call(site, call).await;
        assert_eq!(settled["status"], "failed");
    }
    calls
}

#[tokio::test]
async fn recover_resends_the_failed_calls_of_the_window_once() {
    let status = Arc::new(AtomicU16::new(500));
    let answer = status.clone();
    let receiver = Receiver::start(move |_, _| Reply::status(answer.load(Ordering::SeqCst))).await;
    let server = TestServer::start_with(&["--retry-schedule=50ms"]).await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/down"), json!({}))
        .await;
    let hook_path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let since = to_rfc3339(now_millis() - 1);
    let inside = failed_calls(&server, &site, 5).await;
    let until = to_rfc3339(now_millis() + 1);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let outside = failed_calls(&server, &site, 2).await;
    let attempts_before = receiver.received().len();
    assert_eq!(attempts_before, 14, "7 calls, 2 attempts each");

    // Refused without a start, or with a window that ends before it starts.
    let (code, problem) = server
        .post(&format!("{hook_path}/recover"), json!({"until": since}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "since");

    status.store(200, Ordering::SeqCst);
    let (code, recovery) = server
        .post(
            &format!("{hook_path}/recover"),
            json!({"since": since, "until": until}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{recovery}");
    let status_path = format!(
        "{hook_path}/recoveries/{}",
        recovery["id"].as_str().unwrap()
    );
    let done = server
        .wait_json(&status_path, |r| r["status"] == "done")
        .await;
    assert_eq!(done["resent"], 5, "{done}");
    assert!(done["finished_at"].is_string());
    for call in &inside {
        let call = server.settled_call(&site, call).await;
        assert_eq!(
            (&call["status"], &call["attempt_count"]),
            (&json!("success"), &json!(3))
        );
    }
    for call in &outside {
        assert_eq!(server.call(&site, call).await["status"], "failed");
    }
    assert_eq!(receiver.received().len(), attempts_before + 5);
    let (_, list) = server.get(&format!("{hook_path}/recoveries")).await;
    assert_eq!(list["data"][0]["id"], recovery["id"]);
}

/// A recovery cut off midway (its process died holding it) is taken up after a restart,
/// from the call after the last one it handled.
#[tokio::test]
async fn a_recovery_cut_off_midway_resumes_where_it_stopped() {
    let receiver = Receiver::start(|_, _| Reply::status(500)).await;
    let server = TestServer::start_with(&["--retry-schedule=50ms"]).await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/down"), json!({}))
        .await;
    let webhook_id = hook["id"].as_str().unwrap().to_owned();
    let since = now_millis() - 1;
    let calls = failed_calls(&server, &site, 5).await;
    let dir = server.stop().await;

    // What a process that died after its first batch leaves: running, a lapsed lease,
    // and progress up to the second call.
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap_or_else(|| Store::sqlite_url(dir.path()));
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let recovery = store
        .create_recovery(&site, &webhook_id, since, now_millis() + 1, now_millis())
        .await
        .unwrap();
    let leased = store
        .lease_recovery(now_millis(), now_millis() + 1)
        .await
        .unwrap()
        .expect("queued recovery");
    assert_eq!(leased.id, recovery.id);
    store.close().await;
    let mut sorted = calls.clone();
    sorted.sort();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE recoveries SET last_call_id = $1, resent = 2 WHERE id = $2")
        .bind(sorted[1].clone())
        .bind(recovery.id.clone())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let server = TestServer::start_in(dir, &["--retry-schedule=50ms"]).await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{webhook_id}/recoveries/{}",
        recovery.id
    );
    let done: Value = server.wait_json(&path, |r| r["status"] == "done").await;
    assert_eq!(done["resent"], 5, "2 before the cut, 3 after: {done}");
    for (i, call) in sorted.iter().enumerate() {
        let call = server.settled_call(&site, call).await;
        let attempts = if i < 2 { 2 } else { 3 };
        assert_eq!(call["attempt_count"], attempts, "{call}");
    }
}

/// Two stores (two processes) asking for work at once: one gets the recovery.
#[tokio::test]
async fn only_one_process_takes_a_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap_or_else(|| Store::sqlite_url(dir.path()));
    let first = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let second = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let site = first.create_site("s").await.unwrap().id;
    let settings = hookrelay::domain::webhook::WebhookSettings::new("h", "https://example.com");
    let hook = first
        .create_webhook(
            &site,
            &settings,
            "secret",
            &hookrelay::store::Actor::system(),
        )
        .await
        .unwrap();
    for _ in 0..20 {
        let now = now_millis();
        let recovery = first
            .create_recovery(&site, &hook.id, 0, now, now)
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            first.lease_recovery(now, now + 60_000),
            second.lease_recovery(now, now + 60_000)
        );
        let taken: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken.len(), 1, "taken once");
        assert_eq!(taken[0].id, recovery.id);
        let mut leased = taken[0].clone();
        first
            .recover_batch(&mut leased, now, now + 1)
            .await
            .unwrap();
    }
}
