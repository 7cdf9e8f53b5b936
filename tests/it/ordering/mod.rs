//! Ordered delivery: one key's calls arrive one at a time, in the order their events were
//! accepted; `latest` never sends an older state after a newer one.

mod basics;
mod crash;
mod latest;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::receiver::{Received, Reply};

/// What a receiver saw of one ordered key: each request's entity `n` (its place in the
/// publish order), `webhook-sequence`, whether it was answered 2xx, when it came and how
/// long its answer took.
#[derive(Debug, Clone)]
pub struct Seen {
    pub n: u64,
    pub sequence: Option<u64>,
    pub ok: bool,
    pub at: Instant,
    pub delay: Duration,
}

/// Every request a receiver saw, by its event's `entity.id` (the ordering key).
#[derive(Default, Clone)]
pub struct Ledger(Arc<Mutex<HashMap<String, Vec<Seen>>>>);

impl Ledger {
    /// A responder that answers `reply(n)` and writes each request down first.
    pub fn responder(
        &self,
        reply: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> impl Fn(usize, &Received) -> Reply + Send + Sync + 'static {
        let ledger = self.clone();
        move |_, request| {
            let answer = reply(request);
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let key = body["entity"]["id"].as_str().unwrap_or_default().to_owned();
            let seen = Seen {
                n: body["entity"]["n"].as_u64().unwrap_or(u64::MAX),
                sequence: request.header("webhook-sequence").parse().ok(),
                ok: (200..300).contains(&answer.status),
                at: request.at,
                delay: answer.delay,
            };
            ledger.0.lock().unwrap().entry(key).or_default().push(seen);
            answer
        }
    }

    pub fn keys(&self) -> HashMap<String, Vec<Seen>> {
        self.0.lock().unwrap().clone()
    }

    /// Per key, the `n` of each first successful delivery, in arrival order.
    pub fn first_successes(&self) -> HashMap<String, Vec<u64>> {
        self.keys()
            .into_iter()
            .map(|(key, seen)| {
                let mut firsts = Vec::new();
                for s in seen.iter().filter(|s| s.ok) {
                    if !firsts.contains(&s.n) {
                        firsts.push(s.n);
                    }
                }
                (key, firsts)
            })
            .collect()
    }

    /// Whether any request of a key arrived before the answer to the one before it was
    /// sent: two calls of one key in flight at once.
    pub fn overlaps(&self) -> Vec<String> {
        let mut overlapping = Vec::new();
        for (key, seen) in self.keys() {
            for pair in seen.windows(2) {
                if pair[1].at < pair[0].at + pair[0].delay {
                    overlapping.push(format!(
                        "{key}: n={} arrived before n={} was answered",
                        pair[1].n, pair[0].n
                    ));
                }
            }
        }
        overlapping
    }
}

/// An event about entity `key`, the `n`-th of its key.
pub fn event(key: &str, n: u64) -> Value {
    serde_json::json!({
        "entity_type": "item",
        "event_type": "update",
        "entity": {"id": key, "n": n},
    })
}

impl Ledger {
    /// Waits until every key of `keys` has had each of `0..per_key` delivered once.
    pub async fn wait_for_all(&self, keys: &[String], per_key: u64, bound: Duration) {
        let deadline = Instant::now() + bound;
        loop {
            let firsts = self.first_successes();
            let done = keys
                .iter()
                .all(|k| firsts.get(k).is_some_and(|f| f.len() as u64 >= per_key));
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not all delivered within {bound:?}: {:?}",
                keys.iter()
                    .map(|k| (k, firsts.get(k).map_or(0, Vec::len)))
                    .filter(|(_, n)| (*n as u64) < per_key)
                    .take(5)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Publishes `event(key, n)` for every key and every `n` of `range` over the API at
/// `bases` (publisher `p` uses `bases[p % len]`), one publisher per group of keys, each
/// publishing its keys' events in turn: so each key's events are accepted in `n` order.
/// Panics on anything but a 202: the caller decides when a server may die.
pub async fn publish_keys(
    bases: &[String],
    site: &str,
    keys: &[String],
    range: std::ops::Range<u64>,
    publishers: usize,
) {
    let client = crate::support::client();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let own: Vec<String> = keys.iter().skip(p).step_by(publishers).cloned().collect();
        let url = format!("{}/api/v1/sites/{site}/events", bases[p % bases.len()]);
        let (client, range) = (client.clone(), range.clone());
        tasks.push(tokio::spawn(async move {
            for n in range {
                for key in &own {
                    let response = client
                        .post(&url)
                        .bearer_auth(crate::support::ADMIN_TOKEN)
                        .json(&event(key, n))
                        .send()
                        .await
                        .expect("publish");
                    assert_eq!(response.status(), 202, "publish {key} {n}");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The `i`-th request fails one time in five, spread as if at random (a multiplicative
/// hash, so each run fails the same requests).
pub fn fails_one_in_five(i: u64) -> bool {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(5)
}
