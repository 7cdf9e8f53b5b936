//! Retention on the store this run uses: old attempts are deleted and old bodies emptied in
//! batches, a call's summary stays, pending work is left alone, and on SQLite the file
//! reuses the freed pages instead of growing.

use hookrelay::domain::call::{CallStatus, NextStep};
use hookrelay::domain::event::NewEvent;
use hookrelay::domain::signing::generate_secret;
use hookrelay::domain::time::now_millis;
use hookrelay::domain::trigger::Trigger;
use hookrelay::domain::webhook::WebhookSettings;
use hookrelay::store::{Actor, AttemptResult, NewAttempt, PoolSettings, PublishOutcome, Store};
use serde_json::json;

const EVENTS: usize = 120;

async fn publish(store: &Store, site: &str, n: usize) -> Vec<String> {
    let mut calls = Vec::new();
    for i in 0..n {
        let event = NewEvent {
            entity_type: "item".into(),
            event_type: "update".into(),
            environment: None,
            entity: json!({"id": i.to_string(), "text": "x".repeat(4096)}),
        };
        match store.publish_event(site, &event, None).await.unwrap() {
            PublishOutcome::Created(p) => calls.extend(p.webhook_call_ids),
            PublishOutcome::Replayed(_) => unreachable!(),
        }
    }
    calls
}

/// Claims every due call and records a 200 with a 4 KiB answer for each.
async fn deliver_all(store: &Store) {
    let now = now_millis();
    loop {
        let claimed = store.claim_due(now + 1, now + 60_000, 64).await.unwrap();
        if claimed.is_empty() {
            return;
        }
        let results: Vec<AttemptResult> = claimed
            .iter()
            .map(|c| AttemptResult {
                call_id: c.call_id.clone(),
                claim_token: c.claim_token.clone(),
                attempt: Some(NewAttempt {
                    manual: false,
                    started_at: now,
                    duration_ms: 1,
                    request_url: "https://example.com/hook".into(),
                    request_headers: serde_json::value::to_raw_value(&json!({})).unwrap(),
                    request_body: None,
                    response_status: Some(200),
                    response_headers: None,
                    response_body: Some("y".repeat(4096)),
                    error: None,
                }),
                error: None,
                status_code: Some(200),
                finished_at: now,
                next: NextStep::Done(CallStatus::Success),
                watch: None,
                order: None,
            })
            .collect();
        store.record_results(results).await.unwrap();
    }
}

/// The SQLite file's size once its WAL is folded in.
async fn file_size(url: &str, dir: &std::path::Path) -> u64 {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    std::fs::metadata(dir.join("hookrelay.db")).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_bodies_and_attempts_are_pruned_and_summaries_stay() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap_or_else(|| Store::sqlite_url(dir.path()));
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let site = store.create_site("s").await.unwrap().id;
    let settings = WebhookSettings {
        triggers: vec![Trigger {
            entity_type: "item".into(),
            event_types: vec!["*".into()],
            entity_ids: vec![],
            model_ids: vec![],
        }],
        ..WebhookSettings::new("h", "https://example.com/hook")
    };
    let actor = Actor::system();
    store
        .create_webhook(&site, &settings, &generate_secret(), &actor)
        .await
        .unwrap();
    let calls = publish(&store, &site, EVENTS).await;
    deliver_all(&store).await;
    let pending = publish(&store, &site, 1).await;
    let sqlite = url.starts_with("sqlite");
    let before = if sqlite {
        file_size(&url, dir.path()).await
    } else {
        0
    };

    let pruned = store.prune_before(now_millis() + 1_000).await.unwrap();
    assert_eq!(pruned.attempts, EVENTS as u64);
    assert_eq!(pruned.calls, EVENTS as u64);
    assert_eq!(
        pruned.events, EVENTS as u64,
        "the pending call's event keeps its body"
    );
    let old = store.call_detail(&site, &calls[0]).await.unwrap();
    assert_eq!(old.summary.status, CallStatus::Success);
    assert_eq!(old.summary.attempt_count, 1);
    assert!(old.attempts.is_empty());
    assert!(old.request.pruned_at.is_some());
    assert_eq!(old.request.body, "");
    let waiting = store.call_detail(&site, &pending[0]).await.unwrap();
    assert!(waiting.request.pruned_at.is_none());
    assert!(waiting.request.body.contains("xxxx"));
    assert_eq!(
        store
            .prune_before(now_millis() + 1_000)
            .await
            .unwrap()
            .calls,
        0,
        "pruning twice changes nothing"
    );

    if sqlite {
        // As much again fits in the pages the pruning freed.
        publish(&store, &site, EVENTS).await;
        deliver_all(&store).await;
        let after = file_size(&url, dir.path()).await;
        assert!(
            after <= before + before / 5,
            "the file grew from {before} to {after} bytes"
        );
    }
    store.close().await;
}
