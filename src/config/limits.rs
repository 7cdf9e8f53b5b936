//! The bounds of what the outside world may make the server hold: connections, time to
//! send a request, public request rates, stored form submissions and rendered bodies.
//! Every one has a default here and a line in the README's limits table.

use std::time::Duration;

use clap::{ArgAction, Args};

use crate::domain::rate::RateLimit;

fn rate(text: &str) -> Result<RateLimit, String> {
    RateLimit::parse(text)
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Connections open at once; more wait in the kernel's accept queue.
    #[arg(long, env = "HOOKRELAY_MAX_CONNECTIONS", default_value_t = 2048,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Connections open at once from one client address (an IPv6 client: its /64).
    #[arg(long, env = "HOOKRELAY_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_client: u32,

    /// A request's headers must arrive within this; a slower client is disconnected.
    #[arg(long, env = "HOOKRELAY_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// A request's whole body must arrive within this (408 otherwise).
    #[arg(long, env = "HOOKRELAY_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,

    /// A connection that sends and reads nothing for this long is closed (idle keep-alive
    /// connections, half-open sockets, clients that stop reading their answer).
    #[arg(long, env = "HOOKRELAY_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Build hook triggers per site (named and site-id hooks together), as `N/min`:
    /// bursts of N, N a minute sustained.
    #[arg(long, env = "HOOKRELAY_HOOK_RATE_PER_SITE", default_value = "120/min", value_parser = rate)]
    pub hook_rate_per_site: RateLimit,

    /// Build hook triggers per client address.
    #[arg(long, env = "HOOKRELAY_HOOK_RATE_PER_CLIENT", default_value = "60/min", value_parser = rate)]
    pub hook_rate_per_client: RateLimit,

    /// Form submissions per site.
    #[arg(long, env = "HOOKRELAY_FORM_RATE_PER_SITE", default_value = "60/min", value_parser = rate)]
    pub form_rate_per_site: RateLimit,

    /// Form submissions per client address.
    #[arg(long, env = "HOOKRELAY_FORM_RATE_PER_CLIENT", default_value = "10/min", value_parser = rate)]
    pub form_rate_per_client: RateLimit,

    /// Dashboard sign-in attempts per client address.
    #[arg(long, env = "HOOKRELAY_SIGN_IN_RATE_PER_CLIENT", default_value = "20/min", value_parser = rate)]
    pub sign_in_rate_per_client: RateLimit,

    /// Form submissions a site keeps at most; past it (or past --form-quota-bytes) new
    /// ones are refused (429) until some are deleted or pruned.
    #[arg(
        long,
        env = "HOOKRELAY_FORM_QUOTA_SUBMISSIONS",
        default_value_t = 10_000
    )]
    pub form_quota_submissions: u64,

    /// Bytes of form submissions a site keeps at most.
    #[arg(long, env = "HOOKRELAY_FORM_QUOTA_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub form_quota_bytes: u64,

    /// Bytes that one event's custom payloads may render to across all its webhooks; the
    /// calls past it are stored as failed with the reason, the others go out.
    #[arg(long, env = "HOOKRELAY_MAX_RENDERED_BYTES_PER_EVENT", default_value_t = 8 * 1024 * 1024)]
    pub max_rendered_bytes_per_event: usize,

    /// Below this much free space in the data directory, /readyz fails (SQLite).
    #[arg(long, env = "HOOKRELAY_MIN_FREE_DISK_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub min_free_disk_bytes: u64,

    /// Take a client's address from the last `X-Forwarded-For` entry (set this only behind
    /// a reverse proxy that adds it; otherwise clients could pick their own address).
    #[arg(long, env = "HOOKRELAY_TRUST_FORWARDED_FOR", action = ArgAction::SetTrue)]
    pub trust_forwarded_for: bool,
}

impl LimitArgs {
    pub fn public_rates(&self) -> crate::domain::rate::PublicRates {
        crate::domain::rate::PublicRates {
            hooks_per_site: self.hook_rate_per_site,
            hooks_per_client: self.hook_rate_per_client,
            forms_per_site: self.form_rate_per_site,
            forms_per_client: self.form_rate_per_client,
            sign_ins_per_client: self.sign_in_rate_per_client,
        }
    }

    /// The settings as `name = value` lines, for `config check`.
    pub fn describe(&self) -> Vec<String> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            format!("max-connections = {}", self.max_connections),
            format!(
                "max-connections-per-client = {}",
                self.max_connections_per_client
            ),
            format!("header-read-timeout = {}", d(self.header_read_timeout)),
            format!("body-read-timeout = {}", d(self.body_read_timeout)),
            format!("idle-timeout = {}", d(self.idle_timeout)),
            format!("hook-rate-per-site = {}", self.hook_rate_per_site),
            format!("hook-rate-per-client = {}", self.hook_rate_per_client),
            format!("form-rate-per-site = {}", self.form_rate_per_site),
            format!("form-rate-per-client = {}", self.form_rate_per_client),
            format!("sign-in-rate-per-client = {}", self.sign_in_rate_per_client),
            format!("form-quota-submissions = {}", self.form_quota_submissions),
            format!("form-quota-bytes = {}", self.form_quota_bytes),
            format!(
                "max-rendered-bytes-per-event = {}",
                self.max_rendered_bytes_per_event
            ),
            format!("min-free-disk-bytes = {}", self.min_free_disk_bytes),
            format!("trust-forwarded-for = {}", self.trust_forwarded_for),
        ]
    }
}
