//! Prometheus metrics, served at `/metrics`. Labels are few and bounded (a target type, an
//! outcome, a job status): never a site, webhook or URL, so a busy server cannot grow the
//! number of series without bound.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::time::now_millis;
use crate::store::{Store, StoreError};

pub const CALLS_ACCEPTED: &str = "hookrelay_calls_accepted_total";
pub const ATTEMPTS: &str = "hookrelay_attempts_total";
pub const CALLS_FAILED: &str = "hookrelay_calls_failed_total";
pub const DELIVERY_LATENCY: &str = "hookrelay_delivery_latency_seconds";
pub const ATTEMPT_DURATION: &str = "hookrelay_attempt_duration_seconds";
pub const DUE_CALLS: &str = "hookrelay_due_calls";
pub const OLDEST_DUE_AGE: &str = "hookrelay_oldest_due_call_age_seconds";
pub const WRITER_BATCH: &str = "hookrelay_writer_batch_size";
pub const JOBS: &str = "hookrelay_jobs";
pub const JOBS_FINISHED: &str = "hookrelay_jobs_finished_total";
pub const REQUESTS_SHED: &str = "hookrelay_requests_shed_total";
pub const REQUESTS_THROTTLED: &str = "hookrelay_requests_throttled_total";
pub const CONNECTIONS_REFUSED: &str = "hookrelay_connections_refused_total";

/// Seconds, from a loopback millisecond to a day of retries.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0, 36000.0, 86400.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder, installed on first use (once, however many servers a test
/// process starts).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(WRITER_BATCH.into()),
                    BATCH_BUCKETS,
                )
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (an embedding program's): then ours
        // still renders what it is given directly, and the rest goes to theirs.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(CALLS_ACCEPTED, "Webhook calls created by accepted events");
    describe_counter!(ATTEMPTS, "Delivery attempts, by target type and outcome");
    describe_counter!(
        CALLS_FAILED,
        "Calls given up on (retries used up, or not sendable)"
    );
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "From an event's acceptance to its call's successful delivery"
    );
    describe_histogram!(ATTEMPT_DURATION, Unit::Seconds, "How long one attempt took");
    describe_gauge!(DUE_CALLS, "Calls due now and not yet claimed");
    describe_gauge!(
        OLDEST_DUE_AGE,
        Unit::Seconds,
        "How long the oldest due call has waited"
    );
    describe_histogram!(
        WRITER_BATCH,
        "Write jobs committed together in one transaction"
    );
    describe_gauge!(JOBS, "Jobs waiting or running, by status");
    describe_counter!(JOBS_FINISHED, "Jobs that ended, by status");
    describe_counter!(
        REQUESTS_SHED,
        "API requests answered 503 at once because too many were in flight"
    );
    describe_counter!(
        REQUESTS_THROTTLED,
        "Public requests (hook triggers, form posts, sign-ins) answered 429, by what they were"
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at once: too many open in all, or from one client"
    );
}

/// Histogram samples wait in a buffer until drained; drained every few seconds here, so
/// a server that nobody scrapes does not hold every latency it ever measured.
pub async fn upkeep(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle().run_upkeep(),
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// The text format, with the gauges read from the database now (reads only).
pub async fn render(store: &Store) -> Result<String, StoreError> {
    let handle = handle();
    let now = now_millis();
    let (due, oldest) = store.due_calls(now).await?;
    metrics::gauge!(DUE_CALLS).set(due as f64);
    metrics::gauge!(OLDEST_DUE_AGE).set(oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0));
    for (status, count) in store.active_jobs().await? {
        metrics::gauge!(JOBS, "status" => status).set(count as f64);
    }
    handle.run_upkeep();
    Ok(handle.render())
}
