//! Incoming build hooks and the coalesced jobs they start, over real HTTP with real
//! processes (`sh -c`) in temporary working directories.

mod jobs;
mod site_hooks;
mod triggers;

use std::path::Path;

use crate::support::receiver::Receiver;
use crate::support::TestServer;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Waits in the job's working directory until a `release` file appears: jobs that stay
/// running exactly as long as a test needs, with no timing involved.
pub(super) const BLOCKING: &str = "echo started; while [ ! -f release ]; do sleep 0.02; done; echo \"done $HOOKRELAY_DATA_SOURCE\"";

pub(super) struct Site {
    pub(super) id: String,
    pub(super) dir: tempfile::TempDir,
}

impl Site {
    pub(super) fn release(&self) {
        std::fs::write(self.dir.path().join("release"), "").unwrap();
    }
}

/// A site whose build command is `command`, run in a fresh temporary directory.
pub(super) async fn site_with(server: &TestServer, settings: Value) -> Site {
    let id = server.create_site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut body = json!({"working_dir": dir.path().to_str().unwrap()});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let (status, site) = server.patch(&format!("/api/v1/sites/{id}"), body).await;
    assert_eq!(status, StatusCode::OK, "{site}");
    Site { id, dir }
}

pub(super) async fn create_hook(server: &TestServer, site: &str, body: Value) -> Value {
    let (status, hook) = server
        .post(&format!("/api/v1/sites/{site}/build_hooks"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook
}

/// The URL of a new named build hook of `site`.
pub(super) async fn hook_url(server: &TestServer, site: &str) -> String {
    let hook = create_hook(server, site, json!({"title": "CMS", "kind": "build"})).await;
    hook["url"].as_str().unwrap().to_owned()
}

/// POSTs to a public hook URL (no API token).
pub(super) async fn fire(
    server: &TestServer,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = server.client.post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    crate::support::read(request.send().await.unwrap()).await
}

pub(super) async fn job(
    server: &TestServer,
    site: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    server
        .wait_json(&format!("/api/v1/sites/{site}/jobs/{id}"), done)
        .await
}

/// Fires a trigger (which must be accepted) and waits for its job to end.
pub(super) async fn trigger_and_finish(
    server: &TestServer,
    site: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    let (status, accepted) = fire(server, url, headers, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    job(server, site, accepted["job_id"].as_str().unwrap(), finished).await
}

pub(super) fn finished(job: &Value) -> bool {
    !matches!(job["status"].as_str(), Some("queued" | "running"))
}

pub(super) async fn jobs(server: &TestServer, site: &str, query: &str) -> Vec<Value> {
    let (_, page) = server
        .get(&format!("/api/v1/sites/{site}/jobs?limit=200{query}"))
        .await;
    page["data"].as_array().unwrap().clone()
}
