use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use super::ordering::{self, Joining, OrderKey};
use super::sql::{Rows, Sql};
use super::tx::{Tx, WriteJob, Writer};
use super::webhooks::WebhookRecord;
use super::{json_text, parse_json, Result, Store, StoreError};
use super::{ClaimedCall, HandedCall, Handoff};
use crate::domain::call::CallStatus;
use crate::domain::event::NewEvent;
use crate::domain::ids;
use crate::domain::ordering::OrderingMode;
use crate::domain::time::now_millis;
use crate::domain::trigger;

/// An `Idempotency-Key` answers with its first response for this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Rows per multi-row INSERT (PostgreSQL); keeps well under its bind-parameter limit.
const CALLS_PER_INSERT: usize = 256;
const EVENTS_PER_INSERT: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Published {
    pub id: String,
    pub webhook_call_ids: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    Created(Published),
    /// The same `Idempotency-Key` was seen within the window: nothing new was created.
    Replayed(Published),
}

/// How long a publisher waits for room in this process's dispatcher before sending its
/// calls through the queue (see `reserve_local_delivery`): about twice the time the room
/// (twice the deliveries in flight) takes to turn over at full speed on 2 cores. With
/// 20 ms, publishers on the API's own thread outran delivery into the queue.
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Events written per transaction at most.
const EVENTS_PER_COMMIT: usize = 256;

/// An event ready to be written: everything was read and rendered by the request's own
/// task; the writer only inserts.
pub(super) struct PendingEvent {
    site_id: String,
    event_id: String,
    entity_type: String,
    event_type: String,
    environment: String,
    body: String,
    calls: Vec<PendingCall>,
    /// Key, request hash, and the answer to replay.
    idempotency: Option<(String, String, String)>,
    /// Claim token and lease end when the calls are written already claimed, for this
    /// process's dispatcher (see `handoff.rs`).
    lease: Option<(String, i64)>,
    now: i64,
}

struct PendingCall {
    id: String,
    webhook_id: String,
    body: Option<String>,
    content_type: Option<String>,
    /// Why it cannot be sent at all (its payload passed a render limit): stored as failed
    /// with this as its error, so the event's other calls still go out.
    unsendable: Option<String>,
    /// Its key and whether it is `latest`, when its webhook orders its calls.
    ordering: Option<(OrderKey, bool)>,
}

/// The dispatcher's room reserved for one event's calls, which are written leased to this
/// process.
struct LocalDelivery {
    handoff: Handoff,
    room: OwnedSemaphorePermit,
    claim_token: String,
    lease_until: i64,
}

impl LocalDelivery {
    /// Gives the committed calls to the dispatcher, one share of the room each; returns the
    /// claims of those it could not take (it stopped meanwhile).
    fn hand_over(mut self, calls: Vec<ClaimedCall>) -> Vec<(String, String)> {
        let mut refused = Vec::new();
        for call in calls {
            // Room was reserved per call, so the split cannot come up short.
            let Some(hold) = self.room.split(1) else {
                refused.push((call.call_id, call.claim_token));
                continue;
            };
            if let Err(mpsc::error::SendError(back)) =
                self.handoff.calls.send(HandedCall { call, hold })
            {
                refused.push((back.call.call_id, back.call.claim_token));
            }
        }
        refused
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Written {
    /// Written. Of its ordered calls: their sequences, and those that wait behind earlier
    /// ones of their key (or were superseded at once), which must not be handed to the
    /// dispatcher.
    Yes {
        sequences: HashMap<String, i64>,
        held_back: HashSet<String>,
    },
    /// The event's idempotency key was already taken; nothing was written.
    KeyTaken,
}

impl Written {
    fn yes() -> Written {
        Written::Yes {
            sequences: HashMap::new(),
            held_back: HashSet::new(),
        }
    }
}

pub(super) type EventWrite = (PendingEvent, oneshot::Sender<Result<Written>>);

/// Group commit: writes whatever events piled up while the previous transaction committed,
/// in one transaction. Few statements per commit is what makes SQLite fast (its cost is
/// per statement), and PostgreSQL likes fewer commits too. If a batch fails, each event is
/// retried alone, so one bad event cannot fail the others.
pub(super) async fn write_events(writer: Writer, mut queue: mpsc::Receiver<EventWrite>) {
    let mut batch = Vec::with_capacity(EVENTS_PER_COMMIT);
    while queue.recv_many(&mut batch, EVENTS_PER_COMMIT).await > 0 {
        metrics::histogram!(crate::metric_names::WRITER_BATCH).record(batch.len() as f64);
        let (events, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let events = Arc::new(events);
        let all = WriteEvents {
            events: events.clone(),
            only: None,
        };
        match writer.run(Arc::new(all)).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(_) if replies.len() > 1 => {
                for (i, reply) in replies.into_iter().enumerate() {
                    let alone = WriteEvents {
                        events: events.clone(),
                        only: Some(i),
                    };
                    let written = writer.run(Arc::new(alone)).await.and_then(|o| {
                        o.into_iter().next().ok_or_else(|| {
                            StoreError::Conflict("the event's write had no outcome; retry".into())
                        })
                    });
                    let _ = reply.send(written);
                }
            }
            // One event: its own error.
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// Writes `events` (or only the one at index `only`) in one transaction.
struct WriteEvents {
    events: Arc<Vec<PendingEvent>>,
    only: Option<usize>,
}

impl WriteJob for WriteEvents {
    type Output = Vec<Written>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Vec<Written>> {
        let events = match self.only {
            Some(i) => &self.events[i..=i],
            None => &self.events[..],
        };
        let dialect = tx.dialect();
        let mut outcomes = vec![Written::yes(); events.len()];
        for (event, outcome) in events.iter().zip(outcomes.iter_mut()) {
            let Some((key, hash, response)) = &event.idempotency else {
                continue;
            };
            let mut forget = Sql::new(dialect, "DELETE FROM idempotency_keys WHERE site_id = ");
            forget.bind(event.site_id.as_str()).push(" AND key = ");
            forget.bind(key.as_str()).push(" AND created_at <= ");
            forget.bind(event.now - IDEMPOTENCY_WINDOW_MS);
            tx.execute(forget).await?;
            let mut claim = Sql::new(
                dialect,
                "INSERT INTO idempotency_keys (site_id, key, request_hash, response, created_at) VALUES (",
            );
            claim.bind(event.site_id.as_str()).push(", ");
            claim.bind(key.as_str()).push(", ");
            claim.bind(hash.as_str()).push(", ");
            claim.bind(response.as_str()).push(", ");
            claim.bind(event.now);
            claim.push(") ON CONFLICT (site_id, key) DO NOTHING");
            if tx.execute(claim).await? == 0 {
                *outcome = Written::KeyTaken;
            }
        }
        let written: Vec<&PendingEvent> = events
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o != Written::KeyTaken)
            .map(|(e, _)| e)
            .collect();
        let joining: Vec<Joining<'_>> = written
            .iter()
            .flat_map(|e| &e.calls)
            .filter(|c| c.unsendable.is_none())
            .filter_map(|c| {
                let (key, latest) = c.ordering.as_ref()?;
                Some(Joining {
                    call_id: &c.id,
                    key,
                    latest: *latest,
                })
            })
            .collect();
        let placement =
            ordering::place_calls(tx, &joining, written.first().map_or(0, |e| e.now)).await?;
        let mut event_rows = Rows::new(
            "INSERT INTO events (id, site_id, entity_type, event_type, environment, body, created_at) VALUES ",
            EVENTS_PER_INSERT,
        );
        let mut call_rows = Rows::new(
            "INSERT INTO webhook_calls (id, site_id, event_id, webhook_id, body, content_type, \
             entity_type, event_type, status, claim_token, next_attempt_at, last_error, \
             ordering_key, sequence, superseded_by, created_at, updated_at) VALUES ",
            CALLS_PER_INSERT,
        );
        let mut all_leased = true;
        for e in &written {
            event_rows.push([
                e.event_id.as_str().into(),
                e.site_id.as_str().into(),
                e.entity_type.as_str().into(),
                e.event_type.as_str().into(),
                e.environment.as_str().into(),
                e.body.as_str().into(),
                e.now.into(),
            ]);
            let (claim_token, due) = match &e.lease {
                Some((token, until)) => (Some(token.as_str()), *until),
                None => (None, e.now),
            };
            all_leased &= e.lease.is_some() || e.calls.iter().all(|c| c.unsendable.is_some());
            for c in &e.calls {
                let superseded_by = placement.superseded_by.get(&c.id);
                let (status, claim_token, due) = match &c.unsendable {
                    Some(_) => (CallStatus::Failed, None, None),
                    None if superseded_by.is_some() => (CallStatus::Superseded, None, None),
                    None if !placement.goes_now(&c.id) => (CallStatus::Pending, None, None),
                    None => (CallStatus::Pending, claim_token, Some(due)),
                };
                call_rows.push([
                    c.id.as_str().into(),
                    e.site_id.as_str().into(),
                    e.event_id.as_str().into(),
                    c.webhook_id.as_str().into(),
                    c.body.as_deref().into(),
                    c.content_type.as_deref().into(),
                    e.entity_type.as_str().into(),
                    e.event_type.as_str().into(),
                    status.as_str().into(),
                    claim_token.into(),
                    due.into(),
                    c.unsendable.as_deref().into(),
                    c.ordering.as_ref().map(|(k, _)| k.key.as_str()).into(),
                    placement.sequence.get(&c.id).copied().into(),
                    superseded_by.map(String::as_str).into(),
                    e.now.into(),
                    e.now.into(),
                ]);
            }
        }
        tx.execute_rows(event_rows).await?;
        tx.execute_rows(call_rows).await?;
        if !joining.is_empty() {
            for (event, outcome) in events.iter().zip(outcomes.iter_mut()) {
                let Written::Yes {
                    sequences,
                    held_back,
                } = outcome
                else {
                    continue;
                };
                for c in event.calls.iter().filter(|c| c.ordering.is_some()) {
                    if let Some(sequence) = placement.sequence.get(&c.id) {
                        sequences.insert(c.id.clone(), *sequence);
                    }
                    if !placement.goes_now(&c.id) {
                        held_back.insert(c.id.clone());
                    }
                }
            }
        }
        // Calls leased to this process need no other worker.
        if !all_leased {
            tx.announce_due_work().await?;
        }
        Ok(outcomes)
    }
}

/// An idempotency key and a hash of the request it came with.
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

impl Store {
    /// Stores the event and one pending call per matching enabled webhook in one
    /// transaction: once this returns, every call will be delivered (transactional outbox).
    pub async fn publish_event(
        &self,
        site_id: &str,
        event: &NewEvent,
        idempotency: Option<IdempotencyKey<'_>>,
    ) -> Result<PublishOutcome> {
        let now = now_millis();
        if let Some(key) = &idempotency {
            if let Some(earlier) = self.earlier_response(site_id, key, now).await? {
                return Ok(PublishOutcome::Replayed(earlier));
            }
        }
        let key = event.key();
        // Each matching webhook's call, with its own body when the webhook has a template
        // (rendered now, so every retry sends and signs the same bytes).
        let hooks = self.site_webhooks(site_id).await?;
        if hooks.is_empty() {
            // Only now does it matter whether the site exists at all (one read saved on
            // the hot path).
            self.site(site_id).await?;
        }
        let matching: Vec<&Arc<WebhookRecord>> = hooks
            .iter()
            .filter(|hook| {
                hook.settings.enabled && trigger::any_matches(&hook.settings.triggers, &key)
            })
            .collect();
        let published = Published {
            id: ids::new_id(ids::EVENT),
            webhook_call_ids: matching.iter().map(|_| ids::new_id(ids::CALL)).collect(),
        };
        // Custom bodies are rendered within one budget per event, so a template cannot
        // turn one event into gigabytes of stored calls.
        let mut rendered = 0usize;
        let calls: Vec<PendingCall> = matching
            .iter()
            .zip(&published.webhook_call_ids)
            .map(|(hook, id)| {
                let (body, unsendable) = match hook.settings.render_body(event) {
                    Ok(Some(body)) if rendered + body.len() > self.rendered_bytes_per_event => {
                        let why = format!(
                            "not sent: its payload renders to {} bytes, past what one event may \
                             render across its webhooks ({} bytes, --max-rendered-bytes-per-event)",
                            body.len(),
                            self.rendered_bytes_per_event
                        );
                        (None, Some(why))
                    }
                    Ok(body) => {
                        rendered += body.as_ref().map_or(0, String::len);
                        (body, None)
                    }
                    Err(limit) => (
                        None,
                        Some(format!("not sent: its payload template {limit}")),
                    ),
                };
                let ordering = hook.settings.effective_ordering();
                PendingCall {
                    ordering: ordering.is_ordered().then(|| {
                        let key = OrderKey {
                            webhook_id: hook.id.clone(),
                            key: ordering.key_of(event),
                        };
                        (key, ordering.mode == OrderingMode::Latest)
                    }),
                    id: id.clone(),
                    webhook_id: hook.id.clone(),
                    content_type: body.as_ref().map(|_| hook.settings.content_type.clone()),
                    body,
                    unsendable,
                }
            })
            .collect();
        let sendable = calls.iter().filter(|c| c.unsendable.is_none()).count();
        let local = self.reserve_local_delivery(sendable, now).await;
        let pending = PendingEvent {
            site_id: site_id.to_owned(),
            event_id: published.id.clone(),
            entity_type: event.entity_type.clone(),
            event_type: event.event_type.clone(),
            environment: event.environment().to_owned(),
            body: event.default_body(),
            idempotency: idempotency.as_ref().map(|k| {
                (
                    k.key.to_owned(),
                    k.request_hash.to_owned(),
                    json_text(&published),
                )
            }),
            lease: local
                .as_ref()
                .map(|l| (l.claim_token.clone(), l.lease_until)),
            now,
            calls,
        };
        // What the dispatcher needs, prepared before the event moves to the writer.
        let handed: Vec<ClaimedCall> = match &local {
            Some(local) => {
                let event_body = Bytes::copy_from_slice(pending.body.as_bytes());
                let environment: Arc<str> = pending.environment.as_str().into();
                pending
                    .calls
                    .iter()
                    .zip(&matching)
                    .filter(|(call, _)| call.unsendable.is_none())
                    .map(|(call, hook)| ClaimedCall {
                        claim_token: local.claim_token.clone(),
                        content_type: call.content_type.clone(),
                        // Its sequence is known once written.
                        order: call.ordering.as_ref().map(|(k, _)| (k.key.clone(), 0)),
                        ..ClaimedCall::fresh(
                            call.id.clone(),
                            Arc::clone(hook),
                            environment.clone(),
                            call.body.as_deref().map_or_else(
                                || event_body.clone(),
                                |own| Bytes::copy_from_slice(own.as_bytes()),
                            ),
                        )
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let queued = sendable > 0 && local.is_none();
        let written = self.write_event(pending).await.map_err(|e| {
            if e.is_foreign_key_violation() {
                StoreError::Conflict(
                    "the site or a webhook was deleted while this event was being published; \
                     retry"
                        .into(),
                )
            } else {
                e
            }
        })?;
        match (written, idempotency) {
            (
                Written::Yes {
                    sequences,
                    held_back,
                },
                _,
            ) => {
                if let Some(local) = local {
                    let goes_now = handed
                        .into_iter()
                        .filter(|call| !held_back.contains(&call.call_id))
                        .map(|mut call| {
                            if let Some((_, sequence)) = &mut call.order {
                                *sequence = sequences.get(&call.call_id).copied().unwrap_or(0);
                            }
                            call
                        })
                        .collect();
                    let refused = local.hand_over(goes_now);
                    if !refused.is_empty() {
                        // The dispatcher is stopping: make them due now for whoever runs
                        // next, instead of leaving them leased to this process.
                        self.release_claims(&refused, now_millis()).await?;
                    }
                } else if queued {
                    if let Some(handoff) = self.handoff.get() {
                        handoff.wake.notify_one();
                    }
                }
                metrics::counter!(crate::metric_names::CALLS_ACCEPTED)
                    .increment(published.webhook_call_ids.len() as u64);
                Ok(PublishOutcome::Created(published))
            }
            // A concurrent request with the same key committed first: answer as it did.
            (Written::KeyTaken, Some(key)) => self
                .earlier_response(site_id, &key, now)
                .await?
                .map(PublishOutcome::Replayed)
                .ok_or_else(|| {
                    StoreError::Conflict("idempotency key is being used concurrently; retry".into())
                }),
            (Written::KeyTaken, None) => unreachable!("only keyed events can find their key taken"),
        }
    }

    /// Commits one event and its calls. SQLite's writer thread already commits whatever
    /// jobs queued up meanwhile in one transaction, so the event goes straight to it (the
    /// publisher is answered from there, without another task's wake-up in between). On
    /// PostgreSQL each job would be a transaction of its own: events gather in
    /// [`write_events`] first.
    async fn write_event(&self, pending: PendingEvent) -> Result<Written> {
        let shutting_down = || StoreError::Conflict("the server is shutting down; retry".into());
        let Some(gather) = &self.event_writer else {
            let alone = WriteEvents {
                events: Arc::new(vec![pending]),
                only: None,
            };
            let outcomes = self.writer.run(Arc::new(alone)).await?;
            return outcomes.into_iter().next().ok_or_else(|| {
                StoreError::Conflict("the event's write had no outcome; retry".into())
            });
        };
        let (reply, answer) = oneshot::channel();
        gather
            .send((pending, reply))
            .await
            .map_err(|_| shutting_down())?;
        answer.await.map_err(|_| shutting_down())?
    }

    /// Takes room in this process's dispatcher for `calls` fresh calls, waiting for it a
    /// little if need be; otherwise the calls go through the queue.
    async fn reserve_local_delivery(&self, calls: usize, now: i64) -> Option<LocalDelivery> {
        let handoff = self.handoff.get().filter(|_| calls > 0)?;
        // Calls already waiting in the queue go first: nothing jumps it until the
        // dispatcher has caught up.
        if handoff.backlog.load(Ordering::SeqCst) {
            return None;
        }
        let wanted = u32::try_from(calls).ok()?;
        let reserved = match handoff.room.clone().try_acquire_many_owned(wanted) {
            Ok(room) => Some(room),
            // Publishing faster than delivering: a moment's wait lets ingestion slow to the
            // pace of delivery instead of taking the CPU from it, and keeps the calls on
            // the cheap path (no claim). A dispatcher that stays full (slow receivers)
            // sends them to the queue after the wait, and later ones at once.
            Err(_) => {
                tokio::time::timeout(ROOM_WAIT, handoff.room.clone().acquire_many_owned(wanted))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        let Some(room) = reserved else {
            handoff.backlog.store(true, Ordering::SeqCst);
            return None;
        };
        Some(LocalDelivery {
            handoff: handoff.clone(),
            room,
            claim_token: ids::random_urlsafe(12),
            lease_until: now + handoff.lease.as_millis() as i64,
        })
    }

    async fn earlier_response(
        &self,
        site_id: &str,
        key: &IdempotencyKey<'_>,
        now: i64,
    ) -> Result<Option<Published>> {
        let row = sqlx::query(
            "SELECT request_hash, response FROM idempotency_keys \
             WHERE site_id = $1 AND key = $2 AND created_at > $3",
        )
        .bind(site_id.to_owned())
        .bind(key.key.to_owned())
        .bind(now - IDEMPOTENCY_WINDOW_MS)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let request_hash: String = row.try_get("request_hash")?;
        if request_hash != key.request_hash {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was already used with a different request body; use a new key".into(),
            ));
        }
        let response: String = row.try_get("response")?;
        Ok(Some(parse_json("idempotent response", &response)?))
    }

    /// Forgets idempotency keys past their window; returns how many were removed.
    pub async fn prune_idempotency_keys(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
            .bind(now - IDEMPOTENCY_WINDOW_MS)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
