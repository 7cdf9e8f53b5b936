//! The real `hookrelay` binary as a child process, for crash and cluster tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A loopback port nothing listens on (for a client test of an unreachable server). Never
/// a port to start a server on: another test's socket may take it before the server binds.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `hookrelay serve` with `args` on a loopback port it picks itself (`:0`, so no
/// other test can take the port between choosing and binding it), logging to
/// `log_dir/server-N.log`; returns once the log says where it listens.
pub async fn spawn(log_dir: &Path, args: &[String]) -> ServerProcess {
    static SPAWNED: AtomicUsize = AtomicUsize::new(0);
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let log_path = log_dir.join(format!("server-{n}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("serve")
        .arg("--listen=127.0.0.1:0")
        .arg("--allow-private-targets")
        .args(args)
        .env("HOOKRELAY_ADMIN_TOKEN", ADMIN_TOKEN)
        // Something of the server's own that no job may see (tests/it/security/job_env.rs).
        .env("SERVER_ONLY_SECRET", SERVER_ONLY_SECRET)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the hookrelay binary starts");
    // A bound against hangs: the line comes as soon as the server has bound its port.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(addr) = listening_addr(&text) {
            break addr;
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || tokio::time::Instant::now() > deadline {
            panic!("the server never listened ({exited:?}); its log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ServerProcess {
        child,
        base: format!("http://{addr}"),
        log: log_path,
    }
}

/// `n` servers started side by side (a cluster sharing one database in `args`).
pub async fn spawn_nodes(log_dir: &Path, n: usize, args: &[String]) -> Vec<ServerProcess> {
    futures_util::future::join_all((0..n).map(|_| spawn(log_dir, args))).await
}

/// The address of the server's `hookrelay listening addr=…` log line.
pub fn listening_addr(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("hookrelay listening"))?;
    let addr = line.split_once("addr=")?.1.split_whitespace().next()?;
    Some(addr.to_owned())
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

/// Starts `hookrelay serve` with `args` on the suite's backend (its own PostgreSQL
/// database when the suite runs on PostgreSQL), and waits until it is healthy.
pub async fn spawn_with_backend(data_dir: &Path, args: &[String]) -> ServerProcess {
    let mut args = args.to_vec();
    if let Some(url) = super::backend::database_url(data_dir).await {
        args.push(format!("--database-url={url}"));
    }
    let server = spawn(data_dir, &args).await;
    server.wait_healthy(&super::client()).await;
    server
}
