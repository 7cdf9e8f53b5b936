//! Local delivery of fresh calls: when this process runs a dispatcher with room for more
//! calls, a published event's calls are written already claimed (leased to this process)
//! and handed to the dispatcher in memory once committed, instead of being found again by
//! a claim query. That saves the claim's write and the read of the event per call.
//!
//! Nothing is lost by skipping the queue: the calls are in the database, leased like any
//! claimed call. If this process dies, or the dispatcher is gone before it takes them, the
//! lease expires and any worker claims them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::ClaimedCall;

/// A call the dispatcher holds (delivering it, or waiting for a delivery slot), with its
/// share of the dispatcher's room.
pub struct HandedCall {
    pub call: ClaimedCall,
    pub hold: OwnedSemaphorePermit,
}

/// The dispatcher's side of the hand-off, given to the store.
#[derive(Clone)]
pub struct Handoff {
    /// How many calls the dispatcher holds at once: in flight, plus a claim batch waiting
    /// for a delivery slot. A publisher takes room for its calls or leaves them to the
    /// queue.
    pub room: Arc<Semaphore>,
    /// How long the calls are leased to this process.
    pub lease: Duration,
    pub calls: mpsc::UnboundedSender<HandedCall>,
    /// Rung when calls were committed to the queue instead (no room), so the
    /// dispatcher claims them at once rather than at its next poll.
    pub wake: Arc<Notify>,
    /// Set when a publisher found no room and queued its calls, or when the dispatcher
    /// found due calls in the queue but no room to claim them; cleared by the dispatcher
    /// once a claim finds the queue drained. While set, fresh calls queue behind the
    /// waiting ones instead of overtaking them.
    pub backlog: Arc<AtomicBool>,
}
