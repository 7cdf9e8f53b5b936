//! Incoming build hooks and the coalesced jobs they start, over real HTTP with real
//! processes (`sh -c`) in temporary working directories.

mod common;

use std::path::Path;

use common::receiver::Receiver;
use common::TestServer;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Waits in the job's working directory until a `release` file appears: jobs that stay
/// running exactly as long as a test needs, with no timing involved.
const BLOCKING: &str = "echo started; while [ ! -f release ]; do sleep 0.02; done; echo \"done $HOOKRELAY_DATA_SOURCE\"";

struct Site {
    id: String,
    dir: tempfile::TempDir,
}

impl Site {
    fn release(&self) {
        std::fs::write(self.dir.path().join("release"), "").unwrap();
    }
}

/// A site whose build command is `command`, run in a fresh temporary directory.
async fn site_with(server: &TestServer, settings: Value) -> Site {
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

async fn create_hook(server: &TestServer, site: &str, body: Value) -> Value {
    let (status, hook) = server
        .post(&format!("/api/v1/sites/{site}/build_hooks"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook
}

/// POSTs to a public hook URL (no API token).
async fn fire(
    server: &TestServer,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = server.client.post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    common::read(request.send().await.unwrap()).await
}

async fn job(server: &TestServer, site: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    server
        .wait_json(&format!("/api/v1/sites/{site}/jobs/{id}"), done)
        .await
}

/// Fires a trigger (which must be accepted) and waits for its job to end.
async fn trigger_and_finish(
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

fn finished(job: &Value) -> bool {
    !matches!(job["status"].as_str(), Some("queued" | "running"))
}

async fn jobs(server: &TestServer, site: &str, query: &str) -> Vec<Value> {
    let (_, page) = server
        .get(&format!("/api/v1/sites/{site}/jobs?limit=200{query}"))
        .await;
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_hook_url_runs_the_sites_command_with_the_triggers_details() {
    let server = TestServer::start().await;
    let command = r#"echo "$HOOKRELAY_TRIGGER|$HOOKRELAY_KIND|$HOOKRELAY_DATA_SOURCE|$HOOKRELAY_CLEAR_CACHE|$(cat "$HOOKRELAY_PAYLOAD_FILE")|$GREETING|$(pwd)|$HOOKRELAY_JOB_ID""#;
    let site = site_with(
        &server,
        json!({"build_command": command, "env": {"GREETING": "hi"}}),
    )
    .await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Contentful", "kind": "build"}),
    )
    .await;
    let url = hook["url"].as_str().unwrap();
    let secret_part = url.rsplit('/').next().unwrap();
    assert!(
        secret_part.len() >= 3 + 22,
        "at least 128 random bits in {url}"
    );
    assert_eq!(
        url,
        format!("{}/hooks/{}", server.base, hook["id"].as_str().unwrap())
    );

    let (status, accepted) = fire(
        &server,
        url,
        &[("x-data-source", "contentful")],
        br#"{"sys":1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let id = accepted["job_id"].as_str().unwrap();
    let done = job(&server, &site.id, id, finished).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["triggered_by"], "Triggered by Contentful");
    assert_eq!(done["data_source"], "contentful");
    assert_eq!(done["runner"], "BUILD");
    let workdir = std::fs::canonicalize(site.dir.path()).unwrap();
    let expected = format!(
        "Triggered by Contentful|build|contentful|false|{{\"sys\":1}}|hi|{}|{id}\n",
        workdir.display()
    );
    assert_eq!(done["log"], expected);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
}

#[tokio::test]
async fn any_body_is_accepted_up_to_one_mib_and_unknown_hooks_say_nothing() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "t", "kind": "build"})).await;
    let url = hook["url"].as_str().unwrap();
    assert_eq!(fire(&server, url, &[], b"").await.0, StatusCode::ACCEPTED);
    assert_eq!(
        fire(
            &server,
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"a=1&b=2"
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        fire(&server, url, &[("content-type", "text/plain")], b"hello")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (status, problem) = fire(&server, url, &[], &vec![b'x'; 1024 * 1024 + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");

    let (status, problem) = fire(
        &server,
        &format!("{}/hooks/bh_doesnotexist", server.base),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "not found");
    let deleted = format!(
        "/api/v1/sites/{}/build_hooks/{}",
        site.id,
        hook["id"].as_str().unwrap()
    );
    assert_eq!(server.delete(&deleted).await.0, StatusCode::NO_CONTENT);
    let (status, gone) = fire(&server, url, &[], b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone, problem,
        "a deleted hook looks exactly like one that never existed"
    );
}

#[tokio::test]
async fn the_default_hook_works_only_while_the_site_has_no_named_hook() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let default = format!("{}/hooks/sites/{}", server.base, site.id);
    let (status, accepted) = fire(&server, &default, &[], b"").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let first = job(
        &server,
        &site.id,
        accepted["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(first["triggered_by"], "Triggered by the default build hook");

    let hook = create_hook(&server, &site.id, json!({"title": "t", "kind": "build"})).await;
    let (status, problem) = fire(&server, &default, &[], b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("trigger one of their URLs"),
        "{problem}"
    );

    server
        .delete(&format!(
            "/api/v1/sites/{}/build_hooks/{}",
            site.id,
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        fire(&server, &default, &[], b"").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        fire(
            &server,
            &format!("{}/hooks/sites/site_nope", server.base),
            &[],
            b""
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn headers_steer_data_source_cache_and_runner() {
    let server = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let site = site_with(
        &server,
        json!({"build_command": "echo build", "preview_command": "echo preview", "cache_dir": cache.path().to_str().unwrap()}),
    )
    .await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Gatsby", "kind": "build"}),
    )
    .await;
    let url = hook["url"].as_str().unwrap();

    let (status, problem) = fire(
        &server,
        url,
        &[("x-gatsby-cloud-data-source", "drupal")],
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "x-gatsby-cloud-data-source");
    assert!(
        jobs(&server, &site.id, "").await.is_empty(),
        "a refused trigger starts nothing"
    );

    let done = trigger_and_finish(
        &server,
        &site.id,
        url,
        &[("x-gatsby-cloud-data-source", "gatsby-source-drupal")],
        b"",
    )
    .await;
    assert_eq!(done["data_source"], "gatsby-source-drupal");
    assert_eq!(done["clear_cache"], false);

    std::fs::write(cache.path().join("stale.bin"), "old").unwrap();
    std::fs::create_dir(cache.path().join("nested")).unwrap();
    let done = trigger_and_finish(
        &server,
        &site.id,
        url,
        &[("x-gatsby-cache", "false"), ("x-runner-type", "PREVIEW")],
        b"",
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["clear_cache"], true);
    assert_eq!(done["kind"], "preview");
    assert_eq!(done["runner"], "PREVIEW");
    assert!(done["log"]
        .as_str()
        .unwrap()
        .contains("cleared the cache directory"));
    assert!(done["log"].as_str().unwrap().ends_with("preview\n"));
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "the cache was emptied"
    );
}

#[tokio::test]
async fn senders_that_fail_verification_get_401_no_job_and_a_log_line() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "Repo", "kind": "build", "verify": {"type": "github", "secret": "gh-secret"}})).await;
    assert_eq!(
        hook["verify"],
        json!({"type": "github", "secret": "********"})
    );
    let url = hook["url"].as_str().unwrap();
    let (status, problem) =
        fire(&server, url, &[("x-hub-signature-256", "sha256=00")], b"{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256"),
        "{problem}"
    );
    assert!(jobs(&server, &site.id, "").await.is_empty());

    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"gh-secret").unwrap();
    mac.update(b"{\"ref\":\"main\"}");
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (status, accepted) = fire(
        &server,
        url,
        &[("x-hub-signature-256", &signature)],
        b"{\"ref\":\"main\"}",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = job(
        &server,
        &site.id,
        accepted["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(done["triggered_by"], "Triggered by GitHub via Repo");

    let (_, log) = server
        .get(&format!(
            "/api/v1/sites/{}/build_hooks/{}/requests",
            site.id,
            hook["id"].as_str().unwrap()
        ))
        .await;
    let log = log["data"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["accepted"], true);
    assert_eq!(log[0]["job_id"], accepted["job_id"]);
    assert_eq!(log[1]["accepted"], false);
    assert!(log[1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("sender not verified"));
    // The log pages: one entry at a time, newest first, with the cursor it hands out.
    let requests = format!(
        "/api/v1/sites/{}/build_hooks/{}/requests",
        site.id,
        hook["id"].as_str().unwrap()
    );
    let (_, first) = server.get(&format!("{requests}?limit=1")).await;
    assert_eq!(first["data"][0]["id"], log[0]["id"]);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = server
        .get(&format!("{requests}?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], log[1]["id"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let shared = create_hook(&server, &site.id, json!({"title": "CMS", "kind": "sync", "verify": {"type": "header", "name": "X-Hook-Token", "value": "0123456789abcdef"}})).await;
    let url = shared["url"].as_str().unwrap();
    assert_eq!(
        fire(&server, url, &[("x-hook-token", "wrong-wrong-wrong")], b"")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fire(&server, url, &[("x-hook-token", "0123456789abcdef")], b"")
            .await
            .0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn only_owners_and_developers_manage_hooks_and_every_change_is_audited() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (_, viewer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "readonly", "role": "viewer"}),
        )
        .await;
    let (_, developer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "ci-bot", "role": "developer"}),
        )
        .await;
    let as_viewer = server.with_token(viewer["token"].as_str().unwrap());
    let as_developer = server.with_token(developer["token"].as_str().unwrap());
    let hooks = format!("/api/v1/sites/{site}/build_hooks");
    assert_eq!(
        as_viewer
            .post(&hooks, json!({"title": "x", "kind": "build"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, hook) = as_developer
        .post(&hooks, json!({"title": "Deploy", "kind": "build"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let hook_path = format!("{hooks}/{}", hook["id"].as_str().unwrap());
    assert_eq!(as_viewer.get(&hook_path).await.0, StatusCode::OK);
    assert_eq!(as_viewer.delete(&hook_path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        as_developer.delete(&hook_path).await.0,
        StatusCode::NO_CONTENT
    );
    let hook_created = server
        .create_webhook(&site, "https://example.com/h", json!({}))
        .await;
    server
        .delete(&format!(
            "/api/v1/sites/{site}/webhooks/{}",
            hook_created["id"].as_str().unwrap()
        ))
        .await;
    // Running commands on the server is an owner's decision.
    let (status, _) = as_developer
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "rm -rf /"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, audit) = as_viewer
        .get(&format!("/api/v1/sites/{site}/audit_log"))
        .await;
    let entries: Vec<(String, String)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("webhook.deleted", "admin"),
        ("webhook.created", "admin"),
        ("build_hook.deleted", "ci-bot"),
        ("build_hook.created", "ci-bot"),
    ];
    assert_eq!(entries, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(audit["data"][3]["target_id"], hook["id"]);
    assert_eq!(audit["data"][3]["token_id"], developer["id"]);
    assert_eq!(audit["data"][3]["details"]["title"], "Deploy");
}

#[tokio::test]
async fn a_burst_of_fifty_triggers_runs_once_more_with_the_newest() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "CMS", "kind": "build"})).await;
    let url = hook["url"].as_str().unwrap();
    let (_, first) = fire(&server, url, &[("x-data-source", "first")], b"").await;
    let first_id = first["job_id"].as_str().unwrap().to_owned();
    job(&server, &site.id, &first_id, |j| j["status"] == "running").await;

    let mut ids = Vec::new();
    for i in 1..=50 {
        let source = format!("src-{i}");
        let (status, accepted) = fire(&server, url, &[("x-data-source", &source)], b"").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    site.release();
    let newest = job(&server, &site.id, ids.last().unwrap(), finished).await;
    assert_eq!(newest["status"], "succeeded", "{newest}");
    assert_eq!(newest["data_source"], "src-50");
    assert_eq!(newest["log"], "started\ndone src-50\n");
    assert_eq!(
        job(&server, &site.id, &first_id, finished).await["status"],
        "succeeded"
    );

    let all = jobs(&server, &site.id, "").await;
    assert_eq!(all.len(), 51);
    let superseded: Vec<&Value> = all.iter().filter(|j| j["status"] == "superseded").collect();
    assert_eq!(superseded.len(), 49);
    assert!(
        superseded.iter().all(|j| j["started_at"].is_null()),
        "superseded jobs never ran"
    );
    assert_eq!(all.iter().filter(|j| j["status"] == "succeeded").count(), 2);
    for (older, newer) in ids.iter().zip(ids.iter().skip(1)) {
        let older = all.iter().find(|j| j["id"] == older.as_str()).unwrap();
        assert_eq!(older["superseded_by"], newer.as_str());
    }
}

#[tokio::test]
async fn a_locked_site_queues_triggers_and_unlocking_starts_the_newest() {
    let server = TestServer::start().await;
    let locked = site_with(
        &server,
        json!({"build_command": "echo \"$HOOKRELAY_DATA_SOURCE\""}),
    )
    .await;
    let other = site_with(&server, json!({"build_command": "true"})).await;
    let (status, site) = server
        .post(&format!("/api/v1/sites/{}/lock", locked.id), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site["locked"], true);
    let default = format!("{}/hooks/sites/{}", server.base, locked.id);
    let (_, older) = fire(&server, &default, &[("x-data-source", "a")], b"").await;
    let (_, newer) = fire(&server, &default, &[("x-data-source", "b")], b"").await;
    // The other site's later job finishing proves the runner looked while the locked
    // site's older job waited (it takes the oldest runnable job first).
    let (_, probe) = fire(
        &server,
        &format!("{}/hooks/sites/{}", server.base, other.id),
        &[],
        b"",
    )
    .await;
    job(
        &server,
        &other.id,
        probe["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    let waiting = job(
        &server,
        &locked.id,
        newer["job_id"].as_str().unwrap(),
        |_| true,
    )
    .await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(
        job(
            &server,
            &locked.id,
            older["job_id"].as_str().unwrap(),
            |_| true
        )
        .await["status"],
        "superseded"
    );

    let (_, site) = server
        .post(&format!("/api/v1/sites/{}/unlock", locked.id), json!({}))
        .await;
    assert_eq!(site["locked"], false);
    let ran = job(
        &server,
        &locked.id,
        newer["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(ran["status"], "succeeded");
    assert_eq!(ran["log"], "b\n");
    let (_, audit) = server
        .get(&format!("/api/v1/sites/{}/audit_log", locked.id))
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The site's commands were set first, which the audit log keeps too.
    assert_eq!(actions, ["site.unlocked", "site.locked", "site.updated"]);
}

#[tokio::test]
async fn cancelling_stops_queued_and_running_jobs() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let jobs_path = format!("/api/v1/sites/{}/jobs", site.id);
    let (status, running) = server.post(&jobs_path, json!({"data_source": "one"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(running["triggered_by"], "Triggered by API token admin");
    let running_id = running["id"].as_str().unwrap().to_owned();
    // Waiting for the output, not just the status: the shell may not have echoed yet.
    job(&server, &site.id, &running_id, |j| j["log"] == "started\n").await;
    let (_, queued) = server.post(&jobs_path, json!({})).await;
    let queued_id = queued["id"].as_str().unwrap().to_owned();

    let (status, cancelled) = server
        .post(&format!("{jobs_path}/{queued_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(cancelled["status"], "cancelled");
    server
        .post(&format!("{jobs_path}/{running_id}/cancel"), json!({}))
        .await;
    let stopped = job(&server, &site.id, &running_id, finished).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    assert_eq!(stopped["reason"], "cancelled by API token admin");
    assert_eq!(stopped["log"], "started\n");
    let (status, problem) = server
        .post(&format!("{jobs_path}/{running_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("already cancelled"));
}

#[tokio::test]
async fn a_job_over_its_timeout_is_killed_with_everything_it_started() {
    let server = TestServer::start().await;
    let site = site_with(
        &server,
        json!({"build_command": "sleep 30 & sleep 30; echo never", "job_timeout_s": 1}),
    )
    .await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["reason"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 1 s"),
        "{done}"
    );
    assert!(!done["log"].as_str().unwrap().contains("never"));
}

#[tokio::test]
async fn failures_and_missing_commands_are_explained() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "echo oops >&2; exit 3"})).await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["reason"], "the command exited with code 3");
    assert_eq!(done["log"], "oops\n");

    let (_, started) = server
        .post(
            &format!("/api/v1/sites/{}/jobs", site.id),
            json!({"kind": "sync"}),
        )
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["reason"].as_str().unwrap().contains("no sync_command"),
        "{done}"
    );
}

#[tokio::test]
async fn the_log_can_be_read_while_the_job_runs() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let id = started["id"].as_str().unwrap();
    let running = job(&server, &site.id, id, |j| j["log"] == "started\n").await;
    assert_eq!(running["status"], "running");
    site.release();
    job(&server, &site.id, id, finished).await;
    let (status, problem) = server
        .get(&format!("/api/v1/sites/{}/jobs?status=sleeping", site.id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "status");
    assert_eq!(
        jobs(&server, &site.id, "&status=succeeded&kind=build")
            .await
            .len(),
        1
    );
    assert!(jobs(&server, &site.id, "&kind=preview").await.is_empty());
}

#[tokio::test]
async fn a_jobs_lifecycle_and_locks_go_out_as_deploy_events_in_order() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "sleep 0.3"})).await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site.id,
            &receiver.url("/"),
            json!({"triggers": [{"entity_type": "deploy", "event_types": ["*"]}]}),
        )
        .await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let id = started["id"].as_str().unwrap();
    let got = receiver.wait_for(2).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["entity_type"], "deploy");
    assert_eq!(bodies[0]["event_type"], "deploy_started");
    assert_eq!(bodies[0]["entity"]["id"], id);
    assert_eq!(bodies[0]["entity"]["status"], "running");
    assert_eq!(bodies[1]["event_type"], "deploy_succeeded");
    assert_eq!(bodies[1]["entity"]["id"], id);
    assert_eq!(bodies[1]["entity"]["status"], "succeeded");

    server
        .post(&format!("/api/v1/sites/{}/lock", site.id), json!({}))
        .await;
    server
        .post(&format!("/api/v1/sites/{}/lock", site.id), json!({}))
        .await; // no change, no event
    server
        .post(&format!("/api/v1/sites/{}/unlock", site.id), json!({}))
        .await;
    let got = receiver.wait_for(4).await;
    let events: Vec<String> = got[2..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(sorted, ["deploy_locked", "deploy_unlocked"]);
}

fn write_release(dir: &Path) {
    std::fs::write(dir.join("release"), "").unwrap();
}

/// A process killed while a job runs: on restart the job is failed with a reason, and
/// the job that was waiting behind it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_the_running_job_is_failed_and_the_queued_one_runs() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let port = common::process::free_port();
    let mut args = vec![
        format!("--data-dir={}", data.path().display()),
        "--job-heartbeat=100ms".to_owned(),
        "--job-orphan-after=1s".to_owned(),
    ];
    if let Some(url) = common::backend::database_url(data.path()).await {
        args.push(format!("--database-url={url}"));
    }
    let server = common::process::spawn(data.path(), port, &args);
    let client = common::client();
    server.wait_healthy(&client).await;
    let api = TestServer::api_client(&server.base);
    let site = api.create_site().await;
    let command = format!("{BLOCKING}; sleep 0");
    api.patch(
        &format!("/api/v1/sites/{site}"),
        json!({"build_command": command, "working_dir": work.path().to_str().unwrap()}),
    )
    .await;
    let (_, running) = api
        .post(&format!("/api/v1/sites/{site}/jobs"), json!({}))
        .await;
    let running_id = running["id"].as_str().unwrap().to_owned();
    job(&api, &site, &running_id, |j| j["status"] == "running").await;
    let (_, queued) = api
        .post(
            &format!("/api/v1/sites/{site}/jobs"),
            json!({"data_source": "after"}),
        )
        .await;
    drop(server); // SIGKILL

    let _restarted = common::process::spawn(data.path(), port, &args);
    _restarted.wait_healthy(&client).await;
    let failed = job(&api, &site, &running_id, finished).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("stopped while this job was running"),
        "{failed}"
    );
    write_release(work.path()); // lets the killed process's orphan shell and the new job end
    let ran = job(&api, &site, queued["id"].as_str().unwrap(), finished).await;
    assert_eq!(ran["status"], "succeeded", "{ran}");
    assert!(ran["log"].as_str().unwrap().ends_with("done after\n"));
}
