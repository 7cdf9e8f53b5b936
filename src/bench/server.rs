//! A hookrelay server in a child process, for `bench` and `soak`: this binary's own
//! `serve`, on loopback, with loopback destinations allowed, killed (SIGKILL) when
//! dropped however the run ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// How to start it.
pub struct Launch<'a> {
    pub data_dir: &'a Path,
    pub port: u16,
    pub admin_token: &'a str,
    pub retry_schedule: &'a str,
    pub database_url: Option<&'a str>,
    /// More `serve` flags.
    pub extra: Vec<String>,
    /// Where its log goes.
    pub stderr: Stdio,
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Starts it and waits until `/healthz` answers.
    pub async fn start(launch: Launch<'_>, client: &reqwest::Client) -> anyhow::Result<Server> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .arg(format!("--listen=127.0.0.1:{}", launch.port))
            .arg(format!("--data-dir={}", launch.data_dir.display()))
            .arg("--allow-private-targets")
            .arg(format!("--retry-schedule={}", launch.retry_schedule))
            .args(&launch.extra)
            .env("HOOKRELAY_ADMIN_TOKEN", launch.admin_token)
            .env("HOOKRELAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(launch.stderr);
        if let Some(url) = launch.database_url {
            command.arg(format!("--database-url={url}"));
        }
        let child = command.spawn().context("starting hookrelay serve")?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{}", launch.port),
        };
        for _ in 0..400 {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status().is_success() {
                    return Ok(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("hookrelay did not become healthy")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Resident memory (MiB) from /proc: now, and the peak so far.
    pub fn rss_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}
