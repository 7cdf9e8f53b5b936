//! The job runner: starts queued jobs (at most one per site and kind, none while the site
//! is locked), runs the site's command, keeps its log, and reports the job's lifecycle as
//! outgoing `deploy` events.

mod log;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::domain::event::NewEvent;
use crate::domain::job::{log_tail, JobStatus};
use crate::domain::time::now_millis;
use crate::store::{Dialect, IdempotencyKey, JobRecord, Store};
use log::LogTail;

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Jobs run at once by this process (across sites and kinds).
    pub max_concurrent: usize,
    pub poll_interval: Duration,
    /// How often a running job's log is saved and its cancel flag read.
    pub heartbeat: Duration,
    /// A running job whose runner has not been heard from for this long is failed
    /// (PostgreSQL clusters; on SQLite every running job at start-up is an orphan).
    pub orphan_after: Duration,
    /// Bytes of output kept per job (the tail).
    pub log_limit: usize,
    /// Default working directories and trigger payload files live here.
    pub data_dir: PathBuf,
    /// On shutdown, how long running jobs may finish before they are killed.
    pub shutdown_grace: Duration,
    /// Base of the dashboard links in deploy events.
    pub public_url: String,
}

pub struct JobRunner {
    store: Store,
    settings: JobSettings,
    /// Woken when a job is queued or a site unlocked in this process.
    wake: Arc<Notify>,
    /// Wakes the dispatcher when a deploy event was published.
    deliveries: Arc<Notify>,
}

/// Publishes a `deploy` event for a job or a site. The idempotency key makes a repeated
/// publication (say, after a crash between the state change and the event) harmless.
pub async fn publish_deploy_event(
    store: &Store,
    deliveries: &Notify,
    site_id: &str,
    event_type: &str,
    key: &str,
    entity: serde_json::Value,
) {
    let event = NewEvent {
        entity_type: "deploy".into(),
        event_type: event_type.into(),
        environment: None,
        entity,
    };
    let key = format!("{key}:{event_type}");
    let idempotency = IdempotencyKey {
        key: &key,
        request_hash: &key,
    };
    match store
        .publish_event(site_id, &event, Some(idempotency))
        .await
    {
        Ok(_) => deliveries.notify_one(),
        Err(e) => tracing::error!(error = %e, event_type, "could not publish a deploy event"),
    }
}

/// Lines of a failed job's output that its deploy event carries.
const LOG_TAIL_LINES: usize = 30;

/// A deploy event's entity: the job, and what a notification needs beside it: the site's
/// name, the job's page in the dashboard and, for a failure, the end of its log.
fn deploy_entity(
    job: &JobRecord,
    site_name: Option<&str>,
    public_url: &str,
    log: Option<&str>,
) -> serde_json::Value {
    let mut entity = serde_json::to_value(job).expect("jobs serialise");
    entity["site_name"] = serde_json::json!(site_name);
    entity["url"] = serde_json::json!(format!(
        "{}/sites/{}/jobs/{}",
        public_url.trim_end_matches('/'),
        job.site_id,
        job.id
    ));
    if job.status == JobStatus::Failed {
        if let Some(log) = log.filter(|l| !l.trim().is_empty()) {
            entity["log_tail"] = serde_json::json!(log_tail(log, LOG_TAIL_LINES));
        }
    }
    entity
}

/// How a job's process ended.
enum Ending {
    Exited(std::process::ExitStatus),
    TimedOut(u64),
    Stopped,
}

impl JobRunner {
    pub fn new(
        store: Store,
        settings: JobSettings,
        wake: Arc<Notify>,
        deliveries: Arc<Notify>,
    ) -> Self {
        JobRunner {
            store,
            settings,
            wake,
            deliveries,
        }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        this.fail_orphans(true).await;
        let mut running = JoinSet::new();
        let mut last_sweep = Instant::now();
        while !*shutdown.borrow() {
            while running.len() < this.settings.max_concurrent {
                match this.store.claim_job(now_millis()).await {
                    Ok(Some((job, payload))) => {
                        let runner = this.clone();
                        let stop = shutdown.clone();
                        running.spawn(async move { runner.run_job(job, payload, stop).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "claiming a job failed");
                        break;
                    }
                }
            }
            if last_sweep.elapsed() >= this.settings.heartbeat {
                this.fail_orphans(false).await;
                last_sweep = Instant::now();
            }
            tokio::select! {
                _ = this.wake.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(this.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Running jobs see the shutdown too: they get the grace period, then are killed.
        while running.join_next().await.is_some() {}
    }

    /// Fails jobs left `running` by a process that is gone. On SQLite only this process
    /// can have run them, so at start-up all of them are orphans.
    async fn fail_orphans(&self, at_start: bool) {
        let now = now_millis();
        let stale_before = if at_start && self.store.dialect() == Dialect::Sqlite {
            i64::MAX
        } else {
            now - self.settings.orphan_after.as_millis() as i64
        };
        match self.store.fail_orphaned_jobs(stale_before, now).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::warn!(job = %job.id, "failed a job whose runner is gone");
                    self.announce(&job, None).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "checking for orphaned jobs failed"),
        }
    }

    /// Publishes the job's deploy event, if its state has one.
    async fn announce(&self, job: &JobRecord, log: Option<&str>) {
        let Some(event_type) = job.status.deploy_event() else {
            return;
        };
        let site = self.store.site(&job.site_id).await.ok();
        let site_name = site.as_ref().map(|s| s.settings.name.as_str());
        let entity = deploy_entity(job, site_name, &self.settings.public_url, log);
        publish_deploy_event(
            &self.store,
            &self.deliveries,
            &job.site_id,
            event_type,
            &job.id,
            entity,
        )
        .await;
    }

    async fn run_job(&self, job: JobRecord, payload: String, mut shutdown: watch::Receiver<bool>) {
        self.announce(&job, None).await;
        let log = Arc::new(Mutex::new(LogTail::new(self.settings.log_limit)));
        let (status, exit_code, reason) = match self
            .execute(&job, &payload, &log, &mut shutdown)
            .await
        {
            Ok(Ending::Exited(status)) if status.success() => (JobStatus::Succeeded, Some(0), None),
            Ok(Ending::Exited(status)) => match status.code() {
                Some(code) => (
                    JobStatus::Failed,
                    Some(i64::from(code)),
                    Some(format!("the command exited with code {code}")),
                ),
                None => (
                    JobStatus::Failed,
                    None,
                    Some("the command was killed by a signal".to_owned()),
                ),
            },
            Ok(Ending::TimedOut(secs)) => (
                JobStatus::Failed,
                None,
                Some(format!(
                    "timed out after {secs} s (the site's job_timeout_s) and was killed"
                )),
            ),
            Ok(Ending::Stopped) if *shutdown.borrow() => (
                JobStatus::Failed,
                None,
                Some("hookrelay was shut down while the job ran; trigger it again".to_owned()),
            ),
            Ok(Ending::Stopped) => (JobStatus::Cancelled, None, None),
            Err(reason) => (JobStatus::Failed, None, Some(reason)),
        };
        let text = log.lock().expect("log lock").text();
        // A cancel keeps the reason recorded when it was requested.
        let reason = reason.as_deref();
        match self
            .store
            .finish_job(&job.id, status, exit_code, reason, &text, now_millis())
            .await
        {
            Ok(Some(finished)) => {
                metrics::counter!(crate::metric_names::JOBS_FINISHED, "status" => finished.status.as_str())
                    .increment(1);
                self.announce(&finished, Some(&text)).await
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, job = %job.id, "could not record the end of a job")
            }
        }
        let _ = std::fs::remove_file(self.payload_path(&job.id));
        self.wake.notify_one(); // the next job of this site and kind may start
    }

    fn payload_path(&self, job_id: &str) -> PathBuf {
        self.settings.data_dir.join("job-payloads").join(job_id)
    }

    /// Runs the site's command for the job; `Err` is a reason it could not run at all.
    async fn execute(
        &self,
        job: &JobRecord,
        payload: &str,
        log: &Arc<Mutex<LogTail>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Ending, String> {
        let site = self
            .store
            .site(&job.site_id)
            .await
            .map_err(|e| e.to_string())?;
        let command = site.settings.command(job.kind).ok_or_else(|| {
            format!(
                "the site has no {}_command; set one with PATCH /api/v1/sites/{}",
                job.kind.as_str(),
                site.id
            )
        })?;
        let working_dir = site
            .settings
            .working_dir
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.settings.data_dir.join("sites").join(&site.id));
        std::fs::create_dir_all(&working_dir).map_err(|e| {
            format!(
                "cannot create the working directory {}: {e}",
                working_dir.display()
            )
        })?;
        if job.clear_cache {
            let note = match &site.settings.cache_dir {
                Some(dir) => clear_dir(Path::new(dir))
                    .map(|()| format!("[hookrelay] cleared the cache directory {dir}\n"))
                    .map_err(|e| format!("cannot clear the cache directory {dir}: {e}"))?,
                None => "[hookrelay] the trigger asked to clear the cache, but the site has no cache_dir\n".to_owned(),
            };
            log.lock().expect("log lock").push(note.as_bytes());
        }
        let payload_path = self.payload_path(&job.id);
        if let Some(dir) = payload_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot store the trigger payload: {e}"))?;
        }
        std::fs::write(&payload_path, payload)
            .map_err(|e| format!("cannot store the trigger payload: {e}"))?;

        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&working_dir)
            // A clean environment: the server's own (its admin token, the database URL
            // with its password) must never reach a build command or its log.
            .env_clear()
            .envs(inherited_env())
            .envs(&site.settings.env)
            .env("HOOKRELAY_JOB_ID", &job.id)
            .env("HOOKRELAY_SITE_ID", &site.id)
            .env("HOOKRELAY_TRIGGER", &job.triggered_by)
            .env("HOOKRELAY_KIND", job.kind.as_str())
            .env(
                "HOOKRELAY_DATA_SOURCE",
                job.data_source.as_deref().unwrap_or_default(),
            )
            .env(
                "HOOKRELAY_CLEAR_CACHE",
                if job.clear_cache { "true" } else { "false" },
            )
            .env("HOOKRELAY_PAYLOAD_FILE", &payload_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout or cancel kills everything it started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start `sh -c`: {e}"))?;
        let group = child.id();
        let mut readers = JoinSet::new();
        if let Some(out) = child.stdout.take() {
            readers.spawn(copy_into(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.spawn(copy_into(err, log.clone()));
        }

        let started = Instant::now();
        let timeout = Duration::from_secs(site.settings.job_timeout_s);
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        let mut shutdown_deadline: Option<Instant> = None;
        let ending = loop {
            tokio::select! {
                status = child.wait() => break status.map(Ending::Exited).map_err(|e| e.to_string())?,
                _ = heartbeat.tick() => {
                    let text = log.lock().expect("log lock").text();
                    let keep_going = self.store.job_heartbeat(&job.id, &text, now_millis()).await.unwrap_or(true);
                    if !keep_going {
                        kill_group(group);
                        let _ = child.wait().await;
                        break Ending::Stopped;
                    }
                    if started.elapsed() >= timeout {
                        kill_group(group);
                        let _ = child.wait().await;
                        break Ending::TimedOut(timeout.as_secs());
                    }
                    if shutdown_deadline.is_some_and(|d| Instant::now() >= d) {
                        kill_group(group);
                        let _ = child.wait().await;
                        break Ending::Stopped;
                    }
                }
                _ = shutdown.changed(), if shutdown_deadline.is_none() => {
                    shutdown_deadline = Some(Instant::now() + self.settings.shutdown_grace);
                }
            }
        };
        // Output written just before the end; background children that outlive the shell
        // may hold the pipes open, so do not wait for them forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while readers.join_next().await.is_some() {}
        })
        .await;
        Ok(ending)
    }
}

async fn copy_into(mut stream: impl tokio::io::AsyncRead + Unpin, log: Arc<Mutex<LogTail>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        log.lock().expect("log lock").push(&buf[..n]);
    }
}

/// Kills the job's whole process group (the shell and everything it started).
fn kill_group(group: Option<u32>) {
    if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group id is our child's pid, which we
        // made a process-group leader with `process_group(0)` and have not reaped yet.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

/// What a job keeps of the server's environment: where programs are, the home directory
/// (tool caches live there), the locale, the time zone and the temporary directory.
/// Nothing else, so no server secret reaches a build.
pub const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

fn inherited_env() -> impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)> {
    std::env::vars_os().filter(|(name, _)| {
        name.to_str()
            .is_some_and(|name| INHERITED_ENV.contains(&name) || name.starts_with("LC_"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::{JobKind, SourceRefs};

    fn job(status: JobStatus) -> JobRecord {
        JobRecord {
            id: "job_1".into(),
            site_id: "site_1".into(),
            kind: JobKind::Build,
            runner: "BUILD".into(),
            status,
            triggered_by: "Triggered by CMS".into(),
            hook_id: None,
            data_source: None,
            clear_cache: false,
            superseded_by: None,
            exit_code: Some(3),
            reason: Some("the command exited with code 3".into()),
            refs: SourceRefs {
                commit_ref: Some("abc123".into()),
                ..SourceRefs::default()
            },
            created_at: 0,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn a_deploy_entity_names_the_site_links_the_job_and_tails_a_failure() {
        let failed = deploy_entity(
            &job(JobStatus::Failed),
            Some("Blog"),
            "https://hr.example/",
            Some("a\nb\n"),
        );
        assert_eq!(failed["site_name"], "Blog");
        assert_eq!(failed["url"], "https://hr.example/sites/site_1/jobs/job_1");
        assert_eq!(failed["log_tail"], "a\nb");
        assert_eq!(failed["commit_ref"], "abc123");
        let ok = deploy_entity(
            &job(JobStatus::Succeeded),
            Some("Blog"),
            "https://hr.example",
            Some("fine"),
        );
        assert!(ok.get("log_tail").is_none());
    }
}
