//! `hookrelay bench`: measures the machine's own HTTP limit on loopback, then hookrelay
//! delivering through it, and reports both side by side.
//!
//! The server runs as a child process (so its memory is measured alone); the receiver and
//! the load generator run here. Latency is measured from when an event was *scheduled* to
//! be published to when its call first arrived successfully, so a slow publisher cannot
//! hide queueing delay. Every scenario keeps a ledger: accepted = delivered + missing.

mod receiver;
pub mod soak;
mod table;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::available_cores;
use crate::domain::event::DEFAULT_ENVIRONMENT;
use crate::domain::ids;
use crate::domain::time::now_millis;
use crate::domain::webhook::WebhookSettings;
use crate::store::{ClaimedCall, WebhookRecord};
use crate::targets::http::{send_once_client, HttpSettings, HttpTarget};
use receiver::{Behaviour, FirstArrivals, Receiver};
use reqwest::header::{HeaderName, HeaderValue};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Run hookrelay on this database instead of a fresh SQLite file per scenario.
    #[arg(long)]
    pub database_url: Option<String>,
    /// How long each scenario publishes (and each kind of raw request is sent).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent requests of the raw load generator, and deliveries in flight in hookrelay
    /// (default: the server's own default `--max-in-flight`, so hookrelay runs as shipped).
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_IN_FLIGHT)]
    pub concurrency: usize,
    /// Concurrent publishers in the full-speed scenarios: each sends its next event as soon
    /// as the previous one is accepted. More than the server can deliver builds a backlog.
    #[arg(long, default_value_t = 32)]
    pub publishers: usize,
    /// Only the scenarios whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Runs the scenarios this many times, in turn, and adds each one's medians: on a
    /// shared machine one run's share of the raw limit scatters by ±10 %.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
}

#[derive(Debug, Clone, Copy)]
enum Rate {
    FullSpeed,
    PerSecond(u32),
}

/// What one of a scenario's webhooks does besides delivering to the receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trouble {
    None,
    /// The last webhook's receiver accepts connections and never answers: the others'
    /// latency must not suffer for it (its calls are left out of the ledger).
    BlackHole,
    /// The webhook has this rate limit.
    RateLimit(u32),
}

#[derive(Debug, Clone)]
struct Scenario {
    name: String,
    fan_out: usize,
    body_bytes: usize,
    behaviour: Behaviour,
    rate: Rate,
    trouble: Trouble,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name: &str, fan_out, body_bytes, behaviour, rate| Scenario {
        name: name.to_owned(),
        fan_out,
        body_bytes,
        behaviour,
        rate,
        trouble: Trouble::None,
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

/// One measurement of the raw limit: the generator sends delivery-shaped requests, then
/// bare ones, each for the bench's duration.
#[derive(Debug, Serialize)]
struct RawResult {
    concurrency: usize,
    seconds: f64,
    /// Requests shaped as hookrelay's deliveries (see [`RawRequests::Deliveries`]): the
    /// limit the scenarios are compared with.
    requests_per_s: f64,
    /// Bare 1 KiB POSTs (see [`RawRequests::Bare`]), for comparison.
    bare_requests_per_s: f64,
    /// Cores' worth of CPU the host took from this (virtual) machine meanwhile (the most
    /// during either of the two).
    stolen_cores: f64,
}

/// What the raw load generator sends.
#[derive(Debug, Clone, Copy)]
enum RawRequests {
    /// The requests hookrelay's deliveries are: the same headers, a fresh `webhook-id`
    /// each (which the receiver records, as it does in the scenarios), a 1 KiB body. So
    /// the raw limit is the machine's for this traffic, and a scenario's share of it
    /// measures only what hookrelay adds: storing, scheduling, signing, logging.
    Deliveries,
    /// A 1 KiB JSON POST with only a content type, which the receiver does not record:
    /// the raw limit until round 10 of docs/PERFORMANCE.md, reported beside the other.
    Bare,
}

#[derive(Debug, Default, Serialize)]
struct ScenarioResult {
    name: String,
    fan_out: usize,
    body_bytes: usize,
    events_accepted: u64,
    events_accepted_per_s: f64,
    calls_accepted: u64,
    calls_delivered: u64,
    /// Ran out of retries (the receiver kept failing): hookrelay's log says `failed`.
    calls_failed: u64,
    /// Neither delivered nor failed: lost. Must be 0.
    calls_missing: u64,
    duplicate_deliveries: u64,
    receiver_requests: u64,
    deliveries_per_s: f64,
    /// The raw limit around this scenario: the mean of the measurements just before and
    /// just after it (the machine's own speed drifts during a run, so one taken earlier
    /// would say less about this scenario).
    raw_limit_per_s: f64,
    percent_of_raw_limit: f64,
    /// The same for bare POSTs (see [`RawRequests::Bare`]).
    bare_raw_limit_per_s: f64,
    percent_of_bare_raw_limit: f64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    server_idle_rss_mb: f64,
    server_peak_rss_mb: f64,
    /// CPU the server used from the first publish until every call was accounted for,
    /// in cores (CPU seconds per second); the same for the bench process itself
    /// (publisher and receiver): together they show how much of the machine was busy.
    server_cores: f64,
    bench_cores: f64,
    /// Cores' worth of CPU the host took from this (virtual) machine meanwhile: figures
    /// measured while it did are lower than the machine's own and not comparable.
    stolen_cores: f64,
    /// The most the host took during the two raw measurements around this run.
    raw_stolen_cores: f64,
    /// The webhook's rate limit, when the scenario sets one, and the most calls that
    /// arrived within any one second.
    rate_limit_per_s: Option<u32>,
    busiest_second: u64,
}

impl ScenarioResult {
    /// Whether the host left the machine alone during this run and the raw measurements
    /// around it, so its share of the raw limit compares with other runs'.
    fn is_calm(&self) -> bool {
        self.stolen_cores.max(self.raw_stolen_cores) < STOLEN_WORTH_A_WARNING
    }
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    cores: usize,
    database: String,
    /// Concurrent publishers in the full-speed scenarios.
    publishers: usize,
    /// Every measurement of the raw limit, in order: before the first scenario and after
    /// each one.
    raw_limits: Vec<RawResult>,
    /// Every run of every scenario, in the order they ran.
    scenarios: Vec<ScenarioResult>,
    /// Per scenario run more than once (`--repeat`): the medians of its runs.
    medians: Vec<ScenarioMedians>,
}

#[derive(Debug, Serialize, PartialEq)]
struct ScenarioMedians {
    name: String,
    /// Runs the medians are of.
    runs: usize,
    /// Runs left out because the host took CPU during them (or during a raw measurement
    /// around them); none are left out when it took CPU during every run.
    runs_left_out: usize,
    deliveries_per_s: f64,
    percent_of_raw_limit: f64,
    percent_of_raw_limit_min: f64,
    percent_of_raw_limit_max: f64,
    /// Runs that delivered at least half the raw limit around them.
    runs_at_half_the_raw_limit: usize,
    percent_of_bare_raw_limit: f64,
    latency_ms_p99: f64,
    server_peak_rss_mb: f64,
}

/// The medians of each scenario that ran more than once, in the order scenarios first ran.
fn medians(results: &[ScenarioResult]) -> Vec<ScenarioMedians> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let all: Vec<&ScenarioResult> = results.iter().filter(|r| r.name == name).collect();
            if all.len() < 2 {
                return None;
            }
            let calm: Vec<&ScenarioResult> = all.iter().copied().filter(|r| r.is_calm()).collect();
            let runs = if calm.is_empty() { all.clone() } else { calm };
            let median = |figure: fn(&ScenarioResult) -> f64| {
                let mut values: Vec<f64> = runs.iter().map(|r| figure(r)).collect();
                values.sort_by(f64::total_cmp);
                let middle = values.len() / 2;
                if values.len().is_multiple_of(2) {
                    (values[middle - 1] + values[middle]) / 2.0
                } else {
                    values[middle]
                }
            };
            let percents = runs.iter().map(|r| r.percent_of_raw_limit);
            Some(ScenarioMedians {
                name: name.to_owned(),
                runs: runs.len(),
                runs_left_out: all.len() - runs.len(),
                deliveries_per_s: median(|r| r.deliveries_per_s),
                percent_of_raw_limit: median(|r| r.percent_of_raw_limit),
                percent_of_raw_limit_min: percents.clone().fold(f64::INFINITY, f64::min),
                percent_of_raw_limit_max: percents.clone().fold(0.0, f64::max),
                runs_at_half_the_raw_limit: percents.filter(|&p| p >= 50.0).count(),
                percent_of_bare_raw_limit: median(|r| r.percent_of_bare_raw_limit),
                latency_ms_p99: median(|r| r.latency_ms_p99),
                server_peak_rss_mb: median(|r| r.server_peak_rss_mb),
            })
        })
        .collect()
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let measure_raw = || async {
        eprintln!(
            "measuring the raw loopback limit ({} concurrent, {:?})…",
            args.concurrency, args.duration
        );
        let raw = raw_limit(args.concurrency, args.duration).await?;
        eprintln!(
            "raw limit: {:.0} requests/s ({:.0}/s bare)",
            raw.requests_per_s, raw.bare_requests_per_s
        );
        anyhow::Ok(raw)
    };
    let mut raw_limits = vec![measure_raw().await?];
    let mut results = Vec::new();
    let selected: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|scenario| {
            args.only
                .as_deref()
                .is_none_or(|only| scenario.name.contains(only))
        })
        .collect();
    let repeat = args.repeat.max(1);
    for (run, scenario) in (1..=repeat).flat_map(|run| selected.iter().map(move |s| (run, s))) {
        eprintln!("scenario {} (run {run} of {repeat})…", scenario.name);
        let mut result = on_one_thread(run_scenario(scenario.clone(), args.clone()))
            .await
            .with_context(|| format!("scenario {}", scenario.name))?;
        let after = measure_raw().await?;
        if let Some(before) = raw_limits.last() {
            let around = |limit: fn(&RawResult) -> f64| (limit(before) + limit(&after)) / 2.0;
            result.raw_limit_per_s = around(|raw| raw.requests_per_s);
            result.bare_raw_limit_per_s = around(|raw| raw.bare_requests_per_s);
            result.raw_stolen_cores = before.stolen_cores.max(after.stolen_cores);
        }
        result.percent_of_raw_limit = 100.0 * result.deliveries_per_s / result.raw_limit_per_s;
        result.percent_of_bare_raw_limit =
            100.0 * result.deliveries_per_s / result.bare_raw_limit_per_s;
        raw_limits.push(after);
        results.push(result);
    }
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        cores: available_cores(),
        database: if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
        .to_owned(),
        publishers: args.publishers.max(1),
        raw_limits,
        medians: medians(&results),
        scenarios: results,
    };
    table::print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// An event of about `bytes` bytes, shared by every request that sends it (no copy each).
fn body_of(bytes: usize) -> Bytes {
    let filler = "x".repeat(bytes.saturating_sub(64));
    json!({"entity_type": "item", "event_type": "update", "entity": {"id": "1", "filler": filler}})
        .to_string()
        .into()
}

/// The most the machine does on loopback: N keep-alive clients POSTing 1 KiB to the same
/// minimal receiver hookrelay will deliver to, first shaped as deliveries, then bare.
async fn raw_limit(concurrency: usize, duration: Duration) -> anyhow::Result<RawResult> {
    let deliveries = raw_run(concurrency, duration, RawRequests::Deliveries).await?;
    let bare = raw_run(concurrency, duration, RawRequests::Bare).await?;
    Ok(RawResult {
        concurrency,
        seconds: deliveries.seconds,
        requests_per_s: deliveries.requests_per_s,
        bare_requests_per_s: bare.requests_per_s,
        stolen_cores: deliveries.stolen_cores.max(bare.stolen_cores),
    })
}

struct RawRun {
    seconds: f64,
    requests_per_s: f64,
    stolen_cores: f64,
}

async fn raw_run(
    concurrency: usize,
    duration: Duration,
    requests: RawRequests,
) -> anyhow::Result<RawRun> {
    let receiver = Receiver::start(Behaviour::Instant).await?;
    // hookrelay's own HTTP target: its client, and its requests for the deliveries.
    let target = Arc::new(HttpTarget::new(HttpSettings {
        allow_private_targets: true,
        response_body_limit: 0,
        max_in_flight: concurrency,
    })?);
    let template = Arc::new(requests.template(&target, &receiver.url())?);
    let done = Arc::new(AtomicU64::new(0));
    let ticks_at_start = MachineTicks::now();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, template, done) = (target.clone(), template.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let Some(request) = requests.next(&template) else {
                    return;
                };
                let sent = target.client().execute(request).await;
                if matches!(sent, Ok(r) if r.status().is_success()) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(RawRun {
        seconds,
        requests_per_s: done.load(Ordering::Relaxed) as f64 / seconds,
        stolen_cores: MachineTicks::now().stolen_cores_since(&ticks_at_start, available_cores()),
    })
}

impl RawRequests {
    /// The request every one sent is a copy of: for deliveries, the one hookrelay's HTTP
    /// target makes for a call of a webhook with no headers of its own (signed once: the
    /// signature's cost is hookrelay's, not the machine's).
    fn template(self, target: &HttpTarget, url: &str) -> anyhow::Result<reqwest::Request> {
        let body = body_of(1024);
        if let RawRequests::Bare = self {
            let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse()?);
            request.headers_mut().insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            *request.body_mut() = Some(body.into());
            return Ok(request);
        }
        let webhook = Arc::new(WebhookRecord::new(
            ids::new_id(ids::WEBHOOK),
            ids::new_id(ids::SITE),
            WebhookSettings::new("raw", url),
            RAW_SIGNING_SECRET.into(),
            0,
        ));
        let call = ClaimedCall::fresh(
            ids::new_id(ids::CALL),
            webhook.clone(),
            DEFAULT_ENVIRONMENT.into(),
            body,
        );
        let (request, _) = target
            .request(&call, &webhook, now_millis())
            .map_err(anyhow::Error::msg)?;
        Ok(request)
    }

    /// The next request to send: a copy of `template`; a delivery gets a call id of its
    /// own. `None` if it cannot be copied (its body is a stream: never, here).
    fn next(self, template: &reqwest::Request) -> Option<reqwest::Request> {
        let mut request = template.try_clone()?;
        if let RawRequests::Deliveries = self {
            let id = HeaderValue::try_from(ids::new_id(ids::CALL)).ok()?;
            request.headers_mut().insert(WEBHOOK_ID, id);
        }
        Some(request)
    }
}

/// Signs the raw generator's delivery-shaped requests (the Standard Webhooks example key).
const RAW_SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");

/// A hookrelay server in a child process.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BENCH_TOKEN: &str = "hr_bench_token_0123456789abcdef";

impl Server {
    async fn start(args: &BenchArgs, client: &reqwest::Client) -> anyhow::Result<Server> {
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--data-dir={}", data.path().display()))
            .arg("--allow-private-targets")
            .arg(format!("--max-in-flight={}", args.concurrency))
            .arg("--retry-schedule=100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms")
            .env("HOOKRELAY_ADMIN_TOKEN", BENCH_TOKEN)
            .env("HOOKRELAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = &args.database_url {
            command.arg(format!("--database-url={url}"));
        }
        let child = command.spawn().context("starting hookrelay serve")?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status().is_success() {
                    return Ok(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("hookrelay did not become healthy")
    }

    /// Resident memory (MiB) from /proc: now, and the peak so far.
    fn rss_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// Publishes the scenario's event and remembers, for each call it was accepted with, when
/// it was scheduled.
#[derive(Clone)]
struct Publisher {
    client: reqwest::Client,
    url: String,
    body: Bytes,
    /// Each accepted publish's answer and the instant it was scheduled for, read once the
    /// scenario is over: parsing them meanwhile would take CPU from the server measured.
    accepted: Arc<Mutex<Vec<(Bytes, Instant)>>>,
    /// The position of the call left out of the ledger in each event's calls.
    unlisted: Option<usize>,
}

/// The part of a publish's answer the bench needs.
#[derive(Deserialize)]
struct Published {
    webhook_call_ids: Vec<String>,
}

impl Publisher {
    async fn publish(&self, at: Instant) {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(BENCH_TOKEN)
            .header("content-type", "application/json")
            .body(self.body.clone())
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

/// Runs `work` on a single-threaded runtime of its own. A scenario's publishers and
/// receiver need a fraction of a core; spread over a multi-threaded runtime's workers, they
/// would spend the machine's CPU on waking each other (futexes) instead of leaving it to
/// the server measured. (The raw phase keeps the multi-threaded runtime: it has the
/// machine to itself and needs every core.)
async fn on_one_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-scenario".into())
        .spawn(move || {
            let ran = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(work));
            let _ = done.send(ran);
        })?;
    result
        .await
        .context("the scenario's thread ended without a result")?
}

async fn run_scenario(scenario: Scenario, args: BenchArgs) -> anyhow::Result<ScenarioResult> {
    let (scenario, args) = (&scenario, &args);
    let client = send_once_client().pool_max_idle_per_host(256).build()?;
    let server = Server::start(args, &client).await?;
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
        body: body_of(scenario.body_bytes),
        accepted: Arc::default(),
        unlisted,
    };
    let started = Instant::now();
    let cpu_at_start = (
        cpu_seconds(&server.child.id().to_string()),
        cpu_seconds("self"),
    );
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
    let server_cores =
        (cpu_seconds(&server.child.id().to_string()) - cpu_at_start.0) / busy_seconds;
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

/// CPU time (seconds, user + system) a process has used so far, from `/proc/PID/stat`
/// (`self` for this process); 0 when unreadable.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may contain spaces; the fields after its closing parenthesis are
    // fixed: utime and stime are the 12th and 13th of them (fields 14 and 15 of `stat`).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// The machine's CPU time so far, from the `cpu` line of `/proc/stat`, in ticks: all of
/// it, and the part the host of a virtual machine took for others ("steal").
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MachineTicks {
    all: u64,
    stolen: u64,
}

impl MachineTicks {
    fn now() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    fn parse(stat: &str) -> Self {
        let ticks: Vec<u64> = stat
            .lines()
            .find(|line| line.starts_with("cpu "))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .filter_map(|t| t.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal; the guest fields that follow
        // are already counted in user and nice.
        MachineTicks {
            all: ticks.iter().take(8).sum(),
            stolen: ticks.get(7).copied().unwrap_or(0),
        }
    }

    /// Cores' worth of CPU stolen since `earlier`, on a machine of `cores`.
    fn stolen_cores_since(&self, earlier: &Self, cores: usize) -> f64 {
        let all = self.all.saturating_sub(earlier.all);
        if all == 0 {
            return 0.0;
        }
        cores as f64 * self.stolen.saturating_sub(earlier.stolen) as f64 / all as f64
    }
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

/// Stolen CPU (cores) from which the table warns that its figures are not comparable.
const STOLEN_WORTH_A_WARNING: f64 = 0.1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_generator_sends_deliveries_as_hookrelay_makes_them_each_with_its_own_call_id() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let target = HttpTarget::new(HttpSettings {
            allow_private_targets: true,
            response_body_limit: 0,
            max_in_flight: 1,
        })
        .unwrap();
        let url = "http://127.0.0.1:9/hook";
        let template = RawRequests::Deliveries.template(&target, url).unwrap();
        let (first, second) = (
            RawRequests::Deliveries.next(&template).unwrap(),
            RawRequests::Deliveries.next(&template).unwrap(),
        );
        let mut names: Vec<&str> = first.headers().keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-type",
                "user-agent",
                "webhook-id",
                "webhook-signature",
                "webhook-timestamp",
                "x-environment",
                "x-site-id",
                "x-webhook-id"
            ]
        );
        assert_ne!(
            first.headers()["webhook-id"],
            second.headers()["webhook-id"]
        );
        assert_eq!(first.url().as_str(), url);
        assert!(first.timeout().is_some(), "sent with the webhook's timeout");
        let body = first.body().and_then(|b| b.as_bytes()).unwrap();
        assert!((1000..1100).contains(&body.len()), "{}", body.len());
        let bare = RawRequests::Bare
            .next(&RawRequests::Bare.template(&target, url).unwrap())
            .unwrap();
        assert_eq!(bare.headers().len(), 1);
        assert_eq!(bare.body().and_then(|b| b.as_bytes()), Some(body));
    }

    fn run_of(name: &str, percent: f64, p99: f64) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            deliveries_per_s: percent * 100.0,
            percent_of_raw_limit: percent,
            percent_of_bare_raw_limit: percent / 2.0,
            latency_ms_p99: p99,
            ..ScenarioResult::default()
        }
    }

    #[test]
    fn medians_cover_each_repeated_scenario_in_the_order_it_first_ran() {
        let runs = [
            run_of("b", 40.0, 10.0),
            run_of("a", 70.0, 1.0),
            run_of("b", 55.0, 30.0),
            run_of("b", 60.0, 20.0),
        ];
        let found = medians(&runs);
        assert_eq!(found.len(), 1, "a scenario run once has no medians");
        let b = &found[0];
        assert_eq!((b.name.as_str(), b.runs), ("b", 3));
        assert_eq!(b.percent_of_raw_limit, 55.0);
        assert_eq!(b.deliveries_per_s, 5500.0);
        assert_eq!(
            (b.percent_of_raw_limit_min, b.percent_of_raw_limit_max),
            (40.0, 60.0)
        );
        assert_eq!(b.runs_at_half_the_raw_limit, 2);
        assert_eq!(b.percent_of_bare_raw_limit, 27.5);
        assert_eq!(b.latency_ms_p99, 20.0);
        let mut stolen = run_of("b", 10.0, 99.0);
        stolen.raw_stolen_cores = 0.5;
        let with_stolen: Vec<ScenarioResult> = runs.into_iter().chain([stolen]).collect();
        let calm = &medians(&with_stolen)[0];
        assert_eq!(
            (calm.runs, calm.runs_left_out),
            (3, 1),
            "a run with CPU stolen is left out"
        );
        assert_eq!(calm.percent_of_raw_limit, 55.0);
        let mut all_stolen = vec![run_of("c", 30.0, 1.0), run_of("c", 40.0, 1.0)];
        all_stolen.iter_mut().for_each(|r| r.stolen_cores = 0.3);
        let fallback = &medians(&all_stolen)[0];
        assert_eq!(
            (fallback.runs, fallback.runs_left_out),
            (2, 0),
            "unless every run had some"
        );
        let even = medians(&with_stolen[..3]);
        assert_eq!(
            even[0].percent_of_raw_limit, 47.5,
            "an even count takes the mean of the middle two"
        );
    }

    #[test]
    fn stolen_cpu_is_read_from_the_machine_line_of_proc_stat() {
        let before = MachineTicks::parse(
            "cpu  100 0 50 800 10 0 20 20 7 0\ncpu0 50 0 25 400 5 0 10 10 0 0\n",
        );
        assert_eq!(
            before,
            MachineTicks {
                all: 1000,
                stolen: 20
            }
        );
        let after = MachineTicks::parse("cpu  300 0 150 1300 10 0 20 220 9 0\n");
        // 1000 ticks went by, 200 of them stolen: a fifth of each of two cores.
        assert!((after.stolen_cores_since(&before, 2) - 0.4).abs() < 1e-9);
        assert_eq!(after.stolen_cores_since(&after, 2), 0.0);
        assert_eq!(MachineTicks::parse("no such line"), MachineTicks::default());
    }
}
