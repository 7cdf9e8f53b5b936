//! `hookrelay soak`: a bounded run of mixed load on loopback against a flaky, throttling
//! receiver, with the server SIGKILLed and restarted midway. It ends by accounting for
//! every call the server accepted (delivered, failed on purpose, or still scheduled; none
//! missing) and by showing the server's memory over the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};

use super::receiver::{Behaviour, Receiver};
use super::server::{free_port, Launch, Server};

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// How long events are published (the drain comes after).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Steady events a second; every 30 s a burst of ten seconds' worth comes on top.
    #[arg(long, default_value_t = 30)]
    pub rate: u32,
    /// Run on this database instead of a fresh SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const TOKEN: &str = "hr_soak_token_0123456789abcdef";
/// Retries end within about half a minute, so the drain is short.
const RETRY_SCHEDULE: &str = "1s,2s,4s,8s,15s";
/// Above the steady rate, below a burst: bursts wait for their turn.
const RATE_LIMIT: u32 = 60;

#[derive(Debug, Default, Serialize)]
struct SoakReport {
    seconds_published: f64,
    events_accepted: u64,
    publishes_refused: u64,
    calls_accepted: u64,
    delivered: u64,
    failed_on_purpose: u64,
    failed_flaky: u64,
    still_scheduled: u64,
    missing: u64,
    duplicate_deliveries: u64,
    receiver_requests: u64,
    restart_seconds: f64,
    drain_seconds: f64,
    /// (seconds since start, resident MiB) every 10 s; the restart starts a new process.
    memory: Vec<(f64, f64)>,
    memory_first_minute_after_restart_mb: f64,
    memory_last_minute_mb: f64,
}

/// The soak's server on `port` with its data in `data` (the same after the restart).
async fn start_server(
    data: &Path,
    port: u16,
    database_url: Option<&str>,
    client: &reqwest::Client,
) -> anyhow::Result<Server> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("server.log"))?;
    let launch = Launch {
        data_dir: data,
        port,
        admin_token: TOKEN,
        retry_schedule: RETRY_SCHEDULE,
        database_url,
        extra: Vec::new(),
        stderr: log.into(),
    };
    Server::start(launch, client).await
}

/// Accepted calls by id, with the name of their webhook.
type Ledger = Arc<Mutex<HashMap<String, &'static str>>>;

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir()?;
    let port = free_port()?;
    let client = reqwest::Client::new();
    let mut server = start_server(data.path(), port, args.database_url.as_deref(), &client).await?;
    let base = server.base.clone();
    let receiver = Receiver::start(Behaviour::Flaky).await?;
    let api = |path: &str| format!("{base}/api/v1{path}");
    let site: Value = client
        .post(api("/sites"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "soak"}))
        .send()
        .await?
        .json()
        .await?;
    let site = site["id"].as_str().context("site id")?.to_owned();
    let everything = json!([{"entity_type": "item", "event_types": ["*"]}]);
    // Port 1 on loopback refuses connections: its calls fail on purpose.
    let hooks = [
        ("flaky", json!({"url": receiver.url()})),
        (
            "limited",
            json!({"url": receiver.url(), "rate_limit_per_s": RATE_LIMIT}),
        ),
        ("refused", json!({"url": "http://127.0.0.1:1/hook"})),
    ];
    for (name, extra) in &hooks {
        let mut body = json!({"name": name, "triggers": everything});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let created = client
            .post(api(&format!("/sites/{site}/webhooks")))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(created.status().is_success(), "creating {name}");
    }
    // An event's calls come in the order of their webhooks' ids.
    let listed: Value = client
        .get(api(&format!("/sites/{site}/webhooks")))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let order: Vec<&'static str> = listed["data"]
        .as_array()
        .context("webhooks")?
        .iter()
        .filter_map(|h| {
            let name = h["name"].as_str()?;
            hooks.iter().map(|(n, _)| *n).find(|n| *n == name)
        })
        .collect();

    let ledger: Ledger = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishing = tokio::spawn(publish(
        client.clone(),
        api(&format!("/sites/{site}/events")),
        args.rate,
        order,
        ledger.clone(),
        refused.clone(),
        stop.clone(),
    ));

    let mut report = SoakReport::default();
    let mut restarted_at = None;
    let kill_at = args.duration / 2;
    while started.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(10)).await;
        report
            .memory
            .push((started.elapsed().as_secs_f64(), server.rss_mb().0));
        if restarted_at.is_none() && started.elapsed() >= kill_at {
            eprintln!("soak: SIGKILL at {:.0} s", started.elapsed().as_secs_f64());
            let down = Instant::now();
            server.kill()?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            server = start_server(data.path(), port, args.database_url.as_deref(), &client).await?;
            report.restart_seconds = down.elapsed().as_secs_f64();
            restarted_at = Some(started.elapsed().as_secs_f64());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    publishing.await?;
    report.seconds_published = started.elapsed().as_secs_f64();

    let accepted = std::mem::take(&mut *ledger.lock().expect("ledger"));
    let drain = Instant::now();
    let statuses = loop {
        let statuses =
            call_statuses(&client, &api(&format!("/sites/{site}/webhook_calls"))).await?;
        let waiting = accepted
            .keys()
            .filter(|id| statuses.get(*id).is_none_or(|s| s == "pending"))
            .count();
        if waiting == 0 || drain.elapsed() > Duration::from_secs(180) {
            break statuses;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    report.drain_seconds = drain.elapsed().as_secs_f64();
    let arrivals = receiver.arrivals.first_arrivals();
    report.duplicate_deliveries = arrivals.duplicates;
    report.receiver_requests = receiver
        .arrivals
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    report.calls_accepted = accepted.len() as u64;
    report.events_accepted = accepted.len() as u64 / hooks.len() as u64;
    report.publishes_refused = refused.load(std::sync::atomic::Ordering::Relaxed);
    for (id, hook) in &accepted {
        match (statuses.get(id).map(String::as_str), *hook) {
            (Some("success"), _) if arrivals.first.contains_key(id.as_str()) => {
                report.delivered += 1
            }
            (Some("failed"), "refused") => report.failed_on_purpose += 1,
            (Some("failed"), _) => report.failed_flaky += 1,
            (Some("pending"), _) => report.still_scheduled += 1,
            _ => report.missing += 1,
        }
    }
    let restart = restarted_at.unwrap_or(0.0);
    let mean = |from: f64, to: f64| {
        let picked: Vec<f64> = report
            .memory
            .iter()
            .filter(|(t, _)| *t > from && *t <= to)
            .map(|(_, mb)| *mb)
            .collect();
        picked.iter().sum::<f64>() / picked.len().max(1) as f64
    };
    report.memory_first_minute_after_restart_mb = mean(restart + 20.0, restart + 80.0);
    report.memory_last_minute_mb = mean(report.seconds_published - 60.0, f64::MAX);
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    anyhow::ensure!(
        report.missing == 0,
        "{} accepted calls are missing",
        report.missing
    );
    Ok(())
}

/// Publishes `rate` events a second, and a burst of ten seconds' worth every 30 s, until
/// stopped; records each accepted call under its webhook's name.
async fn publish(
    client: reqwest::Client,
    url: String,
    rate: u32,
    order: Vec<&'static str>,
    ledger: Ledger,
    refused: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let order = Arc::new(order);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut n: u64 = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        tick.tick().await;
        n += 1;
        let burst = n.is_multiple_of(30 * u64::from(rate));
        for i in 0..if burst { 10 * rate } else { 1 } {
            let (client, url, order, ledger, refused) = (
                client.clone(),
                url.clone(),
                order.clone(),
                ledger.clone(),
                refused.clone(),
            );
            let event = json!({"entity_type": "item", "event_type": "update",
                               "entity": {"id": format!("{n}-{i}"), "attributes": {"n": n}}});
            tokio::spawn(async move {
                let answer = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&event)
                    .send()
                    .await;
                let published = match answer {
                    Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                    _ => None,
                };
                let Some(published) = published else {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                };
                let ids = published["webhook_call_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut ledger = ledger.lock().expect("ledger");
                for (id, hook) in ids.iter().zip(order.iter()) {
                    if let Some(id) = id.as_str() {
                        ledger.insert(id.to_owned(), hook);
                    }
                }
            });
        }
    }
    // Let the last publishes answer.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Every call's status, read page by page from the activity log.
async fn call_statuses(
    client: &reqwest::Client,
    calls_url: &str,
) -> anyhow::Result<HashMap<String, String>> {
    let mut statuses = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{calls_url}?limit=200&cursor={cursor}"),
            None => format!("{calls_url}?limit=200"),
        };
        let page: Value = client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        for call in page["data"].as_array().context("calls")? {
            if let (Some(id), Some(status)) = (call["id"].as_str(), call["status"].as_str()) {
                statuses.insert(id.to_owned(), status.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(statuses),
        }
    }
}

fn print_report(r: &SoakReport) {
    println!(
        "\nsoak: {:.0} s of publishing, {} events accepted ({} publishes refused, mostly while \
         the server was down), {} calls",
        r.seconds_published, r.events_accepted, r.publishes_refused, r.calls_accepted
    );
    println!(
        "calls: {} delivered, {} failed on purpose (connection refused), {} failed after every \
         retry at the flaky receiver, {} still scheduled, {} missing; {} duplicate deliveries; \
         {} requests at the receiver",
        r.delivered,
        r.failed_on_purpose,
        r.failed_flaky,
        r.still_scheduled,
        r.missing,
        r.duplicate_deliveries,
        r.receiver_requests
    );
    println!(
        "SIGKILL and restart: back in {:.1} s; drain after publishing: {:.0} s",
        r.restart_seconds, r.drain_seconds
    );
    println!(
        "memory: {:.1} MiB in the first minute after the restart, {:.1} MiB in the last minute",
        r.memory_first_minute_after_restart_mb, r.memory_last_minute_mb
    );
    let samples: Vec<String> = r
        .memory
        .iter()
        .map(|(t, mb)| format!("{t:.0}s:{mb:.0}"))
        .collect();
    println!("memory samples (s:MiB): {}", samples.join(" "));
}
