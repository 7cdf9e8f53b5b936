//! The event writer: publishes queue up and are written together, up to 256 events a
//! transaction, each with its calls placed (ordered ones given their sequence) and the
//! calls that go now handed to this process's dispatcher after the commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use super::ordering::{self, Joining, OrderKey};
use super::sql::{Rows, Sql};
use super::tx::{Tx, WriteJob};
use super::writer::Writer;
use super::{ClaimedCall, HandedCall, Handoff};
use super::{Result, StoreError};
use crate::domain::call::CallStatus;

/// An `Idempotency-Key` answers with its first response for this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Rows per multi-row INSERT (PostgreSQL); keeps well under its bind-parameter limit.
const CALLS_PER_INSERT: usize = 256;
const EVENTS_PER_INSERT: usize = 256;

/// Events written per transaction at most.
const EVENTS_PER_COMMIT: usize = 256;

/// An event ready to be written: everything was read and rendered by the request's own
/// task; the writer only inserts.
pub(super) struct PendingEvent {
    pub(super) site_id: String,
    pub(super) event_id: String,
    pub(super) entity_type: String,
    pub(super) event_type: String,
    pub(super) environment: String,
    pub(super) body: String,
    pub(super) calls: Vec<PendingCall>,
    /// Key, request hash, and the answer to replay.
    pub(super) idempotency: Option<(String, String, String)>,
    /// Claim token and lease end when the calls are written already claimed, for this
    /// process's dispatcher (see `handoff.rs`).
    pub(super) lease: Option<(String, i64)>,
    pub(super) now: i64,
}

pub(super) struct PendingCall {
    pub(super) id: String,
    pub(super) webhook_id: String,
    pub(super) body: Option<String>,
    pub(super) content_type: Option<String>,
    /// Why it cannot be sent at all (its payload passed a render limit): stored as failed
    /// with this as its error, so the event's other calls still go out.
    pub(super) unsendable: Option<String>,
    /// Its key and whether it is `latest`, when its webhook orders its calls.
    pub(super) ordering: Option<(OrderKey, bool)>,
}

/// The dispatcher's room reserved for one event's calls, which are written leased to this
/// process.
pub(super) struct LocalDelivery {
    pub(super) handoff: Handoff,
    pub(super) room: OwnedSemaphorePermit,
    pub(super) claim_token: String,
    pub(super) lease_until: i64,
}

impl LocalDelivery {
    /// Gives the committed calls to the dispatcher, one share of the room each; returns the
    /// claims of those it could not take (it stopped meanwhile).
    pub(super) fn hand_over(mut self, calls: Vec<ClaimedCall>) -> Vec<(String, String)> {
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
pub(super) struct WriteEvents {
    events: Arc<Vec<PendingEvent>>,
    only: Option<usize>,
}

impl WriteEvents {
    /// One event's write on its own.
    pub(super) fn one(pending: PendingEvent) -> Self {
        WriteEvents {
            events: Arc::new(vec![pending]),
            only: None,
        }
    }
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
