//! One delivery: the line of calls waiting for a slot (with each endpoint's fair share, see
//! `endpoints.rs`), the rate-limit gate, the attempt itself, and its metrics.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};

use super::endpoints::{endpoint_of, Admission, Endpoints};
use super::{Outstanding, RetryHint};
use crate::domain::call::{next_step, CallProgress, CallStatus, NextStep, Verdict};
use crate::domain::ordering::OrderingMode;
use crate::domain::retry::RetrySchedule;
use crate::domain::time::{now_micros, now_millis, UnixMillis};
use crate::store::{AttemptResult, ClaimedCall, HandedCall, OrderKey, Store, Watch};
use crate::targets::Target;

/// Deliveries in flight; each ends with the endpoint it counted against.
pub(super) type Deliveries = JoinSet<Option<Arc<str>>>;

/// A rate-limit slot this close is waited for in place; a later one puts the call back in
/// the queue, due at its slot.
const SHORT_WAIT_MS: i64 = 50;

/// A call taken this long after its slot (its worker died, or polled late) takes a new
/// one: going at once, such calls could bunch up past the limit.
const STALE_SLOT_MS: i64 = 1_000;

/// Calls this process holds that wait for a delivery slot.
pub(super) struct Line {
    /// In the order they were claimed or handed over.
    ready: VecDeque<HandedCall>,
    /// Parked calls whose endpoint has room again (already counted in flight).
    unparked: VecDeque<HandedCall>,
    endpoints: Endpoints,
}

impl Line {
    pub fn new(endpoint_cap: usize) -> Self {
        Line {
            ready: VecDeque::new(),
            unparked: VecDeque::new(),
            endpoints: Endpoints::new(endpoint_cap, endpoint_cap),
        }
    }

    /// Calls wait for a slot, or for their endpoint's calls to end.
    pub fn is_waiting(&self) -> bool {
        !self.ready.is_empty() || !self.unparked.is_empty() || self.endpoints.has_parked()
    }
}

/// What a delivery task needs besides its call.
pub(super) struct DeliveryContext<T> {
    pub target: Arc<T>,
    pub retry: RetrySchedule,
    pub results: mpsc::Sender<AttemptResult>,
    pub outstanding: Outstanding,
    pub store: Store,
    /// The dispatcher's earliest known due time and its wake-up (see `RetryHint`).
    pub retry_hint: RetryHint,
    pub wake: Arc<Notify>,
}

impl<T: Target> DeliveryContext<T> {
    /// Remembers claims this process holds, so they can be released on shutdown.
    pub fn hold<'c>(&self, calls: impl IntoIterator<Item = &'c ClaimedCall>) {
        let mut held = self.outstanding.lock().expect("outstanding lock");
        for call in calls {
            held.insert(call.call_id.clone(), call.claim_token.clone());
        }
    }

    fn start(&self, deliveries: &mut Deliveries, held: HandedCall, slot: OwnedSemaphorePermit) {
        let target = self.target.clone();
        let retry = self.retry.clone();
        let results = self.results.clone();
        let (store, outstanding) = (self.store.clone(), self.outstanding.clone());
        let (retry_hint, wake) = (self.retry_hint.clone(), self.wake.clone());
        let endpoint = endpoint_of(&held);
        deliveries.spawn(async move {
            if let Gate::Wait {
                until: at,
                holds_slot,
            } = rate_gate(&store, &held.call).await
            {
                put_back(&store, &outstanding, &held.call, at, holds_slot).await;
                // Claimed again at its slot, not at the next idle poll.
                if retry_hint.fetch_min(at, Ordering::Relaxed) > at {
                    wake.notify_one();
                }
                return endpoint;
            }
            let result = deliver(target.as_ref(), held.call, &retry).await;
            // The slot is kept until the recorder has taken the result: while recording
            // lags, no new deliveries start, so unrecorded results cannot pile up in memory.
            // The recorder only stops after we do; a send error means shutdown.
            let _ = results.send(result).await;
            drop((slot, held.hold));
            endpoint
        });
    }

    /// Queues calls leased to this process (claimed here or handed over by publishers)
    /// for a slot, remembering their claims under one lock.
    pub fn queue(&self, line: &mut Line, calls: impl IntoIterator<Item = HandedCall>) {
        let start = line.ready.len();
        line.ready.extend(calls);
        self.hold(line.ready.range(start..).map(|held| &held.call));
    }

    /// Starts waiting calls while delivery slots are free, each endpoint within its cap.
    pub fn fill(&self, deliveries: &mut Deliveries, line: &mut Line, slots: &Arc<Semaphore>) {
        while line.is_waiting() {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            if let Some(held) = line.unparked.pop_front() {
                self.start(deliveries, held, slot);
                continue;
            }
            let Some(held) = self.next_admitted(line) else {
                break;
            };
            self.start(deliveries, held, slot);
        }
    }

    /// The first ready call whose endpoint is under its cap; calls over it are parked or
    /// put back in the queue on the way.
    fn next_admitted(&self, line: &mut Line) -> Option<HandedCall> {
        while let Some(held) = line.ready.pop_front() {
            match line.endpoints.admit(held) {
                Admission::Start(held) => return Some(held),
                Admission::Parked => {}
                Admission::Defer(held) => {
                    let (store, outstanding) = (self.store.clone(), self.outstanding.clone());
                    tokio::spawn(async move {
                        let at = now_millis() + over_cap_pause(&held.call);
                        put_back(&store, &outstanding, &held.call, at, false).await;
                    });
                }
            }
        }
        None
    }

    /// A delivery ended: a call parked behind it may go.
    pub fn ended(&self, line: &mut Line, joined: Result<Option<Arc<str>>, JoinError>) {
        let endpoint = joined.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a delivery task failed");
            None
        });
        if let Some(next) = line.endpoints.finished(endpoint) {
            line.unparked.push_back(next);
        }
    }
}

/// How long a call over its endpoint's cap stays out of the queue: about as long as its
/// endpoint's calls may take (their timeout), at most 5 s, spread so they do not all return
/// at once.
fn over_cap_pause(call: &ClaimedCall) -> i64 {
    let timeout = call
        .webhook
        .as_ref()
        .map_or(1_000, |w| w.settings.timeout_ms.min(5_000) as i64);
    timeout / 2 + (rand::random::<f64>() * (timeout / 2) as f64) as i64
}

/// Whether a call may go now under its webhook's rate limit.
enum Gate {
    Go,
    /// Not before `until`; `holds_slot`: the call has taken the slot it waits for.
    Wait {
        until: UnixMillis,
        holds_slot: bool,
    },
}

/// Takes a rate-limit slot for the call when its webhook has a limit (a short wait for
/// it is waited out here). A call that waited for a slot goes without another if it is
/// on time; one taken late (a busy or restarted worker) takes a new slot, so late calls
/// cannot bunch up past the limit.
async fn rate_gate(store: &Store, call: &ClaimedCall) -> Gate {
    let Some((webhook, per_s)) = call
        .webhook
        .as_ref()
        .and_then(|w| Some((w, w.settings.rate_limit_per_s?)))
    else {
        return Gate::Go;
    };
    let now_us = now_micros();
    let on_time = call
        .rate_slot
        .is_some_and(|slot| now_us / 1000 - slot <= STALE_SLOT_MS);
    if on_time || !webhook.settings.enabled {
        return Gate::Go;
    }
    let go_at = match store.take_rate_slot(&webhook.id, per_s, now_us).await {
        Ok(at) => at,
        Err(e) => {
            // Sending anyway could break the receiver's limit; waiting loses nothing. It
            // has no slot: it asks again when it is taken next.
            tracing::warn!(error = %e, "taking a rate-limit slot failed; the call waits");
            return Gate::Wait {
                until: now_millis() + 1_000,
                holds_slot: false,
            };
        }
    };
    let wait = go_at - now_us / 1000;
    if wait > SHORT_WAIT_MS {
        return Gate::Wait {
            until: go_at,
            holds_slot: true,
        };
    }
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    Gate::Go
}

/// Puts a claimed call back in the queue, due at `at`, and forgets its claim. If that
/// fails, the claim's lease runs out and the call is due again all the same.
async fn put_back(
    store: &Store,
    outstanding: &Outstanding,
    call: &ClaimedCall,
    at: UnixMillis,
    holds_rate_slot: bool,
) {
    if let Err(e) = store
        .defer_call(&call.call_id, &call.claim_token, at, holds_rate_slot)
        .await
    {
        tracing::warn!(error = %e, "could not put a call back in the queue; its lease will run out");
    }
    outstanding
        .lock()
        .expect("outstanding lock")
        .remove(&call.call_id);
}

/// Makes one attempt (or decides none can be made) and says where the call goes next.
pub(super) async fn deliver<T: Target>(
    target: &T,
    call: ClaimedCall,
    retry: &RetrySchedule,
) -> AttemptResult {
    let order = order_of(&call);
    let not_sent = |reason: Option<&str>, next| AttemptResult {
        call_id: call.call_id.clone(),
        claim_token: call.claim_token.clone(),
        attempt: None,
        error: reason.map(str::to_owned),
        status_code: None,
        finished_at: now_millis(),
        next,
        watch: None,
        order: order.clone(),
    };
    let webhook = match &call.webhook {
        None => {
            metrics::counter!(crate::metric_names::CALLS_FAILED, "target" => "none").increment(1);
            let reason = "not sent: the webhook was deleted";
            return not_sent(Some(reason), NextStep::Done(CallStatus::Failed));
        }
        // It waits, without a due time, until the webhook is enabled again.
        Some(w) if !w.settings.enabled => return not_sent(None, NextStep::Paused),
        Some(w) => w,
    };
    let outcome = target.deliver(&call, webhook).await;
    let finished_at = now_millis();
    let progress = CallProgress {
        previous_attempts: call.previous_attempts,
        one_shot: call.one_shot,
    };
    let jitter = rand::random::<f64>() * 2.0 - 1.0;
    let next = if outcome.skipped {
        NextStep::Done(CallStatus::Skipped)
    } else {
        next_step(
            progress,
            outcome.delivered,
            retry,
            finished_at,
            jitter,
            outcome.asked_wait,
        )
    };
    count_attempt(webhook, &call, &outcome, &next, finished_at);
    let watch = Watch {
        webhook: Arc::clone(webhook),
        verdict: Verdict::of(progress, next),
        gone: outcome.gone,
    };
    AttemptResult {
        watch: Some(watch),
        order,
        next,
        error: outcome.attempt.error.clone(),
        status_code: outcome.attempt.response_status,
        finished_at,
        call_id: call.call_id,
        claim_token: call.claim_token,
        attempt: Some(outcome.attempt),
    }
}

/// The call's ordering key, and whether its webhook keeps only the latest call of a key.
fn order_of(call: &ClaimedCall) -> Option<(OrderKey, bool)> {
    let (key, _) = call.order.as_ref()?;
    let webhook = call.webhook.as_ref()?;
    let latest = webhook.settings.effective_ordering().mode == OrderingMode::Latest;
    let key = OrderKey {
        webhook_id: webhook.id.clone(),
        key: key.clone(),
    };
    Some((key, latest))
}

/// The attempt in the metrics: its outcome by target type, its duration, and for a first
/// delivery by schedule the time since the event was accepted.
fn count_attempt(
    webhook: &crate::store::WebhookRecord,
    call: &ClaimedCall,
    outcome: &crate::targets::Outcome,
    next: &NextStep,
    finished_at: i64,
) {
    use crate::metric_names::{ATTEMPTS, ATTEMPT_DURATION, CALLS_FAILED, DELIVERY_LATENCY};
    let target = webhook
        .settings
        .target
        .as_ref()
        .map_or("http", crate::domain::targets::TargetConfig::kind);
    let result = match (outcome.delivered, outcome.skipped) {
        (true, _) => "delivered",
        (false, true) => "skipped",
        (false, false) => "failed",
    };
    metrics::counter!(ATTEMPTS, "target" => target, "outcome" => result).increment(1);
    metrics::histogram!(ATTEMPT_DURATION, "target" => target)
        .record(outcome.attempt.duration_ms as f64 / 1000.0);
    if outcome.delivered && !call.manual {
        if let Some(accepted) = crate::domain::ids::millis_of(&call.call_id) {
            metrics::histogram!(DELIVERY_LATENCY, "target" => target)
                .record((finished_at - accepted).max(0) as f64 / 1000.0);
        }
    }
    if *next == NextStep::Done(CallStatus::Failed) {
        metrics::counter!(CALLS_FAILED, "target" => target).increment(1);
    }
}
