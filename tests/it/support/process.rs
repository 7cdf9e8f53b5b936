//! The real `hookrelay` binary as a child process, for crash and cluster tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::ADMIN_TOKEN;

/// In every spawned server's environment, and nowhere a job may see it.
pub const SERVER_ONLY_SECRET: &str = "server-only-secret-0123456789";

/// Kills (SIGKILL) and reaps the server when dropped, also when a test fails half-way.
pub struct ServerProcess {
    child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion; returns (exit success, stdout + stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `hookrelay serve` on 127.0.0.1:`port` with `args`, logging to `log_dir/server-PORT.log`.
pub fn spawn(log_dir: &Path, port: u16, args: &[String]) -> ServerProcess {
    let log_path = log_dir.join(format!("server-{port}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("serve")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--allow-private-targets")
        .args(args)
        .env("HOOKRELAY_ADMIN_TOKEN", ADMIN_TOKEN)
        // Something of the server's own that no job may see (tests/it/security/job_env.rs).
        .env("SERVER_ONLY_SECRET", SERVER_ONLY_SECRET)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the hookrelay binary starts");
    ServerProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log: log_path,
    }
}

impl ServerProcess {
    pub async fn wait_healthy(&self, client: &reqwest::Client) {
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        panic!(
            "server at {} never became healthy; its log ends:\n{}",
            self.base,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Starts `hookrelay serve` on 127.0.0.1:`port` with `args` on the suite's backend (its
/// own PostgreSQL database when the suite runs on PostgreSQL), and waits until it is
/// healthy.
pub async fn spawn_with_backend(data_dir: &Path, port: u16, args: &[String]) -> ServerProcess {
    let mut args = args.to_vec();
    if let Some(url) = super::backend::database_url(data_dir).await {
        args.push(format!("--database-url={url}"));
    }
    let server = spawn(data_dir, port, &args);
    server.wait_healthy(&super::client()).await;
    server
}
