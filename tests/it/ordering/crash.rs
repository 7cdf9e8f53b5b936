//! Order across a SIGKILL and across a cluster: the real binary, a receiver that fails
//! one request in five, and each key's first successful deliveries checked against the
//! order its events were accepted in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{fails_one_in_five, publish_keys, Ledger};
use crate::support::process;
use crate::support::receiver::{Receiver, Reply};

const KEYS: usize = 100;
const PER_KEY: u64 = 100;

/// Enough quick retries that no call runs out of them against one failure in five
/// (twelve failures in a row: about 4·10⁻⁹ per call).
const ARGS: [&str; 3] = [
    "--retry-schedule=100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
    "--lease=2s",
    "--poll-interval=100ms",
];

fn keys() -> Vec<String> {
    (0..KEYS).map(|k| format!("key-{k}")).collect()
}

/// A receiver that writes every request down and refuses one in five, answering after
/// `delay`.
async fn refusing_receiver(ledger: &Ledger, delay: Duration) -> Receiver {
    let requests = Arc::new(AtomicU64::new(0));
    Receiver::start(ledger.responder(move |_| {
        let i = requests.fetch_add(1, Ordering::SeqCst);
        Reply {
            delay,
            ..Reply::status(if fails_one_in_five(i) { 503 } else { 200 })
        }
    }))
    .await
}

fn assert_in_publish_order(ledger: &Ledger) {
    let firsts = ledger.first_successes();
    for key in keys() {
        assert_eq!(
            firsts[&key],
            (0..PER_KEY).collect::<Vec<_>>(),
            "key {key}: first successes out of publish order, or missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_keys_order_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = ARGS.iter().map(|a| a.to_string()).collect();
    // Few at once: a backlog builds up, so the kill lands with calls waiting and in flight.
    args.push("--max-in-flight=16".into());
    let spawn = || process::spawn_with_backend(dir.path(), &args);
    let ledger = Ledger::default();
    let receiver = refusing_receiver(&ledger, Duration::from_millis(2)).await;

    let server = spawn().await;
    let api = crate::support::TestServer::api_client(&server.base);
    let site = api.create_site().await;
    api.create_webhook(&site, &receiver.url("/"), json!({"ordering": "key"}))
        .await;
    let keys = keys();
    let half = PER_KEY / 2;
    publish_keys(std::slice::from_ref(&server.base), &site, &keys, 0..half, 8).await;
    drop(server); // SIGKILL with half the events accepted and deliveries under way
    let seen_at_kill = receiver.received().len();
    let delivered_at_kill: usize = ledger.first_successes().values().map(Vec::len).sum();
    assert!(
        delivered_at_kill < keys.len() * half as usize,
        "the kill must land before everything accepted is delivered"
    );

    let restarted = spawn().await;
    publish_keys(
        std::slice::from_ref(&restarted.base),
        &site,
        &keys,
        half..PER_KEY,
        8,
    )
    .await;
    ledger
        .wait_for_all(&keys, PER_KEY, Duration::from_secs(300))
        .await;
    assert_in_publish_order(&ledger);
    assert!(ledger.overlaps().is_empty(), "{:?}", ledger.overlaps());
    println!(
        "{} events over {KEYS} keys; {delivered_at_kill} delivered ({seen_at_kill} requests) at the kill; {} requests in all",
        keys.len() as u64 * PER_KEY,
        receiver.received().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_never_deliver_one_key_at_once() {
    if !crate::support::backend::is_postgres() {
        println!("ordered cluster test: needs PostgreSQL (scripts/test.sh runs it there)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap();
    let mut args: Vec<String> = ARGS.iter().map(|a| a.to_string()).collect();
    args.extend([format!("--database-url={url}"), "--db-pool-size=6".into()]);
    let nodes = process::spawn_nodes(dir.path(), 3, &args).await;
    let client = crate::support::client();
    for node in &nodes {
        node.wait_healthy(&client).await;
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    // Slow answers: a second worker taking a key's next call while the first is still
    // waiting for its answer would show as an overlap.
    let ledger = Ledger::default();
    let receiver = refusing_receiver(&ledger, Duration::from_millis(5)).await;
    let api = crate::support::TestServer::api_client(&bases[0]);
    let site = api.create_site().await;
    api.create_webhook(&site, &receiver.url("/"), json!({"ordering": "key"}))
        .await;

    let keys = keys();
    // Publishers spread over the nodes; every node claims from the one database.
    publish_keys(&bases, &site, &keys, 0..PER_KEY, 12).await;
    ledger
        .wait_for_all(&keys, PER_KEY, Duration::from_secs(300))
        .await;
    assert_in_publish_order(&ledger);
    assert!(ledger.overlaps().is_empty(), "{:?}", ledger.overlaps());
}
