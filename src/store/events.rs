//! Publishing: an event and its calls, rendered by the request's own task, then written by
//! the event writer (`event_writer.rs`); idempotency keys answer a repeat with the first answer.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::event_writer::{
    LocalDelivery, PendingCall, PendingEvent, WriteEvents, Written, IDEMPOTENCY_WINDOW_MS,
};
use super::ordering::OrderKey;
use super::webhooks::WebhookRecord;
use super::ClaimedCall;
use super::{json_text, parse_json, Result, Store, StoreError};
use crate::domain::event::NewEvent;
use crate::domain::ids;
use crate::domain::ordering::OrderingMode;
use crate::domain::time::now_millis;
use crate::domain::trigger;

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
        self.publish_to(site_id, event, idempotency, None).await
    }

    /// A test of one webhook: `event` stored and sent as any event, but to that webhook
    /// only, whatever its triggers say (`StoreError::NotFound` if it is not the site's).
    pub async fn publish_test(
        &self,
        site_id: &str,
        webhook_id: &str,
        event: &NewEvent,
    ) -> Result<Published> {
        match self
            .publish_to(site_id, event, None, Some(webhook_id))
            .await?
        {
            PublishOutcome::Created(p) if !p.webhook_call_ids.is_empty() => Ok(p),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn publish_to(
        &self,
        site_id: &str,
        event: &NewEvent,
        idempotency: Option<IdempotencyKey<'_>>,
        only: Option<&str>,
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
            .filter(|hook| match only {
                Some(id) => hook.id == id,
                None => {
                    hook.settings.enabled && trigger::any_matches(&hook.settings.triggers, &key)
                }
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
            let alone = WriteEvents::one(pending);
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
