//! The delivery worker: claims due calls with a lease, hands each to its target
//! concurrently, and writes results back in batches (one transaction per batch).
//!
//! Crash safety comes from the lease: a claimed call's `next_attempt_at` is the end of its
//! lease, so if this process dies the call simply becomes due again for any worker.

mod delivery;
mod endpoints;
pub mod notices;
mod recorder;
pub mod recovery;
pub mod wake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::domain::retry::RetrySchedule;
use crate::domain::time::now_millis;
use crate::store::{self, HandedCall, Handoff, Store};
use crate::targets::Target;
use delivery::{Deliveries, DeliveryContext, Line};

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub retry: RetrySchedule,
    /// How long a claim holds; must exceed the longest webhook timeout.
    pub lease: Duration,
    /// Calls claimed per query.
    pub claim_batch: u32,
    /// Deliveries in flight at once.
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one webhook (see `endpoints.rs`).
    pub endpoint_cap: usize,
    /// Longest idle sleep; bounds how late work from other processes is noticed.
    pub poll_interval: Duration,
    /// On shutdown, how long in-flight deliveries may finish before they are released.
    pub shutdown_grace: Duration,
}

/// After a wake-up during steady load, wait this long before claiming (2 ms measured best
/// for p99 at 1 000 events/s once claims got cheap; see docs/PERFORMANCE.md).
const CLAIM_LINGER: Duration = Duration::from_millis(2);

/// Claims currently held by this process: call id → claim token.
type Outstanding = Arc<Mutex<HashMap<String, String>>>;

/// The earliest retry this process scheduled since it last asked the database (Unix ms),
/// so a busy dispatcher can wake for it without querying.
type RetryHint = Arc<AtomicI64>;

pub struct Dispatcher<T: Target> {
    store: Store,
    target: Arc<T>,
    settings: DispatchSettings,
    wake: Arc<Notify>,
    /// One per delivery in flight.
    slots: Arc<Semaphore>,
    /// One per call held here, in flight or waiting for a slot, whether claimed here or
    /// handed over by a publisher (see [`Handoff::room`]).
    room: Arc<Semaphore>,
    handoff: Handoff,
    handed: mpsc::UnboundedReceiver<HandedCall>,
}

/// What a claim brought back: how many calls it asked for (0: there was no room), those
/// it got, and, when it got none, how long the dispatcher may sleep.
struct Claimed {
    wanted: u32,
    calls: Vec<HandedCall>,
    idle: Option<IdleSleep>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleSleep {
    sleep: Duration,
    /// A call is due already (but found no room).
    due_now: bool,
}

impl<T: Target> Dispatcher<T> {
    /// `wake` is notified when new work is committed in this process, so it is picked up
    /// at once instead of at the next poll.
    pub fn new(store: Store, target: T, settings: DispatchSettings, wake: Arc<Notify>) -> Self {
        let slots = settings.max_in_flight.max(1);
        // Calls waiting for a slot replace a finished delivery at once, without a claim's
        // round trip. Room for as many as there are slots (at least a claim batch) keeps
        // fresh calls in memory through bursts: a publisher that finds no room sends its
        // calls the costlier way, through the queue and a claim (see docs/PERFORMANCE.md).
        let room = slots + slots.max(settings.claim_batch as usize);
        let room = Arc::new(Semaphore::new(room));
        let (calls, handed) = mpsc::unbounded_channel();
        let handoff = Handoff {
            room: room.clone(),
            lease: settings.lease,
            calls,
            wake: wake.clone(),
            backlog: Arc::default(),
        };
        Dispatcher {
            store,
            target: Arc::new(target),
            settings,
            wake,
            slots: Arc::new(Semaphore::new(slots)),
            room,
            handoff,
            handed,
        }
    }

    /// For [`Store::deliver_locally`]: lets publishers in this process hand fresh calls
    /// straight to this dispatcher.
    pub fn handoff(&self) -> Handoff {
        self.handoff.clone()
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let outstanding: Outstanding = Arc::default();
        let retry_hint: RetryHint = Arc::new(AtomicI64::new(i64::MAX));
        let (results_tx, results_rx) = mpsc::channel(self.settings.max_in_flight.max(1) * 2);
        let recorder = tokio::spawn(recorder::record_results(
            self.store.clone(),
            results_rx,
            outstanding.clone(),
            retry_hint.clone(),
            self.wake.clone(),
        ));
        let context = DeliveryContext {
            target: self.target.clone(),
            retry: self.settings.retry.clone(),
            results: results_tx,
            outstanding: outstanding.clone(),
            store: self.store.clone(),
            retry_hint: retry_hint.clone(),
            wake: self.wake.clone(),
        };
        let mut deliveries = Deliveries::new();
        let mut line = Line::new(self.settings.endpoint_cap);
        // A claim (or, with no room to claim into, a look at what is due) runs beside the
        // loop, so finished deliveries keep being replaced from `ready` meanwhile. Nothing
        // in this loop awaits except the `select!`: it turns once per finished delivery.
        let mut claiming: Option<JoinHandle<Claimed>> = None;
        let prefetch = self.settings.claim_batch as usize;
        let mut claim_now = true;
        let mut saturated = false;
        let mut busy = false;
        let mut stopping = *shutdown.borrow();
        // Kept across turns: re-arming a timer or a wake-up each turn is costly.
        let next_claim = tokio::time::sleep_until(Instant::now());
        let woken = self.wake.notified();
        let stop = shutdown.changed();
        tokio::pin!(next_claim, woken, stop);
        while !stopping {
            while let Some(joined) = deliveries.try_join_next() {
                context.ended(&mut line, joined);
            }
            context.fill(&mut deliveries, &mut line, &self.slots);
            if claim_now && claiming.is_none() {
                claim_now = false;
                let wanted =
                    store::claim_size(self.room.available_permits(), self.settings.claim_batch);
                claiming = Some(self.start_claim(wanted, retry_hint.clone()));
            }
            tokio::select! {
                claimed = async { claiming.as_mut()?.await.ok() }, if claiming.is_some() => {
                    claiming = None;
                    let Some(claimed) = claimed else {
                        claim_now = true; // the claim task panicked; its room is back
                        continue;
                    };
                    let plan = after_claim(claimed.wanted, claimed.calls.len(), claimed.idle);
                    context.queue(&mut line, claimed.calls);
                    context.fill(&mut deliveries, &mut line, &self.slots);
                    match plan {
                        AfterClaim::ClaimAgain => claim_now = true,
                        AfterClaim::Wait { saturated: full, busy: working, backlog, sleep } => {
                            (saturated, busy) = (full, working);
                            if let Some(backlog) = backlog {
                                self.handoff.backlog.store(backlog, Ordering::SeqCst);
                            }
                            let sleep = sleep.unwrap_or(self.settings.poll_interval);
                            next_claim.as_mut().reset(Instant::now() + sleep);
                        }
                    }
                }
                _ = &mut woken => {
                    woken.set(self.wake.notified());
                    if busy || saturated {
                        // Let the calls of a burst of events gather, so one claim takes them
                        // all: fewer statements per call for CLAIM_LINGER of latency.
                        let soon = Instant::now() + CLAIM_LINGER;
                        if soon < next_claim.deadline() {
                            next_claim.as_mut().reset(soon);
                        }
                    } else {
                        claim_now = true;
                    }
                }
                Some(handed) = self.handed.recv() => {
                    // Already claimed for us: no query, and the next claim stays as planned.
                    let more = std::iter::from_fn(|| self.handed.try_recv().ok());
                    context.queue(&mut line, std::iter::once(handed).chain(more));
                    context.fill(&mut deliveries, &mut line, &self.slots);
                }
                Some(joined) = deliveries.join_next(), if saturated || line.is_waiting() => {
                    context.ended(&mut line, joined);
                    context.fill(&mut deliveries, &mut line, &self.slots);
                    // Refill the room in batches, not one claim per delivery.
                    claim_now = saturated && self.room.available_permits() >= prefetch / 2;
                }
                _ = &mut next_claim => {
                    claim_now = true;
                    // Until a claim plans the next one; it is running or about to start.
                    next_claim.as_mut().reset(Instant::now() + self.settings.poll_interval);
                }
                _ = &mut stop => stopping = true,
            }
        }

        // A claim still running is waited for, so its calls are released with the rest.
        if let Some(claim) = claiming {
            if let Ok(claimed) = claim.await {
                context.hold(claimed.calls.iter().map(|held| &held.call));
            }
        }
        while deliveries.try_join_next().is_some() {}
        tracing::info!(in_flight = deliveries.len(), "dispatcher stopping");
        // Calls handed over but not started are released with the unrecorded ones below.
        self.handed.close();
        while let Ok(handed) = self.handed.try_recv() {
            context.hold([&handed.call]);
        }
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while deliveries.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            deliveries.abort_all();
            while deliveries.join_next().await.is_some() {}
        }
        drop(context);
        let _ = recorder.await;
        let unrecorded: Vec<(String, String)> = outstanding
            .lock()
            .expect("outstanding lock")
            .drain()
            .collect();
        if !unrecorded.is_empty() {
            match self.store.release_claims(&unrecorded, now_millis()).await {
                Ok(()) => tracing::info!(released = unrecorded.len(), "released unfinished calls"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not release claims; their leases will expire")
                }
            }
        }
    }

    /// Starts claiming up to `wanted` due calls, with room taken for them first (publishers
    /// may take room while the query runs). With nothing claimed (or no room, `wanted` 0)
    /// it also looks when the next call is due.
    fn start_claim(&self, wanted: u32, retry_hint: RetryHint) -> JoinHandle<Claimed> {
        let room = self.room.clone().try_acquire_many_owned(wanted).ok();
        let wanted = if room.is_some() { wanted } else { 0 };
        let store = self.store.clone();
        let lease = self.settings.lease;
        let poll = self.settings.poll_interval;
        tokio::spawn(async move {
            let calls = match room {
                Some(room) if wanted > 0 => claim(&store, wanted, lease, room).await,
                _ => Vec::new(),
            };
            let idle = if calls.len() < wanted as usize || calls.is_empty() {
                // It took what was due: when is the next call due? (Retries and calls
                // waiting for a rate-limit slot may have been scheduled before the hint
                // was last reset, so the hint alone would wake too late.)
                retry_hint.store(i64::MAX, Ordering::Relaxed);
                Some(idle_sleep(&store, poll).await)
            } else {
                None
            };
            Claimed {
                wanted,
                calls,
                idle,
            }
        })
    }
}

/// What the dispatcher does once a claim is back.
#[derive(Debug, PartialEq)]
enum AfterClaim {
    /// It got every call it asked for: more are probably due, so claim again at once.
    ClaimAgain,
    Wait {
        /// There was no room to claim into.
        saturated: bool,
        /// Calls came back, so work is flowing.
        busy: bool,
        /// What publishers are told about waiting due calls (`None`: unchanged).
        backlog: Option<bool>,
        /// How long until the next claim, looked up when the claim took what was due
        /// (`None`: the poll interval).
        sleep: Option<Duration>,
    },
}

/// Decides what follows a claim that asked for `wanted` calls (0: there was no room) and
/// got `got`, with `idle` looked up when it got none.
fn after_claim(wanted: u32, got: usize, idle: Option<IdleSleep>) -> AfterClaim {
    // With no room, an empty answer is not a drained queue: claiming again at once would
    // only spin.
    if wanted > 0 && got == wanted as usize {
        return AfterClaim::ClaimAgain;
    }
    let saturated = wanted == 0;
    let backlog = match &idle {
        // Publishers' calls fill the room as it frees up; make them queue until the due
        // calls are claimed, so those are not starved.
        Some(idle) if saturated && idle.due_now => Some(true),
        _ if saturated => None,
        // The queue is drained: publishers may hand calls over again.
        _ => Some(false),
    };
    AfterClaim::Wait {
        saturated,
        busy: got > 0,
        backlog,
        sleep: idle.map(|idle| idle.sleep),
    }
}

/// Claims up to `wanted` due calls into the `room` taken for them.
async fn claim(
    store: &Store,
    wanted: u32,
    lease: Duration,
    mut room: OwnedSemaphorePermit,
) -> Vec<HandedCall> {
    let now = now_millis();
    let lease_until = now + lease.as_millis() as i64;
    let calls = match store.claim_due(now, lease_until, wanted).await {
        Ok(calls) => calls,
        Err(e) => {
            tracing::error!(error = %e, "claiming due calls failed; retrying shortly");
            Vec::new()
        }
    };
    calls
        .into_iter()
        .map(|call| HandedCall {
            call,
            hold: room
                .split(1)
                .expect("a claim returns at most the calls it has room for"),
        })
        .collect()
}

/// How long to sleep when nothing was claimed: until the next call is due, but never
/// longer than the poll interval (other processes may add work); and whether a call is
/// due already.
async fn idle_sleep(store: &Store, poll: Duration) -> IdleSleep {
    match store.next_due_at().await {
        Ok(Some(due)) => {
            let wait = due - now_millis();
            IdleSleep {
                sleep: poll.min(Duration::from_millis(wait.max(1) as u64)),
                due_now: wait <= 0,
            }
        }
        _ => IdleSleep {
            sleep: poll,
            due_now: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn idle(due_now: bool) -> Option<IdleSleep> {
        Some(IdleSleep {
            sleep: SECOND,
            due_now,
        })
    }

    #[test]
    fn a_full_claim_claims_again_at_once() {
        assert_eq!(after_claim(64, 64, None), AfterClaim::ClaimAgain);
    }

    #[test]
    fn with_no_room_nothing_claimed_is_not_a_reason_to_claim_again() {
        // Once a spin: 0 asked, 0 got, claim again, and again.
        let plan = after_claim(0, 0, idle(false));
        assert_eq!(
            plan,
            AfterClaim::Wait {
                saturated: true,
                busy: false,
                backlog: None,
                sleep: Some(SECOND),
            }
        );
    }

    #[test]
    fn due_calls_without_room_hold_publishers_back() {
        let AfterClaim::Wait { backlog, .. } = after_claim(0, 0, idle(true)) else {
            panic!("a claim without room must wait");
        };
        assert_eq!(backlog, Some(true));
    }

    #[test]
    fn a_short_claim_means_the_queue_is_drained() {
        assert_eq!(
            after_claim(64, 10, None),
            AfterClaim::Wait {
                saturated: false,
                busy: true,
                backlog: Some(false),
                sleep: None,
            }
        );
        let AfterClaim::Wait {
            busy,
            backlog,
            sleep,
            ..
        } = after_claim(64, 0, idle(true))
        else {
            panic!("an empty claim must wait");
        };
        assert_eq!((busy, backlog, sleep), (false, Some(false), Some(SECOND)));
    }
}
