//! Store conformance: the queue's rules, checked on the engine this run uses (scripts/test.sh
//! runs it on SQLite and on PostgreSQL).

use std::collections::HashSet;

use hookrelay::domain::call::{CallStatus, NextStep};
use hookrelay::domain::event::NewEvent;
use hookrelay::domain::signing::generate_secret;
use hookrelay::domain::time::now_millis;
use hookrelay::domain::trigger::Trigger;
use hookrelay::domain::webhook::WebhookSettings;
use hookrelay::store::{
    Actor, AttemptResult, CallFilter, IdempotencyKey, NewAttempt, PoolSettings, PublishOutcome,
    Store, StoreError,
};
use serde_json::json;
use tempfile::TempDir;

async fn open() -> (Store, TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap_or_else(|| Store::sqlite_url(dir.path()));
    let store = Store::open(&url, &PoolSettings::default())
        .await
        .expect("store opens");
    (store, dir, url)
}

fn settings(name: &str) -> WebhookSettings {
    WebhookSettings {
        triggers: vec![Trigger {
            entity_type: "item".into(),
            event_types: vec!["*".into()],
            entity_ids: vec![],
            model_ids: vec![],
        }],
        ..WebhookSettings::new(name, "https://example.com/hook")
    }
}

fn tester() -> Actor {
    Actor {
        token_id: None,
        name: "store test".into(),
    }
}

fn event(id: &str) -> NewEvent {
    serde_json::from_value(
        json!({"entity_type": "item", "event_type": "update", "entity": {"id": id}}),
    )
    .unwrap()
}

/// A site with `hooks` webhooks and `events` published events: `hooks * events` calls.
async fn seeded(store: &Store, hooks: usize, events: usize) -> (String, Vec<String>) {
    let site = store.create_site("s").await.unwrap().id;
    for i in 0..hooks {
        store
            .create_webhook(
                &site,
                &settings(&format!("h{i}")),
                &generate_secret(),
                &tester(),
            )
            .await
            .unwrap();
    }
    let mut calls = Vec::new();
    for i in 0..events {
        calls.extend(publish(store, &site, &i.to_string()).await);
    }
    (site, calls)
}

/// Publishes `event(id)` to `site` without an idempotency key: the ids of its calls.
async fn publish(store: &Store, site: &str, id: &str) -> Vec<String> {
    match store.publish_event(site, &event(id), None).await.unwrap() {
        PublishOutcome::Created(p) => p.webhook_call_ids,
        PublishOutcome::Replayed(_) => unreachable!("no idempotency key was given"),
    }
}

fn done(call_id: &str, claim_token: &str, status: CallStatus) -> AttemptResult {
    AttemptResult {
        call_id: call_id.into(),
        claim_token: claim_token.into(),
        attempt: None,
        error: None,
        status_code: None,
        finished_at: now_millis(),
        next: NextStep::Done(status),
        watch: None,
    }
}

/// An attempt the receiver answered with 200.
fn answered_200(started_at: i64) -> NewAttempt {
    NewAttempt {
        manual: false,
        started_at,
        duration_ms: 3,
        request_url: "https://example.com/hook".into(),
        request_headers: serde_json::value::to_raw_value(&json!({})).unwrap(),
        request_body: None,
        response_status: Some(200),
        response_headers: Some(serde_json::value::to_raw_value(&json!({})).unwrap()),
        response_body: Some("ok".into()),
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_call() {
    let (store, _dir, _) = open().await;
    let (_, calls) = seeded(&store, 5, 60).await;
    let now = now_millis();
    let mut claimers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(now, now + 60_000, 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.call_id));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "a call was claimed twice");
    assert_eq!(unique, calls.into_iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn a_claim_hides_the_call_until_its_lease_expires() {
    let (store, _dir, _) = open().await;
    let (_, calls) = seeded(&store, 1, 1).await;
    let now = now_millis();
    let first = store.claim_due(now, now + 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].call_id, calls[0]);
    assert!(first[0].webhook.is_some());
    assert!(String::from_utf8_lossy(&first[0].body).contains("\"entity_type\":\"item\""));
    assert!(store
        .claim_due(now + 999, now + 5_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_due(now + 1_000, now + 5_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "an expired lease makes the call due again");
    assert_ne!(again[0].claim_token, first[0].claim_token);
}

#[tokio::test]
async fn only_the_current_claim_moves_a_call_but_every_attempt_counts() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 1, 1).await;
    let now = now_millis();
    let stale = store.claim_due(now, now + 10, 1).await.unwrap().remove(0);
    let current = store
        .claim_due(now + 10, now + 60_000, 1)
        .await
        .unwrap()
        .remove(0);
    let mut stale_result = done(&stale.call_id, &stale.claim_token, CallStatus::Success);
    stale_result.attempt = Some(answered_200(now));
    store.record_results([stale_result]).await.unwrap();
    let call = store.call_detail(&site, &calls[0]).await.unwrap();
    assert_eq!(
        call.summary.status,
        CallStatus::Pending,
        "the stale result did not move the call"
    );
    assert_eq!(call.summary.attempt_count, 1);
    assert_eq!(call.attempts.len(), 1);

    store
        .record_results([done(
            &current.call_id,
            &current.claim_token,
            CallStatus::Failed,
        )])
        .await
        .unwrap();
    let call = store.call_detail(&site, &calls[0]).await.unwrap();
    assert_eq!(call.summary.status, CallStatus::Failed);
    assert!(store
        .claim_due(now + 120_000, now + 180_000, 1)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_result_for_a_call_deleted_meanwhile_does_not_stop_the_others_being_recorded() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 2, 1).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let gone = store.call_detail(&site, &calls[0]).await.unwrap();
    store
        .delete_webhook(&site, &gone.summary.webhook_id, &tester())
        .await
        .unwrap();
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| AttemptResult {
            attempt: Some(answered_200(now)),
            ..done(&c.call_id, &c.claim_token, CallStatus::Success)
        })
        .collect();
    store.record_results(results).await.unwrap();
    assert!(matches!(
        store.call_detail(&site, &calls[0]).await,
        Err(StoreError::NotFound)
    ));
    let kept = store.call_detail(&site, &calls[1]).await.unwrap();
    assert_eq!(kept.summary.status, CallStatus::Success);
    assert_eq!(kept.attempts.len(), 1);
}

#[tokio::test]
async fn a_publish_racing_a_webhooks_deletion_creates_no_call_to_it() {
    let (store, _dir, url) = open().await;
    let (site, _) = seeded(&store, 2, 1).await;
    let hooks = store.list_webhooks(&site, None, 50).await.unwrap().data;
    // Another process (or a request this store's cache has not seen yet) deletes one.
    let other = Store::open(&url, &PoolSettings::default()).await.unwrap();
    other
        .delete_webhook(&site, &hooks[0].id, &tester())
        .await
        .unwrap();
    // This store still matches the event against both webhooks: the write must not
    // create a call to the deleted one (refused, or made without it once the cache
    // has expired on PostgreSQL).
    let published = store.publish_event(&site, &event("2"), None).await;
    let calls = store
        .list_calls(
            &site,
            &CallFilter {
                limit: 100,
                ..CallFilter::default()
            },
        )
        .await
        .unwrap()
        .data;
    assert!(
        calls.iter().all(|c| c.webhook_id != hooks[0].id),
        "{calls:?}"
    );
    match published {
        Err(StoreError::Conflict(message)) => assert!(message.contains("deleted"), "{message}"),
        Ok(PublishOutcome::Created(p)) => assert_eq!(p.webhook_call_ids.len(), 1),
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn released_claims_are_due_at_once() {
    let (store, _dir, _) = open().await;
    seeded(&store, 1, 2).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 600_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let held: Vec<_> = claimed
        .iter()
        .map(|c| (c.call_id.clone(), c.claim_token.clone()))
        .collect();
    store.release_claims(&held, now).await.unwrap();
    assert_eq!(
        store.claim_due(now, now + 600_000, 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn resend_gives_a_finished_call_one_shot_and_brings_a_pending_one_forward() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 1, 2).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    let finished = claimed.iter().find(|c| c.call_id == calls[0]).unwrap();
    let retrying = claimed.iter().find(|c| c.call_id == calls[1]).unwrap();
    let mut later = done(
        &retrying.call_id,
        &retrying.claim_token,
        CallStatus::Pending,
    );
    later.next = NextStep::RetryAt(now + 3_600_000);
    store
        .record_results([
            done(&finished.call_id, &finished.claim_token, CallStatus::Failed),
            later,
        ])
        .await
        .unwrap();
    assert!(store
        .claim_due(now + 1, now + 60_000, 10)
        .await
        .unwrap()
        .is_empty());

    for call in &calls {
        let summary = store.resend_call(&site, call, now + 2).await.unwrap();
        assert_eq!(summary.status, CallStatus::Pending);
    }
    let resent = store.claim_due(now + 2, now + 60_000, 10).await.unwrap();
    assert_eq!(resent.len(), 2);
    for claimed in resent {
        assert!(claimed.manual);
        assert_eq!(
            claimed.one_shot,
            claimed.call_id == calls[0],
            "only the finished call is one-shot"
        );
    }
    assert!(matches!(
        store.resend_call(&site, "call_missing", now).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_with_one_idempotency_key_create_one_event() {
    let (store, _dir, _) = open().await;
    let site = store.create_site("s").await.unwrap().id;
    store
        .create_webhook(&site, &settings("h"), &generate_secret(), &tester())
        .await
        .unwrap();
    let mut publishers = Vec::new();
    for _ in 0..8 {
        let (store, site) = (store.clone(), site.clone());
        publishers.push(tokio::spawn(async move {
            let key = IdempotencyKey {
                key: "k-1",
                request_hash: "same",
            };
            store
                .publish_event(&site, &event("1"), Some(key))
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    let mut answers = Vec::new();
    for publisher in publishers {
        match publisher.await.unwrap() {
            PublishOutcome::Created(p) => {
                created += 1;
                answers.push(p);
            }
            PublishOutcome::Replayed(p) => answers.push(p),
        }
    }
    assert_eq!(created, 1);
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every caller got the same answer"
    );
    let now = now_millis();
    assert_eq!(
        store.claim_due(now, now + 1000, 100).await.unwrap().len(),
        1
    );

    let other = IdempotencyKey {
        key: "k-1",
        request_hash: "different",
    };
    assert!(matches!(
        store.publish_event(&site, &event("2"), Some(other)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.prune_idempotency_keys(now).await.unwrap(), 0);
    assert_eq!(
        store
            .prune_idempotency_keys(now + 25 * 3_600_000)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let (store, _dir, url) = open().await;
    store.close().await;
    crate::support::add_future_migration(&url).await;
    let error = Store::open(&url, &PoolSettings::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::SchemaTooNew { found: 999, .. }));
    assert!(error.to_string().contains("newer than this binary"));
}

#[tokio::test]
async fn opening_twice_is_idempotent_and_deleting_a_site_removes_its_calls() {
    let (store, _dir, url) = open().await;
    let (site, calls) = seeded(&store, 2, 2).await;
    let reopened = Store::open(&url, &PoolSettings::default()).await.unwrap();
    assert_eq!(
        reopened
            .call_detail(&site, &calls[0])
            .await
            .unwrap()
            .summary
            .id,
        calls[0]
    );
    reopened.delete_site(&site).await.unwrap();
    assert!(matches!(
        store.call_detail(&site, &calls[0]).await,
        Err(StoreError::NotFound)
    ));
    let now = now_millis();
    assert!(store
        .claim_due(now, now + 1000, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_next_event_sees_every_webhook_change() {
    let (store, _dir, _) = open().await;
    let site = store.create_site("s").await.unwrap().id;
    let first = store
        .create_webhook(&site, &settings("a"), &generate_secret(), &tester())
        .await
        .unwrap();
    assert_eq!(publish(&store, &site, "1").await.len(), 1);
    let second = store
        .create_webhook(&site, &settings("b"), &generate_secret(), &tester())
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "2").await.len(),
        2,
        "a new webhook counts at once"
    );
    let mut disabled = first.settings.clone();
    disabled.enabled = false;
    store
        .update_webhook(&site, &first.id, &disabled)
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "3").await.len(),
        1,
        "a disabled one stops at once"
    );
    store
        .delete_webhook(&site, &second.id, &tester())
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "4").await.len(),
        0,
        "a deleted one too"
    );
}

/// On SQLite the hot path and the administrative writes use two connections to one file;
/// neither may fail while the other is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn administrative_writes_succeed_beside_a_busy_hot_path() {
    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 3, 0).await;
    let publisher = {
        let (store, site) = (store.clone(), site.clone());
        tokio::spawn(async move {
            let mut published = 0;
            for round in 0..40 {
                let batch = (0..10).map(|i| {
                    let (store, site) = (store.clone(), site.clone());
                    async move {
                        let e = event(&format!("{round}-{i}"));
                        store.publish_event(&site, &e, None).await
                    }
                });
                for outcome in futures_util::future::join_all(batch).await {
                    outcome.expect("publishing succeeds");
                    published += 1;
                }
            }
            published
        })
    };
    let worker = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut recorded = 0;
            while recorded < 1200 {
                let now = now_millis();
                let claimed = store.claim_due(now, now + 60_000, 50).await.unwrap();
                let results: Vec<_> = claimed
                    .iter()
                    .map(|c| done(&c.call_id, &c.claim_token, CallStatus::Success))
                    .collect();
                recorded += results.len();
                store.record_results(results).await.unwrap();
                tokio::task::yield_now().await;
            }
            recorded
        })
    };
    for i in 0..20 {
        let other = store.create_site(&format!("other {i}")).await.unwrap();
        store
            .create_webhook(&other.id, &settings("x"), &generate_secret(), &tester())
            .await
            .expect("a webhook is created while the hot path writes");
        assert!(store
            .set_site_lock(&other.id, true, &tester())
            .await
            .unwrap());
    }
    assert_eq!(publisher.await.unwrap(), 400);
    assert_eq!(worker.await.unwrap(), 1200);
    assert!(store
        .claim_due(now_millis(), now_millis() + 1, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Fresh calls of `store` are handed over through this (a stand-in for the dispatcher's
/// side), with room for `room` calls.
fn deliver_locally(
    store: &Store,
    room: usize,
) -> (
    hookrelay::store::Handoff,
    tokio::sync::mpsc::UnboundedReceiver<hookrelay::store::HandedCall>,
) {
    use std::sync::Arc;
    let (calls, handed) = tokio::sync::mpsc::unbounded_channel();
    let handoff = hookrelay::store::Handoff {
        room: Arc::new(tokio::sync::Semaphore::new(room)),
        lease: std::time::Duration::from_secs(60),
        calls,
        wake: Arc::new(tokio::sync::Notify::new()),
        backlog: Arc::default(),
    };
    store.deliver_locally(handoff.clone());
    (handoff, handed)
}

/// A process that delivers gets its fresh calls in memory, already leased to it, while its
/// dispatcher has room for them; without room, or behind a backlog, calls wait in the queue.
#[tokio::test]
async fn fresh_calls_are_handed_to_the_local_dispatcher_while_it_has_room() {
    use std::sync::atomic::Ordering;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (handoff, mut handed) = deliver_locally(&store, 3);
    let room = handoff.room.clone();
    let first = publish(&store, &site, "1").await;
    let mut got = vec![handed.try_recv().unwrap(), handed.try_recv().unwrap()];
    got.sort_by(|a, b| a.call.call_id.cmp(&b.call.call_id));
    let mut ids = first.clone();
    ids.sort();
    assert_eq!(
        got.iter()
            .map(|h| h.call.call_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    let body = String::from_utf8_lossy(&got[0].call.body);
    assert!(body.contains("\"id\":\"1\""), "{body}");
    assert!(got[0].call.webhook.is_some());
    assert_eq!(
        room.available_permits(),
        1,
        "room for one call taken per handed call"
    );
    let now = now_millis();
    assert!(
        store.claim_due(now, now + 1, 10).await.unwrap().is_empty(),
        "handed calls are leased, not due"
    );

    // Two calls, room for one: both go to the queue, and the dispatcher is rung.
    let wake = handoff.wake.notified();
    let queued = publish(&store, &site, "2").await;
    wake.await;
    assert!(handed.try_recv().is_err());
    assert!(handoff.backlog.load(Ordering::SeqCst));
    // Room frees up, but the backlog is served first.
    drop(got);
    assert!(!publish(&store, &site, "3").await.is_empty());
    assert!(handed.try_recv().is_err(), "nothing overtakes the queue");
    let claimed = store
        .claim_due(now_millis(), now + 60_000, 10)
        .await
        .unwrap();
    let mut claimed_ids: Vec<_> = claimed.iter().map(|c| c.call_id.clone()).collect();
    claimed_ids.sort();
    let mut expected: Vec<_> = queued.clone();
    expected.sort();
    assert_eq!(claimed_ids.len(), 4);
    assert!(expected.iter().all(|id| claimed_ids.contains(id)));
}

/// A publisher that finds the dispatcher full waits a moment for room before queueing:
/// room that frees up meanwhile takes its calls in memory, so ingestion slows to the pace
/// of delivery instead of building a backlog.
#[tokio::test]
async fn a_publisher_waits_briefly_for_room_before_queueing() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (handoff, mut handed) = deliver_locally(&store, 2);
    let room = handoff.room.clone();
    // The dispatcher is full; its calls finish a few milliseconds into the publish.
    let full = room.clone().try_acquire_many_owned(2).unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(full);
    });
    let published = publish(&store, &site, "w").await;
    let mut got = vec![
        handed.try_recv().expect("handed over").call.call_id,
        handed.try_recv().expect("handed over").call.call_id,
    ];
    got.sort();
    let mut ids = published.clone();
    ids.sort();
    assert_eq!(got, ids);
    assert!(
        !handoff.backlog.load(Ordering::SeqCst),
        "nothing was queued"
    );
}

/// A dispatcher that stopped while an event was being published does not strand its
/// calls behind a lease: they are made due at once for whoever runs next.
#[tokio::test]
async fn calls_a_stopped_dispatcher_cannot_take_are_due_at_once() {
    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (_handoff, handed) = deliver_locally(&store, 8);
    drop(handed);
    let published = publish(&store, &site, "x").await;
    let now = now_millis();
    let mut due: Vec<_> = store
        .claim_due(now, now + 60_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    due.sort();
    let mut expected = published.clone();
    expected.sort();
    assert_eq!(due, expected);
}

/// Holds every delivery until the test lets it finish, and says which call started.
struct GatedTarget {
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    started: tokio::sync::mpsc::UnboundedSender<String>,
}

impl hookrelay::targets::Target for GatedTarget {
    async fn deliver(
        &self,
        call: &hookrelay::store::ClaimedCall,
        _: &std::sync::Arc<hookrelay::store::WebhookRecord>,
    ) -> hookrelay::targets::Outcome {
        let _ = self.started.send(call.call_id.clone());
        self.gate
            .acquire()
            .await
            .expect("the gate stays open")
            .forget();
        hookrelay::targets::Outcome::plain(
            hookrelay::store::NewAttempt {
                manual: false,
                started_at: now_millis(),
                duration_ms: 0,
                request_url: "http://gated.test/".into(),
                request_headers: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
                request_body: None,
                response_status: Some(200),
                response_headers: None,
                response_body: None,
                error: None,
            },
            true,
        )
    }
}

/// A dispatcher with one delivery slot whose deliveries report their call id on `started`
/// and then wait for a permit of the gate (closed at first).
fn gated_dispatcher(
    store: &Store,
    claim_batch: u32,
    poll_interval: std::time::Duration,
) -> (
    hookrelay::dispatch::Dispatcher<GatedTarget>,
    std::sync::Arc<tokio::sync::Semaphore>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let dispatcher = hookrelay::dispatch::Dispatcher::new(
        store.clone(),
        GatedTarget {
            gate: gate.clone(),
            started: started_tx,
        },
        hookrelay::dispatch::DispatchSettings {
            retry: Default::default(),
            lease: std::time::Duration::from_secs(60),
            claim_batch,
            max_in_flight: 1,
            endpoint_cap: 1,
            poll_interval,
            shutdown_grace: std::time::Duration::from_secs(5),
        },
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    (dispatcher, gate, started)
}

/// Fresh calls wait in the dispatcher's memory for a slot (room for as many again as it
/// has slots) instead of taking the queue; but while calls due in the queue find no room,
/// publishers are sent to the queue behind them, so fresh calls cannot starve them.
#[tokio::test]
async fn fresh_calls_wait_in_memory_for_a_slot_without_starving_due_ones() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use tokio::sync::watch;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 1, 0).await;
    // The id of its only call.
    let publish_one = |id: &'static str| {
        let (store, site) = (store.clone(), site.clone());
        async move { publish(&store, &site, id).await.remove(0) }
    };
    // Due in the queue before this process delivers.
    let queued = publish_one("queued").await;
    let (dispatcher, gate, mut started) = gated_dispatcher(&store, 1, Duration::from_millis(50));
    let handoff = dispatcher.handoff();
    store.deliver_locally(handoff.clone());

    // One slot, room for two: both fresh calls are handed over, leased, not queued.
    let first = publish_one("first").await;
    let second = publish_one("second").await;
    for id in [&first, &second] {
        let call = store.call_detail(&site, id).await.unwrap().summary;
        assert!(
            call.next_attempt_at.unwrap() > now_millis() + 30_000,
            "{id} is leased to this process"
        );
    }
    assert!(!handoff.backlog.load(Ordering::SeqCst));

    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher.run(stopped));
    assert_eq!(started.recv().await.unwrap(), first);
    // No room to claim the queued call: the dispatcher holds publishers back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !handoff.backlog.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishers were never held back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = publish_one("third").await;
    let call = store.call_detail(&site, &third).await.unwrap().summary;
    assert!(
        call.next_attempt_at.unwrap() <= now_millis(),
        "third waits in the queue"
    );

    gate.add_permits(4);
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(started.recv().await.unwrap());
    }
    assert_eq!(
        order,
        [second, queued, third],
        "nothing overtakes the queue"
    );
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// While results cannot be recorded (the database is locked), the dispatcher stops starting
/// deliveries instead of piling unrecorded results up in memory; once the lock is gone,
/// everything is delivered and recorded.
#[tokio::test]
async fn deliveries_wait_for_their_results_to_be_recorded() {
    use sqlx::Connection;
    use std::time::Duration;
    use tokio::sync::watch;

    let (store, _dir, url) = open().await;
    // Queued before the dispatcher runs, so one claim takes them all.
    let (site, calls) = seeded(&store, 10, 60).await;
    let (dispatcher, gate, mut started) = gated_dispatcher(&store, 1024, Duration::from_millis(10));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher.run(stopped));
    started.recv().await.expect("a first delivery starts");

    // Hold the database so that no result can be written.
    sqlx::any::install_default_drivers();
    let mut locker = sqlx::AnyConnection::connect(&url).await.unwrap();
    let lock = if crate::support::backend::is_postgres() {
        "BEGIN; LOCK TABLE webhook_attempts IN ACCESS EXCLUSIVE MODE"
    } else {
        "BEGIN IMMEDIATE"
    };
    sqlx::raw_sql(lock).execute(&mut locker).await.unwrap();
    gate.add_permits(calls.len());
    let mut delivered = 1;
    let stalled = tokio::time::timeout(Duration::from_secs(2), async {
        while delivered < 50 {
            started.recv().await.expect("the dispatcher runs");
            delivered += 1;
        }
    })
    .await;
    assert!(
        stalled.is_err(),
        "{delivered} deliveries ran ahead of their unrecorded results"
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    while delivered < calls.len() {
        started.recv().await.expect("the dispatcher runs");
        delivered += 1;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    for id in &calls {
        let call = store.call_detail(&site, id).await.unwrap().summary;
        assert_eq!(call.status, CallStatus::Success, "{id} was recorded");
    }
}
