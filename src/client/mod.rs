//! The command-line client: everything the API does, from a terminal or a script.
//! `hookrelay sites list`, `hookrelay calls list --site S --status failed --since 1h`, …
//! Tables for people, `--json` for scripts; the exit code tells what kind of failure it
//! was (see `api.rs`).

mod api;
mod args;
mod commands;
mod output;
mod webhooks;

use self::webhooks::WebhookOptions;

use clap::{Args, Subcommand};

pub use api::{Failure, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNAVAILABLE};
pub use commands::run;

/// Where the server is and who is asking; on every client command.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's address.
    #[arg(
        long,
        global = true,
        env = "HOOKRELAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// An API token.
    #[arg(long, global = true, env = "HOOKRELAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

// (No doc comment on the struct: clap would show it as the help of every subcommand that
// takes only a site.)
#[derive(Debug, Clone, Args)]
pub struct SiteArg {
    /// The site's id (`hookrelay sites list` shows them); or set HOOKRELAY_SITE.
    #[arg(long, env = "HOOKRELAY_SITE")]
    site: Option<String>,
}

impl SiteArg {
    /// The site's id, or a usage error that says where it comes from. (Optional for clap,
    /// whose own message would name the flag only.)
    pub fn id(&self) -> Result<&str, Failure> {
        self.site.as_deref().ok_or_else(|| {
            args::usage(
                "which site? give its id with --site ID or HOOKRELAY_SITE=ID \
                 (`hookrelay sites list` shows the ids)",
            )
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sites: list, create, show, update (commands, directories, env), lock, unlock.
    Sites {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: SitesAction,
    },
    /// Webhooks of a site.
    Webhooks {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Publish events.
    Events {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: EventsAction,
    },
    /// The activity log: calls, and resending them.
    Calls {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: CallsAction,
    },
    /// Build hooks of a site.
    Hooks {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Jobs: list, show, follow a log, cancel.
    Jobs {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: JobsAction,
    },
    /// API tokens (owners).
    Tokens {
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        action: TokensAction,
    },
    /// The audit log: of a site with --site, else the server-wide one (tokens).
    Audit {
        #[command(flatten)]
        conn: Connection,
        #[arg(long, env = "HOOKRELAY_SITE")]
        site: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SitesAction {
    /// Every site.
    List,
    /// A new site.
    Create { name: String },
    /// One site's settings.
    Show { site: String },
    /// Change a site's settings: each flag given sets one (owners set commands and
    /// directories); `--env NAME=value` (repeatable) replaces the job environment.
    Update(Box<SiteUpdate>),
    /// Hold jobs: triggers queue but nothing starts.
    Lock { site: String },
    /// Let jobs start again, the queued ones first.
    Unlock { site: String },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// The site's webhooks and notifications.
    List(SiteArg),
    /// One webhook's settings (secrets masked).
    Show {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
    /// A webhook: `--url` for http, or `--type` and `--target-config` for a notification.
    Create {
        #[command(flatten)]
        site: SiteArg,
        /// What the dashboard, the log and notifications call it.
        #[arg(long)]
        name: String,
        /// Where an http webhook POSTs (notifications take `--target-config` instead).
        #[arg(long)]
        url: Option<String>,
        /// `entity_type:event,event` (repeatable), e.g. `item:publish,unpublish` or `deploy:*`.
        #[arg(long = "trigger", required = true)]
        triggers: Vec<String>,
        /// `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// email, slack, github_commit_status, … (default http).
        #[arg(long = "type")]
        kind: Option<String>,
        #[command(flatten)]
        options: Box<WebhookOptions>,
    },
    /// Change a webhook: the flags below, and any other API field with `--set '{…}'`.
    Update {
        #[command(flatten)]
        site: SiteArg,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        enabled: Option<bool>,
        /// Replace the triggers: `entity_type:event,event` (repeatable).
        #[arg(long = "trigger")]
        triggers: Vec<String>,
        #[command(flatten)]
        options: Box<WebhookOptions>,
        /// Other fields as JSON, e.g. `{"timeout_ms": 2000}`.
        #[arg(long)]
        set: Option<String>,
    },
    /// Delete a webhook with its calls and their attempts.
    Delete {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
    /// Send a test event to this webhook only, through its real target (mail, chat, …);
    /// with `--wait`, print the first attempt and exit 7 unless it succeeded.
    Test {
        #[command(flatten)]
        site: SiteArg,
        id: String,
        /// Wait for the first attempt (at most 90 s) and report it.
        #[arg(long)]
        wait: bool,
    },
    /// A new signing secret; the old one keeps signing for 24 hours.
    RotateSecret {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
    /// Re-send the failed calls created in a window, once each (a durable operation).
    Recover {
        #[command(flatten)]
        site: SiteArg,
        id: String,
        /// RFC 3339, e.g. 2026-12-01T00:00:00Z.
        #[arg(long)]
        since: String,
        /// RFC 3339 (default: now).
        #[arg(long)]
        until: Option<String>,
    },
    /// A recovery's progress: queued, running or done, and the calls re-sent.
    Recovery {
        #[command(flatten)]
        site: SiteArg,
        id: String,
        recovery_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// Publish an event: `--entity-type item --event-type publish --entity '{"id":"1"}'`.
    Publish {
        #[command(flatten)]
        site: SiteArg,
        #[arg(long)]
        entity_type: String,
        #[arg(long)]
        event_type: String,
        /// The entity as JSON; `-` reads it from standard input.
        #[arg(long, default_value = "{}")]
        entity: String,
        #[arg(long)]
        environment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CallsAction {
    /// The activity log, newest first: filter by status, webhook, event type, age.
    List {
        #[command(flatten)]
        site: SiteArg,
        /// pending, success, failed, superseded or skipped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        webhook: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// How far back: `1h`, `30m`, `2d`, or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One call: its request (headers and body) and every attempt.
    Show {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
    /// Send a call again now, whatever its state.
    Resend {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HooksAction {
    /// The site's build hooks (URLs for owners and developers).
    List(SiteArg),
    /// A build hook: its URL starts a job (build, preview or sync).
    Create {
        #[command(flatten)]
        site: SiteArg,
        /// Jobs it starts say "Triggered by <title>".
        #[arg(long)]
        title: String,
        /// build, preview or sync.
        #[arg(long, default_value = "build")]
        kind: String,
    },
    /// Delete a build hook; its URL stops working.
    Delete {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// The site's jobs, newest first.
    List(SiteArg),
    /// One job: status, trigger, exit code and log.
    Show {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
    /// Print a job's log; with --follow, keep printing until the job ends.
    Logs {
        #[command(flatten)]
        site: SiteArg,
        id: String,
        #[arg(long, short)]
        follow: bool,
    },
    /// Stop a waiting or running job.
    Cancel {
        #[command(flatten)]
        site: SiteArg,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Every API token (owners).
    List,
    /// Shown once: store it.
    Create {
        #[arg(long)]
        name: String,
        /// owner, developer or viewer.
        #[arg(long, default_value = "developer")]
        role: String,
    },
    /// Revoke a token: it stops working at once.
    Revoke { id: String },
}

/// `sites update`: each flag given sets one setting.
#[derive(Debug, Args)]
pub struct SiteUpdate {
    pub site: String,
    #[arg(long)]
    pub name: Option<String>,
    /// The command a build runs (`sh -c`).
    #[arg(long)]
    pub build_command: Option<String>,
    #[arg(long)]
    pub preview_command: Option<String>,
    #[arg(long)]
    pub sync_command: Option<String>,
    /// An absolute path jobs run in.
    #[arg(long)]
    pub working_dir: Option<String>,
    /// An absolute path kept between builds (cleared by a clear-cache trigger).
    #[arg(long)]
    pub cache_dir: Option<String>,
    /// A job's time limit in seconds (1–86400).
    #[arg(long)]
    pub job_timeout_s: Option<u64>,
    /// `NAME=value` for jobs' environment (repeatable; replaces the whole set).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Remove every job environment variable.
    #[arg(long, conflicts_with = "env")]
    pub clear_env: bool,
    /// Whether hooks addressed by the site's id start jobs: off, connect or gatsby
    /// (unauthenticated URLs; see the README's security model).
    #[arg(long, value_name = "RULE")]
    pub site_hooks: Option<String>,
    /// The job `/hooks/sites/{site}` starts under that rule: build, preview or sync.
    #[arg(
        long,
        value_name = "KIND",
        requires = "site_hooks",
        default_value = "build"
    )]
    pub site_hooks_kind: String,
}
