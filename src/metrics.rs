//! Prometheus metrics, served at `/metrics`. Labels are few and bounded (a target type, an
//! outcome, a job status): never a site, webhook or URL, so a busy server cannot grow the
//! number of series without bound.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::time::now_millis;
use crate::metric_names::{
    BATCH_BUCKETS, DUE_CALLS, JOBS, LATENCY_BUCKETS, OLDEST_DUE_AGE, WRITER_BATCH,
};
use crate::store::{Store, StoreError};

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
        crate::metric_names::describe();
        handle
    })
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
