//! `hookrelay bench`: measures the machine's own HTTP limit on loopback, then hookrelay
//! delivering through it, and reports both side by side.
//!
//! The server runs as a child process (so its memory is measured alone); the receiver and
//! the load generator run here. Latency is measured from when an event was *scheduled* to
//! be published to when its call first arrived successfully, so a slow publisher cannot
//! hide queueing delay. Every scenario keeps a ledger: accepted = delivered + missing.

mod machine;
mod raw;
mod receiver;
mod report;
mod scenarios;
mod server;
pub mod soak;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::available_cores;
use raw::{raw_limit, RawResult};
use report::{medians, ordering_costs, Report};
use scenarios::{run_scenario, scenarios, Scenario};

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
    /// Only the scenarios whose name contains this (or one of these, comma-separated:
    /// `--only fanout10-0ms-1KiB-max,ordered`).
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
                .is_none_or(|only| only.split(',').any(|part| scenario.name.contains(part)))
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
        ordering_costs: ordering_costs(&results),
        scenarios: results,
    };
    table::print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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
