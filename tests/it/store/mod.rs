//! Store conformance: the queue's rules, checked on the engine this run uses (scripts/test.sh
//! runs it on SQLite and on PostgreSQL).

mod claims;
mod handoff;
mod lifecycle;

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

pub(super) async fn open() -> (Store, TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap_or_else(|| Store::sqlite_url(dir.path()));
    let store = Store::open(&url, &PoolSettings::default())
        .await
        .expect("store opens");
    (store, dir, url)
}

pub(super) fn settings(name: &str) -> WebhookSettings {
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

pub(super) fn tester() -> Actor {
    Actor {
        token_id: None,
        name: "store test".into(),
    }
}

pub(super) fn event(id: &str) -> NewEvent {
    serde_json::from_value(
        json!({"entity_type": "item", "event_type": "update", "entity": {"id": id}}),
    )
    .unwrap()
}

/// A site with `hooks` webhooks and `events` published events: `hooks * events` calls.
pub(super) async fn seeded(store: &Store, hooks: usize, events: usize) -> (String, Vec<String>) {
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
pub(super) async fn publish(store: &Store, site: &str, id: &str) -> Vec<String> {
    match store.publish_event(site, &event(id), None).await.unwrap() {
        PublishOutcome::Created(p) => p.webhook_call_ids,
        PublishOutcome::Replayed(_) => unreachable!("no idempotency key was given"),
    }
}

pub(super) fn done(call_id: &str, claim_token: &str, status: CallStatus) -> AttemptResult {
    AttemptResult {
        call_id: call_id.into(),
        claim_token: claim_token.into(),
        attempt: None,
        error: None,
        status_code: None,
        finished_at: now_millis(),
        next: NextStep::Done(status),
        watch: None,
        order: None,
    }
}

/// An attempt the receiver answered with 200.
pub(super) fn answered_200(started_at: i64) -> NewAttempt {
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

/// Fresh calls of `store` are handed over through this (a stand-in for the dispatcher's
/// side), with room for `room` calls.
pub(super) fn deliver_locally(
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

/// Holds every delivery until the test lets it finish, and says which call started.
pub(super) struct GatedTarget {
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
pub(super) fn gated_dispatcher(
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
