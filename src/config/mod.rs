//! Server configuration: flags, then `HOOKRELAY_*` environment variables, then a TOML
//! file (`--config`, see `file.rs`), then defaults.

pub mod file;
pub mod limits;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use crate::domain::retry::{RetrySchedule, DEFAULT_SCHEDULE};
use crate::domain::webhook::MAX_TIMEOUT_MS;
use crate::store::Dialect;

/// Deliveries in flight per process unless told otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Where SQLite data lives when no --database-url is given.
    #[arg(long, env = "HOOKRELAY_DATA_DIR", default_value = "./hookrelay-data")]
    pub data_dir: PathBuf,

    /// `postgres://user:pass@host:port/db` to scale out, or `sqlite://PATH`.
    /// Default: a SQLite file in --data-dir.
    #[arg(long, env = "HOOKRELAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Database connections per process (readers, on SQLite).
    #[arg(long, env = "HOOKRELAY_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,
}

/// What a `serve` process does, so API and delivery capacity scale separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeRole {
    /// The management API only (plus /healthz); delivers nothing.
    Api,
    /// Delivery only; its listener answers /healthz and nothing else.
    Worker,
    /// Both (the default, and all a single machine needs).
    Both,
}

impl NodeRole {
    pub fn serves_api(self) -> bool {
        matches!(self, NodeRole::Api | NodeRole::Both)
    }

    pub fn delivers(self) -> bool {
        matches!(self, NodeRole::Worker | NodeRole::Both)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file of settings, by their long names (`listen = "0.0.0.0:8080"`); flags
    /// and environment variables override it.
    #[arg(long, env = "HOOKRELAY_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address the HTTP API listens on.
    #[arg(long, env = "HOOKRELAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// api, worker or both.
    #[arg(long, env = "HOOKRELAY_ROLE", value_enum, default_value_t = NodeRole::Both)]
    pub role: NodeRole,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Owner token to ensure exists (for scripts and tests). Without it, the first start
    /// creates one and prints it once.
    #[arg(long, env = "HOOKRELAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The key that seals stored secrets (tokens, passwords, header values): base64 of 32
    /// bytes. Default: read from --secret-key-file.
    #[arg(long, env = "HOOKRELAY_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Where the secret key is kept (default `<data dir>/secret.key`); made on the first
    /// start when missing. Every process of a cluster needs the same key.
    #[arg(long, env = "HOOKRELAY_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Waits between attempts after each failure, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    #[arg(long, env = "HOOKRELAY_RETRY_SCHEDULE", default_value = DEFAULT_SCHEDULE, value_parser = RetrySchedule::parse)]
    pub retry_schedule: RetrySchedule,

    /// How long a worker holds a claimed call before another may take it.
    #[arg(long, env = "HOOKRELAY_LEASE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub lease: Duration,

    /// Longest idle wait before looking for due calls again.
    #[arg(long, env = "HOOKRELAY_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// Calls claimed per database round trip at most (rounded down to a power of two).
    #[arg(long, env = "HOOKRELAY_CLAIM_BATCH", default_value_t = 128)]
    pub claim_batch: u32,

    /// Deliveries in flight at once, per process (each holds a connection; see
    /// docs/DECISIONS.md for why 512).
    #[arg(long, env = "HOOKRELAY_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,

    /// Deliveries in flight at once to one webhook, per process (0: half of
    /// --max-in-flight): a receiver that hangs holds this many slots, never all of them.
    #[arg(
        long,
        env = "HOOKRELAY_MAX_IN_FLIGHT_PER_ENDPOINT",
        default_value_t = 0
    )]
    pub max_in_flight_per_endpoint: usize,

    /// Threads running the deliveries (and jobs). Default: one per core, less one on
    /// SQLite, whose writer thread needs a core of its own under load.
    #[arg(long, env = "HOOKRELAY_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,

    /// Threads serving the API, apart from the deliveries', so a publish never waits in
    /// their run queue. Default: one per four cores, at least one (with `--role api`, one
    /// per core).
    #[arg(long, env = "HOOKRELAY_API_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub api_threads: Option<u16>,

    /// On SIGTERM, how long in-flight deliveries may finish before being handed back.
    #[arg(long, env = "HOOKRELAY_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Allow webhooks to loopback, private and reserved addresses. Off by default so
    /// tenants cannot reach the operator's internal network; turn on for local testing.
    #[arg(long, env = "HOOKRELAY_ALLOW_PRIVATE_TARGETS", action = ArgAction::SetTrue)]
    pub allow_private_targets: bool,

    /// Base URL under which this server is reachable, for the build hook URLs it hands out
    /// (default: `http://` and the listen address).
    #[arg(long, env = "HOOKRELAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Jobs (builds, previews, syncs) run at once by this process.
    #[arg(long, env = "HOOKRELAY_MAX_JOBS", default_value_t = 2)]
    pub max_jobs: usize,

    /// How often a running job's log is saved and its cancel flag read.
    #[arg(long, env = "HOOKRELAY_JOB_HEARTBEAT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub job_heartbeat: Duration,

    /// On PostgreSQL, a running job not heard from for this long is failed (its process died).
    #[arg(long, env = "HOOKRELAY_JOB_ORPHAN_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    pub job_orphan_after: Duration,

    /// Largest API request body accepted, in bytes.
    #[arg(long, env = "HOOKRELAY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// API and build-hook requests handled at once; beyond it a request is answered 503
    /// with `Retry-After` at once, so overload cannot grow memory without bound.
    #[arg(long, env = "HOOKRELAY_MAX_REQUESTS_IN_FLIGHT", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_in_flight: u32,

    /// Days the activity log keeps request and response bodies and attempts; older ones
    /// are pruned (the calls' summaries stay). 0 keeps everything.
    #[arg(long, env = "HOOKRELAY_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,

    /// A webhook whose calls have all failed this long is disabled and its pending calls
    /// paused (`5d`, `36h`, `never`); a webhook's own `disable_after` overrides it.
    #[arg(long, env = "HOOKRELAY_DISABLE_AFTER", default_value = "5d",
          value_parser = crate::domain::webhook::parse_duration_or_never)]
    pub disable_after: u64,

    /// How often failing webhooks are checked against their `disable_after`.
    #[arg(long, env = "HOOKRELAY_HEALTH_CHECK_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub health_check_interval: Duration,

    /// Response bodies are kept in the activity log up to this many bytes.
    #[arg(long, env = "HOOKRELAY_RESPONSE_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub response_body_limit: usize,

    #[command(flatten)]
    pub limits: limits::LimitArgs,
}

impl DatabaseArgs {
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::store::Store::sqlite_url(&self.data_dir))
    }
}

impl ServeArgs {
    /// `--worker-threads`, or the default for this machine and database.
    pub fn worker_threads(&self) -> usize {
        let cores = available_cores();
        match self.worker_threads {
            Some(threads) => threads.into(),
            None if Dialect::of_url(&self.database.url()) == Some(Dialect::Postgres) => cores,
            // On 2 cores, measured: the same throughput with one worker thread as with two,
            // and 20-30 % less CPU (see docs/PERFORMANCE.md).
            None => cores.saturating_sub(1).max(1),
        }
    }

    pub fn api_threads(&self) -> usize {
        let cores = available_cores();
        match self.api_threads {
            Some(threads) => threads.into(),
            // A node that only serves the API has nothing else to run.
            None if !self.role.delivers() => cores,
            None => (cores / 4).max(1),
        }
    }

    /// Cross-field checks clap cannot express.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.lease < Duration::from_secs(1) {
            anyhow::bail!("--lease must be at least 1s");
        }
        if self.lease <= Duration::from_millis(MAX_TIMEOUT_MS) {
            // Allowed (tests use short leases), but a receiver slower than the lease may then
            // get the same call twice.
            tracing::warn!(lease = ?self.lease, "--lease is not longer than the longest webhook timeout (60s)");
        }
        if self.claim_batch == 0 || self.max_in_flight == 0 || self.max_jobs == 0 {
            anyhow::bail!("--claim-batch, --max-in-flight and --max-jobs must be at least 1");
        }
        if self.job_orphan_after <= self.job_heartbeat * 2 {
            anyhow::bail!("--job-orphan-after must be more than twice --job-heartbeat");
        }
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                anyhow::bail!("HOOKRELAY_ADMIN_TOKEN must be at least 16 characters");
            }
        }
        Ok(())
    }
}

impl ServeArgs {
    /// Deliveries in flight to one webhook at most (see `--max-in-flight-per-endpoint`).
    pub fn endpoint_cap(&self) -> usize {
        match self.max_in_flight_per_endpoint {
            0 => (self.max_in_flight / 2).max(1),
            cap => cap,
        }
    }

    /// The effective settings as TOML-like lines, secrets hidden (for `config check`).
    pub fn describe(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let database = match &self.database.database_url {
            Some(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some(crate::domain::redact::MASK));
                    }
                    parsed.to_string()
                }
                Err(_) => "(unparsable URL)".into(),
            },
            None => format!("sqlite in {}", self.database.data_dir.display()),
        };
        [
            format!("listen = {}", self.listen),
            format!("role = {:?}", self.role).to_lowercase(),
            format!("database = {database}"),
            format!("db-pool-size = {}", self.database.db_pool_size),
            format!(
                "admin-token = {}",
                if self.admin_token.is_some() {
                    "(set, hidden)"
                } else {
                    "(none)"
                }
            ),
            format!(
                "secret-key = {}",
                match (&self.secret_key, &self.secret_key_file) {
                    (Some(_), _) => "(set, hidden)".to_owned(),
                    (None, Some(file)) => format!("from {}", file.display()),
                    (None, None) => format!(
                        "from {}",
                        self.database.data_dir.join("secret.key").display()
                    ),
                }
            ),
            format!("retry-schedule = {}", self.retry_schedule),
            format!("lease = {}", d(self.lease)),
            format!("poll-interval = {}", d(self.poll_interval)),
            format!("claim-batch = {}", self.claim_batch),
            format!("max-in-flight = {}", self.max_in_flight),
            format!("max-in-flight-per-endpoint = {}", self.endpoint_cap()),
            format!("worker-threads = {}", self.worker_threads()),
            format!("api-threads = {}", self.api_threads()),
            format!("shutdown-grace = {}", d(self.shutdown_grace)),
            format!("allow-private-targets = {}", self.allow_private_targets),
            format!(
                "public-url = {}",
                self.public_url.as_deref().unwrap_or("(the listen address)")
            ),
            format!("max-jobs = {}", self.max_jobs),
            format!("job-heartbeat = {}", d(self.job_heartbeat)),
            format!("job-orphan-after = {}", d(self.job_orphan_after)),
            format!("max-body-bytes = {}", self.max_body_bytes),
            format!("max-requests-in-flight = {}", self.max_requests_in_flight),
            format!("response-body-limit = {}", self.response_body_limit),
            format!("retention-days = {}", self.retention_days),
            format!(
                "disable-after = {}",
                crate::domain::webhook::format_disable_after(self.disable_after)
            ),
            format!("health-check-interval = {}", d(self.health_check_interval)),
        ]
        .into_iter()
        .chain(self.limits.describe())
        .collect::<Vec<_>>()
        .join("\n")
    }
}

/// The cores this process may run on (1 when that cannot be told).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: super::ServeArgs,
    }

    fn serve(args: &[&str]) -> Result<super::ServeArgs, clap::Error> {
        Serve::try_parse_from([&["serve"], args].concat()).map(|s| s.args)
    }

    fn worker_threads(args: &[&str]) -> usize {
        serve(args).expect("valid arguments").worker_threads()
    }

    #[test]
    fn worker_threads_leave_sqlites_writer_a_core_unless_told_otherwise() {
        let cores = super::available_cores();
        assert_eq!(worker_threads(&[]), cores.saturating_sub(1).max(1));
        assert_eq!(
            worker_threads(&["--database-url=postgres://db.invalid/hookrelay"]),
            cores
        );
        assert_eq!(worker_threads(&["--worker-threads=3"]), 3);
    }

    #[test]
    fn the_api_has_a_thread_per_four_cores_and_at_least_one_or_all_on_an_api_node() {
        let api_threads = |args: &[&str]| serve(args).expect("valid arguments").api_threads();
        let cores = super::available_cores();
        assert_eq!(api_threads(&[]), (cores / 4).max(1));
        assert_eq!(api_threads(&["--api-threads=2"]), 2);
        assert_eq!(
            api_threads(&[
                "--role=api",
                "--database-url=postgres://db.invalid/hookrelay"
            ]),
            cores
        );
        assert!(serve(&["--api-threads=0"]).is_err());
    }
}
