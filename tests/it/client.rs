//! The command-line client against a real server: the tour, scripted with `--json`, tables
//! for people, exit codes scripts can test, and the server's own words on failure.

use crate::support::receiver::Receiver;
use crate::support::TestServer;
use serde_json::Value;

pub(crate) struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

pub(crate) async fn hookrelay(server: &TestServer, args: &[&str]) -> Ran {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(args)
        .env("HOOKRELAY_URL", &server.base)
        .env("HOOKRELAY_TOKEN", &server.token)
        .env_remove("HOOKRELAY_SITE")
        .output()
        .await
        .expect("the binary runs");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_tour_by_command_line() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok().await;

    let site = hookrelay(&server, &["sites", "create", "Blog", "--json"]).await;
    assert_eq!(site.code, 0, "{}", site.stderr);
    let site = site.json()["id"].as_str().unwrap().to_owned();
    let url = receiver.url("/hooks/cms");
    let made = hookrelay(
        &server,
        &[
            "webhooks",
            "create",
            "--site",
            &site,
            "--name",
            "Rebuild",
            "--url",
            &url,
            "--trigger",
            "item:publish,unpublish",
            "--header",
            "X-Team: web",
            "--json",
        ],
    )
    .await;
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(made.json()["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));

    let listed = hookrelay(&server, &["webhooks", "list", "--site", &site]).await;
    assert!(
        listed.stdout.starts_with("ID"),
        "a table: {}",
        listed.stdout
    );
    assert!(listed.stdout.contains("Rebuild"));

    let published = hookrelay(
        &server,
        &[
            "events",
            "publish",
            "--site",
            &site,
            "--entity-type",
            "item",
            "--event-type",
            "publish",
            "--entity",
            r#"{"id": "42"}"#,
            "--json",
        ],
    )
    .await;
    assert_eq!(published.code, 0, "{}", published.stderr);
    let call = published.json()["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    server.settled_call(&site, &call).await;

    let calls = hookrelay(
        &server,
        &[
            "calls", "list", "--site", &site, "--status", "success", "--since", "1h", "--json",
        ],
    )
    .await;
    assert_eq!(calls.json()["data"][0]["id"], call.as_str());
    let failed = hookrelay(
        &server,
        &["calls", "list", "--site", &site, "--status", "failed"],
    )
    .await;
    assert_eq!(failed.stdout.trim(), "(none)");
    let resent = hookrelay(&server, &["calls", "resend", "--site", &site, &call]).await;
    assert_eq!(resent.code, 0, "{}", resent.stderr);
    server
        .wait_call(&site, &call, |c| c["attempt_count"] == 2)
        .await;
    let shown = hookrelay(&server, &["calls", "show", "--site", &site, &call]).await;
    assert!(
        shown.stdout.contains("STARTED"),
        "the attempts: {}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("Body:\n") && shown.stdout.contains(r#""id":"42""#),
        "the request body: {}",
        shown.stdout
    );
    assert_eq!(receiver.received().len(), 2);

    let tokens = hookrelay(
        &server,
        &[
            "tokens", "create", "--name", "CI", "--role", "viewer", "--json",
        ],
    )
    .await;
    let viewer = tokens.json()["token"].as_str().unwrap().to_owned();
    let audit = hookrelay(&server, &["audit", "--json"]).await;
    assert_eq!(audit.json()["data"][0]["action"], "token.created");

    // Failures: the server's message on stderr, and an exit code per kind.
    let bad = hookrelay(
        &server,
        &[
            "webhooks",
            "create",
            "--site",
            &site,
            "--name",
            "x",
            "--url",
            "ftp://x",
            "--trigger",
            "item:publish",
        ],
    )
    .await;
    assert_eq!(bad.code, 3);
    assert!(
        bad.stderr.contains("`url` must use http or https"),
        "{}",
        bad.stderr
    );
    let missing = hookrelay(&server, &["calls", "show", "--site", &site, "call_nope"]).await;
    assert_eq!(missing.code, 4);
    let as_viewer = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args([
            "sites",
            "create",
            "Nope",
            "--server",
            &server.base,
            "--token",
            &viewer,
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(as_viewer.status.code(), Some(5));
    let usage = hookrelay(
        &server,
        &[
            "webhooks",
            "create",
            "--site",
            &site,
            "--name",
            "x",
            "--trigger",
            "nocolon",
        ],
    )
    .await;
    assert_eq!(usage.code, 2);
    let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args([
            "sites",
            "list",
            "--server",
            &format!("http://127.0.0.1:{}", crate::support::process::free_port()),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(6));
}

#[tokio::test]
async fn a_jobs_log_is_followed_until_it_ends() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let work = tempfile::tempdir().unwrap();
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            serde_json::json!({"build_command": "echo one; while [ ! -f go ]; do sleep 0.05; done; echo two",
                               "working_dir": work.path().to_str().unwrap()}),
        )
        .await;
    let (_, job) = server
        .post(&format!("/api/v1/sites/{site}/jobs"), serde_json::json!({}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    server
        .wait_json(&format!("/api/v1/sites/{site}/jobs/{id}"), |j| {
            j["log"] == "one\n"
        })
        .await;
    let following = tokio::spawn({
        let (base, token, site, id) = (
            server.base.clone(),
            server.token.clone(),
            site.clone(),
            id.clone(),
        );
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
                .args([
                    "jobs", "logs", "--follow", "--site", &site, &id, "--server", &base, "--token",
                    &token,
                ])
                .output()
                .await
                .unwrap()
        }
    });
    std::fs::write(work.path().join("go"), "").unwrap();
    let out = following.await.unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("[job succeeded]"));

    // A build that fails: following it ends with exit code 7, for scripts.
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            serde_json::json!({"build_command": "echo broken; exit 3"}),
        )
        .await;
    let (_, job) = server
        .post(&format!("/api/v1/sites/{site}/jobs"), serde_json::json!({}))
        .await;
    let id = job["id"].as_str().unwrap();
    let followed = hookrelay(&server, &["jobs", "logs", "--follow", "--site", &site, id]).await;
    assert_eq!(followed.code, 7, "{}", followed.stderr);
    assert_eq!(followed.stdout, "broken\n");
    assert!(
        followed.stderr.contains("[job failed]"),
        "{}",
        followed.stderr
    );
}

#[tokio::test]
async fn failed_calls_are_recovered_from_the_command_line() {
    use crate::support::receiver::Reply;
    use std::sync::atomic::{AtomicU16, Ordering};
    let status = std::sync::Arc::new(AtomicU16::new(500));
    let answer = status.clone();
    let receiver = Receiver::start(move |_, _| Reply::status(answer.load(Ordering::SeqCst))).await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/down"), serde_json::json!({}))
        .await;
    let hook = hook["id"].as_str().unwrap();
    let published = server.publish(&site, crate::support::item_event("1")).await;
    let call = published["webhook_call_ids"][0].as_str().unwrap();
    assert_eq!(server.settled_call(&site, call).await["status"], "failed");
    status.store(200, Ordering::SeqCst);

    let since = hookrelay::domain::time::to_rfc3339(0);
    let queued = hookrelay(
        &server,
        &[
            "webhooks", "recover", "--site", &site, hook, "--since", &since, "--json",
        ],
    )
    .await;
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    let recovery = queued.json()["id"].as_str().unwrap().to_owned();
    server
        .wait_call(&site, call, |c| c["status"] == "success")
        .await;
    let shown = hookrelay(
        &server,
        &["webhooks", "recovery", "--site", &site, hook, &recovery],
    )
    .await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("Re-sent"), "{}", shown.stdout);
    let bad = hookrelay(
        &server,
        &[
            "webhooks",
            "recover",
            "--site",
            &site,
            hook,
            "--since",
            "yesterday",
        ],
    )
    .await;
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.stderr.contains("since"), "{}", bad.stderr);
}

#[tokio::test]
async fn webhook_settings_are_flags_notifications_included() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let template = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(template.path(), "{{entity.id}} changed").unwrap();
    let template_arg = format!("@{}", template.path().display());
    let made = hookrelay(
        &server,
        &[
            "webhooks",
            "create",
            "--site",
            &site,
            "--name",
            "Sync",
            "--url",
            "http://127.0.0.1:9/sync",
            "--trigger",
            "item:*",
            "--ordering",
            "latest",
            "--ordering-key",
            "/entity/model",
            "--basic-auth",
            "sync:s3cret",
            "--template",
            &template_arg,
            "--content-type",
            "text/plain",
            "--timeout-ms",
            "2500",
            "--json",
        ],
    )
    .await;
    assert_eq!(made.code, 0, "{}", made.stderr);
    let hook = made.json();
    assert_eq!(hook["ordering"], "latest");
    assert_eq!(hook["ordering_key"], "/entity/model");
    assert_eq!(hook["basic_auth"]["username"], "sync");
    assert_eq!(hook["payload_template"], "{{entity.id}} changed");
    assert_eq!(hook["content_type"], "text/plain");
    assert_eq!(hook["timeout_ms"], 2500);

    let id = hook["id"].as_str().unwrap();
    let updated = hookrelay(
        &server,
        &[
            "webhooks",
            "update",
            "--site",
            &site,
            id,
            "--ordering",
            "key",
            "--json",
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    assert_eq!(updated.json()["ordering"], "key");
    let refused = hookrelay(
        &server,
        &[
            "webhooks",
            "update",
            "--site",
            &site,
            id,
            "--ordering-key",
            "entity.id",
        ],
    )
    .await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("ordering_key"),
        "{}",
        refused.stderr
    );

    // A notification's settings have a flag of their own (`--config` is the server's file).
    let slack = hookrelay(
        &server,
        &[
            "webhooks",
            "create",
            "--site",
            &site,
            "--name",
            "Chat",
            "--type",
            "slack",
            "--target-config",
            r#"{"url": "http://127.0.0.1:9/services/T/B/x"}"#,
            "--trigger",
            "deploy:*",
            "--json",
        ],
    )
    .await;
    assert_eq!(slack.code, 0, "{}", slack.stderr);
    assert_eq!(slack.json()["type"], "slack");
}

#[tokio::test]
async fn a_sites_commands_directories_and_env_are_set_from_the_command_line() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().to_str().unwrap();
    let updated = hookrelay(
        &server,
        &[
            "sites",
            "update",
            &site,
            "--build-command",
            "npm run build",
            "--working-dir",
            workdir,
            "--env",
            "NODE_ENV=production",
            "--env",
            "API=https://cms.example",
            "--json",
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let saved = updated.json();
    assert_eq!(saved["build_command"], "npm run build");
    assert_eq!(saved["working_dir"], workdir);
    assert_eq!(saved["env"]["NODE_ENV"], "production");
    assert_eq!(saved["env"]["API"], "https://cms.example");

    let nothing = hookrelay(&server, &["sites", "update", &site]).await;
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);
    let bad = hookrelay(&server, &["sites", "update", &site, "--env", "NOEQUALS"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("NAME=value"), "{}", bad.stderr);
    let refused = hookrelay(
        &server,
        &["sites", "update", &site, "--working-dir", "relative"],
    )
    .await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("working_dir"), "{}", refused.stderr);
}

#[tokio::test]
async fn a_missing_site_says_where_the_id_comes_from() {
    let server = TestServer::start().await;
    let ran = hookrelay(&server, &["webhooks", "list"]).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--site ID or HOOKRELAY_SITE"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("hookrelay sites list"),
        "{}",
        ran.stderr
    );
}
