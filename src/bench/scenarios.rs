//! The scenarios: what each publishes, to how many webhooks of what kind, at what rate;
//! and one scenario's run against a fresh server, with its ledger (accepted = delivered
//! + failed by design + missing).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::machine::{cpu_seconds, MachineTicks};
use super::raw::body_of;
use super::receiver::{self, Behaviour, FirstArrivals, Receiver};
use super::report::ScenarioResult;
use super::server::{free_port, Launch, Server};
use super::BenchArgs;
use crate::config::available_cores;
use crate::targets::http::send_once_client;

/// The unordered scenario an ordered one is compared with: the same but for ordering.
const UNORDERED_TWIN: &str = "fanout10-0ms-1KiB-max";

const BENCH_TOKEN: &str = "hr_bench_token_0123456789abcdef";

#[derive(Debug, Clone, Copy)]
pub(super) enum Rate {
    FullSpeed,
    PerSecond(u32),
}

/// What one of a scenario's webhooks does besides delivering to the receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Trouble {
    None,
    /// The last webhook's receiver accepts connections and never answers: the others'
    /// latency must not suffer for it (its calls are left out of the ledger).
    BlackHole,
    /// The webhook has this rate limit.
    RateLimit(u32),
}

#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub(super) name: String,
    pub(super) fan_out: usize,
    pub(super) body_bytes: usize,
    pub(super) behaviour: Behaviour,
    pub(super) rate: Rate,
    pub(super) trouble: Trouble,
    /// Webhooks with `key` ordering, and events spread evenly over this many entities
    /// (keys); `None`: unordered, every event about one entity.
    pub(super) ordering_keys: Option<usize>,
}

pub(super) fn scenarios() -> Vec<Scenario> {
    let s = |name: &str, fan_out, body_bytes, behaviour, rate| Scenario {
        name: name.to_owned(),
        fan_out,
        body_bytes,
        behaviour,
        rate,
        trouble: Trouble::None,
        ordering_keys: None,
    };
    let kib = 1024;
    vec![
        s(
            "fanout1-0ms-1KiB-max",
            1,
            kib,
            Behaviour::Instant,
            Rate::FullSpeed,
        ),
        s(
            "fanout10-0ms-1KiB-max",
            10,
            kib,
            Behaviour::Instant,
            Rate::FullSpeed,
        ),
        // Beside the one above: what delivering each key's calls in order costs.
        Scenario {
            ordering_keys: Some(1000),
            ..s(
                "fanout10-ordered-1000keys-max",
                10,
                kib,
                Behaviour::Instant,
                Rate::FullSpeed,
            )
        },
        s(
            "fanout10-0ms-1KiB-1000/s",
            10,
            kib,
            Behaviour::Instant,
            Rate::PerSecond(1000),
        ),
        s(
            "fanout10-100ms-1KiB-100/s",
            10,
            kib,
            Behaviour::Slow(Duration::from_millis(100)),
            Rate::PerSecond(100),
        ),
        s(
            "fanout10-50%fail-1KiB-100/s",
            10,
            kib,
            Behaviour::HalfFailing,
            Rate::PerSecond(100),
        ),
        s(
            "fanout1-0ms-64KiB-max",
            1,
            64 * kib,
            Behaviour::Instant,
            Rate::FullSpeed,
        ),
        // The next two compare the healthy webhooks' latency with and without a black hole.
        s(
            "fanout10-0ms-1KiB-100/s",
            10,
            kib,
            Behaviour::Instant,
            Rate::PerSecond(100),
        ),
        Scenario {
            trouble: Trouble::BlackHole,
            ..s(
                "fanout10-1blackhole-1KiB-100/s",
                10,
                kib,
                Behaviour::Instant,
                Rate::PerSecond(100),
            )
        },
        Scenario {
            trouble: Trouble::RateLimit(200),
            ..s(
                "ratelimit200-0ms-1KiB-400/s",
                1,
                kib,
                Behaviour::Instant,
                Rate::PerSecond(400),
            )
        },
    ]
}

/// Publishes the scenario's event and remembers, for each call it was accepted with, when
/// it was scheduled.
#[derive(Clone)]
struct Publisher {
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    /// The bodies published in turn (one per ordering key), built before the clock starts.
    pub(super) bodies: Arc<[Bytes]>,
    pub(super) next_body: Arc<std::sync::atomic::AtomicUsize>,
    /// Each accepted publish's answer and the instant it was scheduled for, read once the
    /// scenario is over: parsing them meanwhile would take CPU from the server measured.
    pub(super) accepted: Arc<Mutex<Vec<(Bytes, Instant)>>>,
    /// The position of the call left out of the ledger in each event's calls.
    pub(super) unlisted: Option<usize>,
}

/// The part of a publish's answer the bench needs.
#[derive(Deserialize)]
struct Published {
    pub(super) webhook_call_ids: Vec<String>,
}

impl Publisher {
    async fn publish(&self, at: Instant) {
        let turn = self.next_body.fetch_add(1, Ordering::Relaxed);
        let body = self.bodies[turn % self.bodies.len()].clone();
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(BENCH_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let Ok(response) = response else { return };
        if !response.status().is_success() {
            return;
        }
        let Ok(answer) = response.bytes().await else {
            return;
        };
        let mut accepted = self.accepted.lock().expect("accepted lock");
        accepted.push((answer, at));
    }

    /// Events accepted, and the scheduled instant of every call they made.
    fn accepted_calls(&self) -> (u64, Vec<(String, Instant)>) {
        let accepted = std::mem::take(&mut *self.accepted.lock().expect("accepted lock"));
        let mut events = 0;
        let mut calls = Vec::new();
        for (answer, at) in accepted {
            if let Ok(published) = serde_json::from_slice::<Published>(&answer) {
                events += 1;
                let listed = published
                    .webhook_call_ids
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != self.unlisted);
                calls.extend(listed.map(|(_, id)| (id, at)));
            }
        }
        (events, calls)
    }
}

/// This scenario's server: a fresh SQLite file (or the given database), as shipped but
/// for short retries and the bench's concurrency.
async fn start_server(
    args: &BenchArgs,
    data: &std::path::Path,
    client: &reqwest::Client,
) -> anyhow::Result<Server> {
    let launch = Launch {
        data_dir: data,
        port: free_port()?,
        admin_token: BENCH_TOKEN,
        retry_schedule: "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
        database_url: args.database_url.as_deref(),
        extra: vec![format!("--max-in-flight={}", args.concurrency)],
        stderr: std::process::Stdio::inherit(),
    };
    Server::start(launch, client).await
}

pub(super) async fn run_scenario(
    scenario: Scenario,
    args: BenchArgs,
) -> anyhow::Result<ScenarioResult> {
    let (scenario, args) = (&scenario, &args);
    let client = send_once_client().pool_max_idle_per_host(256).build()?;
    let data = tempfile::tempdir()?;
    let server = start_server(args, data.path(), &client).await?;
    let receiver = Receiver::start(scenario.behaviour).await?;
    let black_hole = receiver::BlackHole::start().await?;
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let site: serde_json::Value = client
        .post(api("/sites"))
        .bearer_auth(BENCH_TOKEN)
        .json(&json!({"name": scenario.name}))
        .send()
        .await?
        .json()
        .await?;
    let site = site["id"].as_str().context("site id")?.to_owned();
    for i in 0..scenario.fan_out {
        let mut webhook = json!({"name": format!("r{i}"), "url": receiver.url(), "triggers": [{"entity_type": "item", "event_types": ["*"]}]});
        match scenario.trouble {
            Trouble::BlackHole if i + 1 == scenario.fan_out => {
                webhook["url"] = black_hole.url().into();
                webhook["name"] = "black hole".into();
            }
            Trouble::RateLimit(per_s) => webhook["rate_limit_per_s"] = per_s.into(),
            _ => {}
        }
        if scenario.ordering_keys.is_some() {
            webhook["ordering"] = "key".into();
        }
        let created = client
            .post(api(&format!("/sites/{site}/webhooks")))
            .bearer_auth(BENCH_TOKEN)
            .json(&webhook)
            .send()
            .await?;
        anyhow::ensure!(
            created.status().is_success(),
            "creating a webhook: {}",
            created.status()
        );
    }
    let (idle_rss, _) = server.rss_mb();
    // An event's calls are listed in the order of their webhooks' ids.
    let hooks: serde_json::Value = client
        .get(api(&format!("/sites/{site}/webhooks")))
        .bearer_auth(BENCH_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let unlisted = hooks["data"]
        .as_array()
        .and_then(|hooks| hooks.iter().position(|h| h["name"] == "black hole"));

    // Publish: the scheduled instant of every accepted call, by call id.
    let publisher = Publisher {
        client: client.clone(),
        url: api(&format!("/sites/{site}/events")),
        bodies: match scenario.ordering_keys {
            Some(keys) => (0..keys)
                .map(|k| body_of(scenario.body_bytes, &format!("k{k}")))
                .collect(),
            None => [body_of(scenario.body_bytes, "1")].into(),
        },
        next_body: Arc::default(),
        accepted: Arc::default(),
        unlisted,
    };
    let started = Instant::now();
    let cpu_at_start = (cpu_seconds(&server.pid().to_string()), cpu_seconds("self"));
    let ticks_at_start = MachineTicks::now();
    let stop = Arc::new(AtomicBool::new(false));
    match scenario.rate {
        Rate::FullSpeed => {
            let mut publishers = Vec::new();
            for _ in 0..args.publishers.max(1) {
                let (publisher, stop) = (publisher.clone(), stop.clone());
                publishers.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        publisher.publish(Instant::now()).await;
                    }
                }));
            }
            tokio::time::sleep(args.duration).await;
            stop.store(true, Ordering::Relaxed);
            for p in publishers {
                p.await?;
            }
        }
        Rate::PerSecond(rate) => {
            // Open loop: each event is sent at its scheduled time whatever the previous
            // ones are doing, and latency counts from that schedule.
            let total = (rate as f64 * args.duration.as_secs_f64()) as u64;
            let mut inflight = Vec::with_capacity(total as usize);
            for i in 0..total {
                let at = started + Duration::from_secs_f64(i as f64 / rate as f64);
                tokio::time::sleep_until(at.into()).await;
                let publisher = publisher.clone();
                inflight.push(tokio::spawn(async move { publisher.publish(at).await }));
            }
            for task in inflight {
                task.await?;
            }
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();

    // Drain: wait until every accepted call arrived or ran out of retries, within a bound.
    let (events, expected) = publisher.accepted_calls();
    let calls_url = api(&format!("/sites/{site}/webhook_calls"));
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    let mut failed = 0;
    let mut last_failed_check = Instant::now();
    loop {
        // Counting repeats, every call may have arrived; without them, it is certain.
        let received = receiver.arrivals.received();
        if received + failed >= expected.len() as u64
            && receiver.arrivals.first_arrivals().first.len() as u64 + failed
                >= expected.len() as u64
            || Instant::now() >= drain_deadline
        {
            break;
        }
        if scenario.behaviour == Behaviour::HalfFailing
            && last_failed_check.elapsed() > Duration::from_millis(250)
        {
            failed = count_failed(&client, &calls_url).await?;
            last_failed_check = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy_seconds = started.elapsed().as_secs_f64().max(1e-9);
    let server_cores = (cpu_seconds(&server.pid().to_string()) - cpu_at_start.0) / busy_seconds;
    let bench_cores = (cpu_seconds("self") - cpu_at_start.1) / busy_seconds;
    let stolen_cores = MachineTicks::now().stolen_cores_since(&ticks_at_start, available_cores());
    let failed = count_failed(&client, &calls_url).await?;
    let (_, peak_rss) = server.rss_mb();
    let FirstArrivals { first, duplicates } = receiver.arrivals.first_arrivals();
    let mut latencies: Vec<f64> = Vec::with_capacity(expected.len());
    let mut last_arrival = started;
    for (id, at) in &expected {
        if let Some(arrived) = first.get(id.as_str()) {
            latencies.push(arrived.saturating_duration_since(*at).as_secs_f64() * 1000.0);
            last_arrival = last_arrival.max(*arrived);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let mut arrivals: Vec<Instant> = first.values().copied().collect();
    arrivals.sort();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        latencies[rank]
    };
    let delivered = latencies.len() as u64;
    Ok(ScenarioResult {
        name: scenario.name.clone(),
        fan_out: scenario.fan_out,
        body_bytes: scenario.body_bytes,
        events_accepted: events,
        events_accepted_per_s: events as f64 / publish_seconds,
        calls_accepted: expected.len() as u64,
        calls_delivered: delivered,
        calls_failed: failed,
        calls_missing: (expected.len() as u64).saturating_sub(delivered + failed),
        duplicate_deliveries: duplicates,
        receiver_requests: receiver.arrivals.requests.load(Ordering::Relaxed),
        deliveries_per_s: delivered as f64
            / last_arrival.duration_since(started).as_secs_f64().max(1e-9),
        latency_ms_p50: percentile(50.0),
        latency_ms_p90: percentile(90.0),
        latency_ms_p99: percentile(99.0),
        latency_ms_max: latencies.last().copied().unwrap_or(0.0),
        server_idle_rss_mb: idle_rss,
        server_peak_rss_mb: peak_rss,
        server_cores,
        bench_cores,
        stolen_cores,
        rate_limit_per_s: match scenario.trouble {
            Trouble::RateLimit(per_s) => Some(per_s),
            _ => None,
        },
        busiest_second: busiest_second(&arrivals),
        unordered_twin: scenario.ordering_keys.map(|_| UNORDERED_TWIN.to_owned()),
        // The raw limit's figures are added once it has been measured again.
        ..ScenarioResult::default()
    })
}

/// The most of `sorted` instants within any one second.
fn busiest_second(sorted: &[Instant]) -> u64 {
    let mut start = 0;
    let mut most = 0;
    for (end, at) in sorted.iter().enumerate() {
        while *at - sorted[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most as u64
}

/// Calls hookrelay marked `failed` (retries used up), counted through its own API.
async fn count_failed(client: &reqwest::Client, calls_url: &str) -> anyhow::Result<u64> {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{calls_url}?status=failed&limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = client
            .get(&url)
            .bearer_auth(BENCH_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        count += page["data"].as_array().map_or(0, Vec::len) as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(count),
        }
    }
}
