//! The command line: `serve` and `migrate` (more commands join as features land).

use clap::{Parser, Subcommand};

use crate::config::{DatabaseArgs, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "hookrelay",
    version,
    // A setting given twice (by the configuration file, then typed) keeps the last.
    args_override_self = true,
    about = "Self-hosted webhooks: durable, signed outgoing webhooks and incoming build hooks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How logs (on stderr) are written: `text` for people, `json` (one object a line) for
    /// log collectors.
    #[arg(long, global = true, env = "HOOKRELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the delivery worker.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Measure the loopback limit, then hookrelay delivering through it (run a release build).
    Bench(crate::bench::BenchArgs),
    /// A bounded soak on loopback: mixed load against a flaky, throttling receiver, one
    /// SIGKILL and restart; accounts for every accepted call (run a release build).
    Soak(crate::bench::soak::SoakArgs),
    /// Tell whether a received delivery is genuine (for receivers). Exit 0 if it is, 1 if not.
    Verify(VerifyArgs),
    /// The configuration: `hookrelay config check [--config FILE] [flags]`.
    #[command(subcommand)]
    Config(ConfigCommand),
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read the settings as `serve` would (flags, environment, file), check them, print
    /// the result with secrets hidden, and exit 0, or 1 with what is wrong.
    Check(Box<ServeArgs>),
}

impl Cli {
    /// Parses the process's arguments, a `--config` file's settings included.
    pub fn from_env() -> anyhow::Result<Cli> {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command();
        let known = command
            .find_subcommand("serve")
            .map(|serve| {
                serve
                    .get_arguments()
                    .filter_map(|a| a.get_long().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let args = crate::config::file::expand(std::env::args_os().collect(), &known)?;
        let matches = command
            .try_get_matches_from(args)
            .unwrap_or_else(|e| e.exit());
        Ok(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The webhook's signing secret (`whsec_…`): checks `webhook-signature`.
    #[arg(long, env = "HOOKRELAY_VERIFY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// The webhook's JWS secret: checks `X-Nf-Sign`.
    #[arg(long, env = "HOOKRELAY_VERIFY_JWS_SECRET", hide_env_values = true)]
    pub jws_secret: Option<String>,
    /// File with the request headers: `Name: value` lines (as `curl -D` writes) or a JSON object.
    #[arg(long)]
    pub headers: std::path::PathBuf,
    /// File with the exact request body bytes.
    #[arg(long)]
    pub body: std::path::PathBuf,
    /// How old a signature may be before it is refused as a possible replay.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub tolerance: std::time::Duration,
}

impl Cli {
    /// Worker threads of the async runtime, when the command has its own idea of them.
    pub fn worker_threads(&self) -> Option<usize> {
        match &self.command {
            Command::Serve(args) => Some(args.worker_threads()),
            _ => None,
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let running = crate::app::start(*args).await?;
            wait_for_signal().await;
            tracing::info!("shutting down");
            running.stop().await;
            Ok(())
        }
        Command::Verify(args) => verify(&args),
        Command::Bench(args) => crate::bench::run(args).await,
        Command::Soak(args) => crate::bench::soak::run(args).await,
        Command::Config(ConfigCommand::Check(args)) => {
            args.check()?;
            println!("{}", args.describe());
            println!("hookrelay: the configuration is valid");
            Ok(())
        }
        Command::Client(command) => Ok(crate::client::run(command).await?),
        Command::Migrate(args) => {
            let store = crate::app::open_store(&args).await?;
            store.close().await;
            println!("hookrelay: database is at the current schema");
            Ok(())
        }
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    use anyhow::Context;

    use crate::domain::verify;

    if args.secret.is_none() && args.jws_secret.is_none() {
        anyhow::bail!("give --secret (Standard Webhooks) and/or --jws-secret (X-Nf-Sign)");
    }
    let headers = std::fs::read_to_string(&args.headers)
        .with_context(|| format!("reading {}", args.headers.display()))?;
    let headers = verify::parse_headers(&headers).map_err(anyhow::Error::msg)?;
    let body =
        std::fs::read(&args.body).with_context(|| format!("reading {}", args.body.display()))?;
    let now = crate::domain::time::now_millis() / 1000;
    let mut checks = Vec::new();
    if let Some(secret) = &args.secret {
        let tolerance = args.tolerance.as_secs() as i64;
        checks.push(verify::verify_standard(
            secret, &headers, &body, now, tolerance,
        ));
    }
    if let Some(secret) = &args.jws_secret {
        checks.push(verify::verify_jws(secret, &headers, &body));
    }
    let mut genuine = true;
    for check in checks {
        match check {
            Ok(what) => println!("ok: {what}"),
            Err(why) => {
                genuine = false;
                println!("FAILED: {why}");
            }
        }
    }
    if genuine {
        println!("genuine");
        Ok(())
    } else {
        anyhow::bail!("NOT genuine")
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
