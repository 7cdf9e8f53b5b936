//! Writing results back: batched, a few transactions at once, then the claims forgotten
//! and any operator notices published.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

use super::{notices, Outstanding, RetryHint};
use crate::domain::call::NextStep;
use crate::store::{AttemptResult, Store};

/// Below this many waiting results, the recorder lingers for more before writing.
const RECORD_GATHER: usize = 64;
const RECORD_LINGER: Duration = Duration::from_millis(5);

/// Results written per transaction at most.
const RECORD_BATCH: usize = 512;
/// Batches of results being written at once at most.
const RECORD_WRITES_IN_FLIGHT: usize = 4;

/// Drains results and writes them in batches: whatever piled up while the previous
/// transactions committed goes into the next one. A few batches are written at once: on
/// PostgreSQL each is a round trip of its own, and one at a time held deliveries back
/// (each keeps its slot until the recorder has taken its result).
pub(super) async fn record_results(
    store: Store,
    mut results: mpsc::Receiver<AttemptResult>,
    outstanding: Outstanding,
    retry_hint: RetryHint,
    wake: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut writing = JoinSet::new();
    while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        // A few results alone would cost a whole transaction: let more of the attempts in
        // flight finish and join it. Calls stay claimed meanwhile, so nothing is lost.
        if batch.len() < RECORD_GATHER {
            tokio::time::sleep(RECORD_LINGER).await;
            while batch.len() < RECORD_BATCH {
                match results.try_recv() {
                    Ok(result) => batch.push(result),
                    Err(_) => break,
                }
            }
        }
        let earliest_retry = batch.iter().filter_map(|r| match r.next {
            NextStep::RetryAt(at) => Some(at),
            NextStep::Done(_) | NextStep::Paused => None,
        });
        if let Some(at) = earliest_retry.min() {
            // A sooner retry than the dispatcher knows of: let it recompute its sleep.
            if retry_hint.fetch_min(at, Ordering::Relaxed) > at {
                wake.notify_one();
            }
        }
        while writing.len() >= RECORD_WRITES_IN_FLIGHT {
            writing.join_next().await;
        }
        // Batches may commit in any order: a result moves its call only while it holds
        // the call's current claim (see `Store::record_results`).
        let recorded: Arc<[AttemptResult]> = std::mem::take(&mut batch).into();
        writing.spawn(record(
            store.clone(),
            recorded,
            outstanding.clone(),
            wake.clone(),
        ));
    }
    while writing.join_next().await.is_some() {}
}

/// Writes one batch of results (retrying a few times), then forgets their claims.
async fn record(
    store: Store,
    recorded: Arc<[AttemptResult]>,
    outstanding: Outstanding,
    wake: Arc<Notify>,
) {
    let mut backoff = Duration::from_millis(100);
    for attempt in 1..=5 {
        match store.record_results(recorded.clone()).await {
            Ok((notices, promoted)) => {
                if !notices.is_empty() {
                    tokio::spawn(notices::publish(store.clone(), notices));
                }
                if promoted {
                    // The next calls of finished ordered keys are due: claim them now.
                    wake.notify_one();
                }
                break;
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "recording results failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            // Not lost: the claims' leases expire and the calls are attempted again.
            Err(e) => {
                tracing::error!(error = %e, calls = recorded.len(), "could not record results")
            }
        }
    }
    let mut held = outstanding.lock().expect("outstanding lock");
    for result in recorded.iter() {
        held.remove(&result.call_id);
    }
}
