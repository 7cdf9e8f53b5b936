use std::io::IsTerminal;

use hookrelay::cli::LogFormat;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = match hookrelay::cli::Cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("hookrelay: error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HOOKRELAY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into files or journald.
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.worker_threads() {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookrelay: error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hookrelay::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrelay: error: {e:#}");
            // A client command's failure says which kind it was.
            match e.downcast_ref::<hookrelay::client::Failure>() {
                Some(failure) => std::process::ExitCode::from(failure.code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
