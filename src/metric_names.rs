//! The names of hookrelay's metrics, their buckets and what each means: a leaf that every
//! layer recording a metric uses, apart from `metrics.rs`, which reads the store to render
//! them (so the store recording a metric does not import what imports the store).

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
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0, 36000.0, 86400.0,
];
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

pub fn describe() {
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
