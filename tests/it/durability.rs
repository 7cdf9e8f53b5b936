//! At-least-once under SIGKILL: the real binary is killed mid-load and restarted; every
//! call it accepted must reach the receiver.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::process::{self, ServerProcess};
use crate::support::receiver::{Receiver, Reply};
use crate::support::ADMIN_TOKEN;
use serde_json::{json, Value};

async fn spawn_server(data_dir: &std::path::Path) -> ServerProcess {
    let mut args = vec![
        format!("--data-dir={}", data_dir.display()),
        "--lease=2s".into(),
        "--poll-interval=100ms".into(),
        "--retry-schedule=200ms,200ms,200ms,200ms,200ms".into(),
        // Few deliveries at once against a slowish receiver: a backlog builds up, so the
        // kill lands with calls pending, claimed and in flight.
        "--max-in-flight=16".into(),
    ];
    if let Some(url) = crate::support::backend::database_url(data_dir).await {
        args.push(format!("--database-url={url}"));
    }
    let server = process::spawn(data_dir, &args).await;
    server.wait_healthy(&crate::support::client()).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_accepted_call() {
    let dir = tempfile::tempdir().unwrap();
    let client = crate::support::client();
    let receiver = Receiver::start(|n, _| Reply {
        delay: Duration::from_millis(20 + (n % 7) as u64),
        ..Reply::status(200)
    })
    .await;

    let server = spawn_server(dir.path()).await;
    let base = server.base.clone();
    let api = crate::support::TestServer::api_client(&base);
    let site = api.create_site().await;
    for name in ["a", "b"] {
        api.create_webhook(&site, &receiver.url("/"), json!({ "name": name }))
            .await;
    }

    // Publish from 8 concurrent clients until the server dies under them.
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let progress_tx = Arc::new(progress_tx);
    let dead = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for worker in 0..8 {
        let (client, base, site, accepted, dead, progress_tx) = (
            client.clone(),
            base.clone(),
            site.clone(),
            accepted.clone(),
            dead.clone(),
            progress_tx.clone(),
        );
        publishers.push(tokio::spawn(async move {
            let mut i = 0;
            while !dead.load(Ordering::SeqCst) {
                i += 1;
                let event = json!({"entity_type": "item", "event_type": "update", "entity": {"id": format!("{worker}-{i}")}});
                let sent = client.post(format!("{base}/api/v1/sites/{site}/events")).bearer_auth(ADMIN_TOKEN).json(&event).send().await;
                // Only a complete 202 counts as accepted; a request cut by the kill is unknown.
                let Ok(response) = sent else { break };
                if response.status() != 202 {
                    break;
                }
                let Ok(body) = response.json::<Value>().await else { break };
                let mut accepted = accepted.lock().unwrap();
                for id in body["webhook_call_ids"].as_array().unwrap() {
                    accepted.insert(id.as_str().unwrap().to_owned());
                }
                progress_tx.send_replace(accepted.len());
            }
        }));
    }

    tokio::time::timeout(Duration::from_secs(60), progress.wait_for(|n| *n >= 1200))
        .await
        .expect("load reaches 1200 accepted calls")
        .unwrap();
    drop(server); // SIGKILL mid-load, then reap
    dead.store(true, Ordering::SeqCst);
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let accepted: HashSet<String> = accepted.lock().unwrap().clone();
    let delivered_before_restart = receiver.received().len();
    assert!(
        delivered_before_restart < accepted.len(),
        "the kill must land with undelivered calls ({delivered_before_restart} of {} delivered)",
        accepted.len()
    );

    let _restarted = spawn_server(dir.path()).await;
    receiver
        .wait_for_webhook_ids(&accepted, Duration::from_secs(120))
        .await;
    println!(
        "accepted {} calls; {} delivered before the kill; all delivered after restart; {} delivered more than once",
        accepted.len(),
        delivered_before_restart,
        receiver.duplicated_ids()
    );
}
