//! Seed users' set-ups from the command line alone: DatoCMS's (a webhook on a model and
//! its fields kept in order, a build hook the CMS calls, its job followed to the end),
//! Gatsby Cloud's (build and preview commands, the site's two site-id URLs) and Netlify's
//! (deploy notifications by mail, Slack and a signed POST, each tested; the deploy lock).

use crate::client::{hookrelay, Ran};
use crate::support::forge::Forge;
use crate::support::jws::nf_sign_claims;
use crate::support::receiver::{Receiver, Reply};
use crate::support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use crate::support::{eventually, TestServer};
use serde_json::json;
use sha2::Digest;
use std::time::Duration;

/// Runs the client with `args`, which must succeed.
async fn succeeds(server: &TestServer, args: Vec<String>) -> Ran {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = hookrelay(server, &args).await;
    assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
    ran
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The calls of `webhook` with `status`, as `calls list` prints them, once there are `n`.
async fn calls_once_there_are(
    server: &TestServer,
    site: &str,
    webhook: &str,
    status: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    eventually(Duration::from_millis(200), || async {
        let listed = succeeds(
            server,
            strings(&[
                "calls",
                "list",
                "--site",
                site,
                "--webhook",
                webhook,
                "--status",
                status,
                "--json",
            ]),
        )
        .await
        .json();
        let calls = listed["data"].as_array().cloned().unwrap_or_default();
        assert!(calls.len() <= n, "{webhook}: more than {n} {status} calls");
        if calls.len() == n {
            Ok(calls)
        } else {
            Err(format!(
                "{webhook} had {} {status} calls, not {n}",
                calls.len()
            ))
        }
    })
    .await
}

/// A Netlify user's set-up from the command line alone: the deploy command, notifications
/// by mail and Slack and a JWS-signed POST (each one tested with `webhooks test --wait`), a
/// build hook the CMS calls, the deploy followed, and the deploy lock.
#[tokio::test]
async fn a_netlify_set_up_from_the_command_line_alone() {
    let smtp = SmtpServer::start().await;
    // The stand-in for Slack's and GitHub's APIs.
    let saas = Forge::start().await;
    let receiver =
        Receiver::start(|_, r| Reply::status(if r.path == "/broken" { 500 } else { 200 })).await;
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| succeeds(&server, args);
    let site = run(strings(&["sites", "create", "Shop", "--json"]))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = work.path().display().to_string();
    run(strings(&[
        "sites",
        "update",
        &site,
        "--build-command",
        "echo deploying the shop",
        "--working-dir",
        &dir,
    ]))
    .await;

    let mail_config = json!({
        "host": "127.0.0.1", "port": smtp.port, "tls": "none",
        "username": SMTP_USER, "password": SMTP_PASSWORD,
        "from": "deploys@example.com", "to": ["team@example.com"],
    })
    .to_string();
    let slack_config = json!({"url": format!("{}/services/T1/B1/x", saas.base)}).to_string();
    let github_config = json!({"api_url": saas.base, "owner": "acme", "repo": "shop",
                               "token": "ghp_shop_token"})
    .to_string();
    let log_url = receiver.url("/deploys");
    let mut made = Vec::new();
    for create in [
        vec![
            "--name",
            "Deploy mail",
            "--type",
            "email",
            "--target-config",
            &mail_config,
            "--trigger",
            "deploy:deploy_succeeded,deploy_failed",
        ],
        vec![
            "--name",
            "Deploys to #shop",
            "--type",
            "slack",
            "--target-config",
            &slack_config,
            "--trigger",
            "deploy:*",
        ],
        vec![
            "--name",
            "Deploy log",
            "--url",
            &log_url,
            "--trigger",
            "deploy:deploy_succeeded",
            "--jws-secret",
            "shop-jws-secret",
        ],
        vec![
            "--name",
            "Commit status",
            "--type",
            "github_commit_status",
            "--target-config",
            &github_config,
            "--trigger",
            "deploy:*",
        ],
    ] {
        let mut args = strings(&["webhooks", "create", "--site", &site, "--json"]);
        args.extend(strings(&create));
        let webhook = run(args).await.json();
        for secret in [SMTP_PASSWORD, "ghp_shop_token"] {
            assert!(
                !webhook.to_string().contains(secret),
                "secrets are never printed: {webhook}"
            );
        }
        made.push(webhook["id"].as_str().unwrap().to_owned());
    }
    let [mail, chat, log, status] = [&made[0], &made[1], &made[2], &made[3]];

    // Each one tested before any deploy: a test mail, a test message, a test POST; the
    // commit status has no commit to mark in a test, and says so.
    for (webhook, outcome) in [
        (mail, "success"),
        (chat, "success"),
        (log, "success"),
        (status, "skipped"),
    ] {
        let tested = run(strings(&[
            "webhooks", "test", "--site", &site, webhook, "--wait",
        ]))
        .await;
        assert!(tested.stdout.contains(outcome), "{}", tested.stdout);
    }
    let test_mail = smtp.messages();
    assert_eq!(test_mail.len(), 1);
    assert!(test_mail[0].contains("Subject: Test: Deploy succeeded for Shop"));
    assert!(saas.requests()[0].body["text"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Test: "));

    // A receiver that fails: the test says so with exit code 7.
    let broken = run(strings(&[
        "webhooks",
        "create",
        "--site",
        &site,
        "--name",
        "Broken",
        "--url",
        &receiver.url("/broken"),
        "--trigger",
        "deploy:*",
        "--json",
    ]))
    .await
    .json();
    let failed = hookrelay(
        &server,
        &[
            "webhooks",
            "test",
            "--site",
            &site,
            broken["id"].as_str().unwrap(),
            "--wait",
        ],
    )
    .await;
    assert_eq!(failed.code, 7, "{} {}", failed.stdout, failed.stderr);
    assert!(failed.stdout.contains("500"), "{}", failed.stdout);
    run(strings(&[
        "webhooks",
        "delete",
        "--site",
        &site,
        broken["id"].as_str().unwrap(),
    ]))
    .await;

    // The CMS calls the build hook; the deploy is followed to its end.
    let hook = run(strings(&[
        "hooks",
        "create",
        "--site",
        &site,
        "--title",
        "Deploy from CMS",
        "--json",
    ]))
    .await
    .json();
    let hook_url = hook["url"].as_str().unwrap().to_owned();
    let triggered = server
        .client
        .post(&hook_url)
        .header("x-commit-ref", "f00dcafe")
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), reqwest::StatusCode::ACCEPTED);
    let job: serde_json::Value = triggered.json().await.unwrap();
    let followed = run(strings(&[
        "jobs",
        "logs",
        "--follow",
        "--site",
        &site,
        job["job_id"].as_str().unwrap(),
    ]))
    .await;
    assert_eq!(followed.stdout, "deploying the shop\n");
    calls_once_there_are(&server, &site, mail, "success", 2).await;
    calls_once_there_are(&server, &site, chat, "success", 3).await;
    calls_once_there_are(&server, &site, log, "success", 2).await;
    calls_once_there_are(&server, &site, status, "success", 2).await;
    let states: Vec<String> = saas
        .requests()
        .iter()
        .filter(|r| r.target == "/repos/acme/shop/statuses/f00dcafe")
        .map(|r| r.body["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["pending", "success"]);
    assert!(smtp.messages().iter().any(
        |m| m.contains("Subject: Deploy succeeded for Shop") && m.contains("Commit: f00dcafe")
    ));
    let posted = receiver
        .received()
        .into_iter()
        .rfind(|r| r.path == "/deploys")
        .expect("the deploy's POST");
    let claims = nf_sign_claims(posted.header("x-nf-sign"), "shop-jws-secret", "hookrelay")
        .expect("a JWS under the secret given to --jws-secret");
    assert_eq!(
        claims.sha256,
        hex::encode(sha2::Sha256::digest(&posted.body))
    );

    // Locked, a trigger queues; unlocked, it runs.
    run(strings(&["sites", "lock", &site])).await;
    let queued: serde_json::Value = server
        .client
        .post(&hook_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = run(strings(&[
        "jobs",
        "show",
        "--site",
        &site,
        queued["job_id"].as_str().unwrap(),
        "--json",
    ]))
    .await
    .json();
    assert_eq!(shown["status"], "queued");
    run(strings(&["sites", "unlock", &site])).await;
    run(strings(&[
        "jobs",
        "logs",
        "--follow",
        "--site",
        &site,
        queued["job_id"].as_str().unwrap(),
    ]))
    .await;
    calls_once_there_are(&server, &site, log, "success", 3).await;
}

#[tokio::test]
async fn a_datocms_set_up_from_the_command_line_alone() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| succeeds(&server, args);
    let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let site = run(args("sites create Blog --json")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut update = args(&format!("sites update {site} --build-command"));
    update.push("echo built".into());
    update.extend(args(&format!("--working-dir {}", work.path().display())));
    run(update).await;

    let url = receiver.url("/models");
    let made = run(args(&format!(
        "webhooks create --site {site} --name Schema --url {url} --trigger item_type:update \
         --model-id blog_post --ordering latest --json"
    )))
    .await
    .json();
    assert_eq!(made["triggers"][0]["model_ids"][0], "blog_post");
    assert_eq!(made["ordering"], "latest");

    // A field of the model changes: the model's webhook fires; another model's does not.
    let field = |model: &str| {
        format!(
            r#"{{"id": "title", "relationships": {{"item_type": {{"data": {{"id": "{model}"}}}}}}}}"#
        )
    };
    for (model, calls) in [("blog_post", 1), ("author", 0)] {
        let mut publish = args(&format!(
            "events publish --site {site} --entity-type field --event-type create --json --entity"
        ));
        publish.push(field(model));
        let published = run(publish).await.json();
        assert_eq!(
            published["webhook_call_ids"].as_array().unwrap().len(),
            calls,
            "{model}"
        );
    }
    receiver.wait_for(1).await;

    // The CMS's build hook: DatoCMS calls it, the job is followed to its end.
    let hook = run(args(&format!(
        "hooks create --site {site} --title DatoCMS --kind build --json"
    )))
    .await
    .json();
    let triggered = server
        .client
        .post(hook["url"].as_str().unwrap())
        .header("user-agent", "DatoCMS (datocms.com)")
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), reqwest::StatusCode::ACCEPTED);
    let job: serde_json::Value = triggered.json().await.unwrap();
    let followed = run(args(&format!(
        "jobs logs --follow --site {site} {}",
        job["job_id"].as_str().unwrap()
    )))
    .await;
    assert_eq!(followed.stdout, "built\n");
    let shown = run(args(&format!(
        "jobs show --site {site} {} --json",
        job["job_id"].as_str().unwrap()
    )))
    .await
    .json();
    assert_eq!(
        shown["triggered_by"],
        "Triggered by DatoCMS (by its headers) via DatoCMS"
    );
}

/// A Gatsby Cloud user's set-up from the command line alone: build and preview commands,
/// the site's two site-id URLs turned on under Gatsby's rule, each starting its job.
#[tokio::test]
async fn a_gatsby_set_up_from_the_command_line_alone() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| succeeds(&server, args);
    let site = run(vec![
        "sites".into(),
        "create".into(),
        "Docs".into(),
        "--json".into(),
    ])
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated = run(vec![
        "sites".into(),
        "update".into(),
        site.clone(),
        "--build-command".into(),
        "echo build".into(),
        "--preview-command".into(),
        "echo preview".into(),
        "--working-dir".into(),
        work.path().display().to_string(),
        "--site-hooks".into(),
        "gatsby".into(),
        "--json".into(),
    ])
    .await
    .json();
    assert_eq!(updated["site_hooks"]["rule"], "gatsby");
    for (shape, kind, log) in [
        ("builds/trigger", "build", "build\n"),
        ("data_source", "preview", "preview\n"),
    ] {
        let answer = server
            .client
            .post(format!("{}/hooks/{shape}/{site}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED, "{shape}");
        let job: serde_json::Value = answer.json().await.unwrap();
        let id = job["job_id"].as_str().unwrap().to_owned();
        let followed = run(vec![
            "jobs".into(),
            "logs".into(),
            "--follow".into(),
            "--site".into(),
            site.clone(),
            id.clone(),
        ])
        .await;
        assert_eq!(followed.stdout, log, "{shape}");
        let shown = run(vec![
            "jobs".into(),
            "show".into(),
            "--site".into(),
            site.clone(),
            id,
            "--json".into(),
        ])
        .await
        .json();
        assert_eq!(shown["kind"], kind, "{shape}");
    }
    // Off again: the unauthenticated URLs stop answering.
    run(vec![
        "sites".into(),
        "update".into(),
        site.clone(),
        "--site-hooks".into(),
        "off".into(),
    ])
    .await;
    let answer = server
        .client
        .post(format!("{}/hooks/builds/trigger/{site}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND);
}
