//! Scale-out on PostgreSQL: three `serve` processes share one database with no other
//! coordinator; one is SIGKILLed midway and nothing accepted is lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::process::{self, ServerProcess};
use crate::support::receiver::{Receiver, Reply};
use crate::support::ADMIN_TOKEN;
use serde_json::{json, Value};

const EVENTS: usize = 10_000;
const PUBLISHERS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_work_and_survive_losing_one() {
    if !crate::support::backend::is_postgres() {
        println!("cluster test: needs PostgreSQL (scripts/test.sh runs it there); nothing to do on SQLite");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap();
    let args = [
        format!("--database-url={url}"),
        "--lease=3s".into(),
        "--poll-interval=200ms".into(),
        "--retry-schedule=500ms,500ms,500ms,500ms".into(),
        "--claim-batch=50".into(),
        "--db-pool-size=6".into(),
    ];
    let mut nodes: Vec<Option<ServerProcess>> = process::spawn_nodes(dir.path(), 3, &args)
        .await
        .into_iter()
        .map(Some)
        .collect();
    let client = crate::support::client();
    let bases: Vec<String> = nodes.iter().flatten().map(|n| n.base.clone()).collect();
    for node in nodes.iter().flatten() {
        node.wait_healthy(&client).await;
    }

    let receiver = Receiver::start(|n, _| Reply {
        delay: Duration::from_millis((n % 5) as u64),
        ..Reply::status(200)
    })
    .await;
    let api = crate::support::TestServer::api_client(&bases[0]);
    let site = api.create_site().await;
    for path in ["/a", "/b"] {
        api.create_webhook(&site, &receiver.url(path), json!({ "name": path }))
            .await;
    }

    // Publishers spread over the three nodes; one whose node dies moves to the next node.
    let started = Instant::now();
    let next_event = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (published_tx, mut published) = tokio::sync::watch::channel(0usize);
    let published_tx = Arc::new(published_tx);
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (client, bases, site, next_event, accepted, published_tx) = (
            client.clone(),
            bases.clone(),
            site.clone(),
            next_event.clone(),
            accepted.clone(),
            published_tx.clone(),
        );
        publishers.push(tokio::spawn(async move {
            let mut node = p % bases.len();
            let mut uncertain = 0;
            loop {
                let i = next_event.fetch_add(1, Ordering::SeqCst);
                if i >= EVENTS {
                    return uncertain;
                }
                let event = json!({"entity_type": "item", "event_type": "update", "entity": {"id": i.to_string()}});
                let sent = client
                    .post(format!("{}/api/v1/sites/{site}/events", bases[node]))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&event)
                    .send()
                    .await;
                let body = match sent {
                    Ok(r) if r.status() == 202 => r.json::<Value>().await.ok(),
                    _ => None,
                };
                let Some(body) = body else {
                    // The node died under this request: its outcome is unknown, not accepted.
                    uncertain += 1;
                    node = (node + 1) % bases.len();
                    continue;
                };
                let mut accepted = accepted.lock().unwrap();
                for id in body["webhook_call_ids"].as_array().unwrap() {
                    accepted.insert(id.as_str().unwrap().to_owned());
                }
                published_tx.send_replace(i);
            }
        }));
    }

    tokio::time::timeout(
        Duration::from_secs(120),
        published.wait_for(|i| *i >= EVENTS / 2),
    )
    .await
    .expect("half the events are published")
    .unwrap();
    let delivered_at_kill = receiver.received().len();
    drop(nodes[1].take()); // SIGKILL the middle node midway
    let mut uncertain = 0;
    for publisher in publishers {
        uncertain += publisher.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let published_in = started.elapsed();
    assert_eq!(
        accepted.len(),
        (EVENTS - uncertain) * 2,
        "every answered event was accepted with both calls"
    );
    assert!(
        uncertain < PUBLISHERS * 2,
        "only requests in flight at the kill were cut ({uncertain})"
    );

    receiver
        .wait_for_webhook_ids(&accepted, Duration::from_secs(180))
        .await;
    println!(
        "cluster: {EVENTS} events ({} calls accepted, {uncertain} requests cut by the kill) published in {:.1}s; \
         node killed after {delivered_at_kill} deliveries; every accepted call arrived by {:.1}s; \
         {} requests received, {} call ids arrived more than once",
        accepted.len(),
        published_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        receiver.received().len(),
        receiver.duplicated_ids(),
    );
}

/// A webhook's rate limit holds for the cluster, not per process: two processes deliver
/// its calls and together stay within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_processes() {
    const LIMIT: usize = 20;
    const EVENTS: usize = 60;
    if !crate::support::backend::is_postgres() {
        println!("cluster test: needs PostgreSQL; nothing to do on SQLite");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::backend::database_url(dir.path())
        .await
        .unwrap();
    let args = [
        format!("--database-url={url}"),
        "--poll-interval=50ms".into(),
        "--db-pool-size=4".into(),
    ];
    let nodes = process::spawn_nodes(dir.path(), 2, &args).await;
    let client = crate::support::client();
    for node in &nodes {
        node.wait_healthy(&client).await;
    }
    let receiver = Receiver::ok().await;
    let first = crate::support::TestServer::api_client(&nodes[0].base);
    let site = first.create_site().await;
    first
        .create_webhook(
            &site,
            &receiver.url("/limited"),
            json!({"rate_limit_per_s": LIMIT}),
        )
        .await;
    // Each node publishes half the events, so each delivers its own (hand-off) and
    // claims the other's when free.
    let apis: Vec<crate::support::TestServer> = nodes
        .iter()
        .map(|n| crate::support::TestServer::api_client(&n.base))
        .collect();
    for i in 0..EVENTS {
        apis[i % 2]
            .publish(&site, crate::support::item_event(&i.to_string()))
            .await;
    }
    let arrived = receiver.wait_for(EVENTS).await;
    assert_eq!(arrived.len(), EVENTS);
    let busiest = receiver.busiest(Duration::from_secs(1));
    assert!(
        busiest <= LIMIT + 2,
        "{busiest} in one second across two processes"
    );
    let span = arrived.last().unwrap().at - arrived[0].at;
    assert!(span >= Duration::from_millis(2_800), "took only {span:?}");
    assert_eq!(receiver.duplicated_ids(), 0);
}
