//! Seed users' set-ups from the dashboard alone, in a real browser: what a person moving
//! from Netlify (deploy notifications by mail, Slack and a signed POST; a build hook; the
//! deploy lock), Gatsby Cloud (build and preview commands, the site-id URLs beside a named
//! hook) or DatoCMS (a model's webhook kept `latest`, the CMS's build hook) clicks through.
//! Only the outside world (the CMS calling a hook, the site publishing its events) uses
//! HTTP. Screenshots land under target/screenshots/seed-*.

use crate::support::browser::Browser;
use crate::support::forge::Forge;
use crate::support::jws::nf_sign_claims;
use crate::support::receiver::Receiver;
use crate::support::senders::sanity_signature;
use crate::support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use crate::support::{eventually, TestServer, ADMIN_TOKEN};
use reqwest::StatusCode;
use sha2::Digest;
use std::time::Duration;

/// A server, a browser signed in as an owner, and a site made on the sites page with its
/// build command (and `commands`, `picks`) saved in its settings, running in a fresh
/// working directory.
struct Walkthrough {
    server: TestServer,
    b: Browser,
    site: String,
    _work: tempfile::TempDir,
}

async fn walkthrough(
    shots: &str,
    site_name: &str,
    commands: &[(&str, &str)],
    picks: &[(&str, &str)],
) -> Walkthrough {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let b = Browser::start(&server.base, shots).await;
    b.sign_in(ADMIN_TOKEN).await;
    let site = create_site(&b, site_name).await;
    let dir = work.path().display().to_string();
    let mut fields = commands.to_vec();
    fields.push(("#working_dir", &dir));
    save_settings(&b, &site, &fields, picks).await;
    Walkthrough {
        server,
        b,
        site,
        _work: work,
    }
}

/// Creates a site from the sites page; returns its id (from the overview's address).
async fn create_site(b: &Browser, name: &str) -> String {
    b.visit("/sites", "sites").await;
    b.fill("#name", name).await;
    b.click("form[action='/sites'] button[type=submit]").await;
    b.wait_text(".alert-ok", "Created").await;
    let url = b.client.current_url().await.expect("an address");
    url.path().trim_start_matches("/sites/").to_owned()
}

/// Fills the settings page's text fields, picks its choices, and saves them.
async fn save_settings(b: &Browser, site: &str, fields: &[(&str, &str)], picks: &[(&str, &str)]) {
    b.visit(&format!("/sites/{site}/settings"), "settings")
        .await;
    for (css, value) in fields {
        b.fill(css, value).await;
    }
    for (css, value) in picks {
        b.select(css, value).await;
    }
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Saved").await;
}

/// Opens the new-webhook form for target `kind` through the type picker.
async fn new_webhook(b: &Browser, site: &str, kind: &str, name: &str) {
    b.visit(&format!("/sites/{site}/webhooks/new"), "new").await;
    b.click(&format!("nav.type-picker a[href$='type={kind}']"))
        .await;
    b.find(&format!("input[name=kind][value='{kind}']")).await;
    b.fill("#name", name).await;
}

/// Saves the webhook form; returns the new webhook's id.
async fn create_webhook(b: &Browser, label: &str) -> String {
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Created").await;
    b.snap(label).await;
    let url = b.client.current_url().await.expect("an address");
    url.path().rsplit('/').next().unwrap_or_default().to_owned()
}

/// Makes a named build hook on the hooks page, checking its sender with `check` (a type
/// and its secret) if given; returns its URL as the page shows it.
async fn create_hook(
    b: &Browser,
    site: &str,
    title: &str,
    kind: &str,
    check: Option<(&str, &str)>,
) -> String {
    b.visit(&format!("/sites/{site}/hooks"), "hooks").await;
    b.fill("#title", title).await;
    b.select("#kind", kind).await;
    if let Some((check, secret)) = check {
        b.select("#verify", check).await;
        b.fill("#verify_secret", secret).await;
    }
    b.snap("hook-form").await;
    b.click("form[action$='/hooks'] button.primary").await;
    b.wait_text(".alert-ok", "Created").await;
    b.value("#hook-url").await
}

/// Opens the newest job on the jobs page and waits for it to end with `status`.
async fn follow_newest_job(b: &Browser, site: &str, triggered_by: &str, status: &str) {
    b.visit(&format!("/sites/{site}/jobs"), "jobs").await;
    b.wait_text("#jobs", triggered_by).await;
    b.click("#jobs tbody tr:first-child a").await;
    b.wait_text("#triggered-by", triggered_by).await;
    b.wait_text("#job-status", status).await;
}

/// Waits until the activity log, filtered to `webhook`, lists `n` calls of `status`.
async fn wait_for_calls(b: &Browser, site: &str, webhook: &str, status: &str, n: usize) {
    let path = format!("/sites/{site}/calls?webhook_id={webhook}&status={status}");
    eventually(Duration::from_millis(200), || async {
        b.visit(&path, "activity").await;
        let rows = b.count("#calls tbody tr").await;
        assert!(rows <= n, "{path}: more than {n} calls");
        if rows == n {
            Ok(())
        } else {
            Err(format!("{path} listed {rows} calls, not {n}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_netlify_set_up_from_the_dashboard_alone() {
    let smtp = SmtpServer::start().await;
    // The stand-in for Slack's and GitHub's APIs.
    let saas = Forge::start().await;
    let receiver = Receiver::ok().await;
    let Walkthrough {
        server,
        b,
        site,
        _work,
    } = walkthrough(
        "seed-netlify",
        "Shop",
        &[("#build_command", "echo deploying the shop")],
        &[],
    )
    .await;

    // Deploy notifications, as Netlify's "Deploy notifications" page offers them.
    new_webhook(&b, &site, "email", "Deploy mail").await;
    for (css, value) in [
        ("#config_host", "127.0.0.1"),
        ("#config_port", &smtp.port.to_string()),
        ("#config_username", SMTP_USER),
        ("#config_password", SMTP_PASSWORD),
        ("#config_from", "deploys@example.com"),
        ("#config_to", "team@example.com"),
        ("#trigger_0_event_types", "deploy_succeeded, deploy_failed"),
    ] {
        b.fill(css, value).await;
    }
    b.select("#config_tls", "none").await;
    let mail = create_webhook(&b, "mail-saved").await;
    b.click("#send-test").await;
    b.wait_text("#call-status", "success").await;
    // The request card follows the first attempt without a reload.
    b.wait_text("#live-request", &format!("smtp://127.0.0.1:{}", smtp.port))
        .await;
    assert!(
        b.has("#live-request [data-live-final]").await,
        "sent, the request card stops polling"
    );
    b.snap("mail-test").await;
    let test_mail = smtp.messages();
    assert_eq!(test_mail.len(), 1, "the test mail arrived");
    assert!(
        test_mail[0].contains("Subject: Test: Deploy succeeded for Shop"),
        "{}",
        test_mail[0]
    );

    new_webhook(&b, &site, "slack", "Deploys to #shop").await;
    b.fill("#config_url", &format!("{}/services/T1/B1/x", saas.base))
        .await;
    let chat = create_webhook(&b, "slack-saved").await;

    new_webhook(&b, &site, "github_commit_status", "Commit status").await;
    for (css, value) in [
        ("#config_api_url", saas.base.as_str()),
        ("#config_owner", "acme"),
        ("#config_repo", "shop"),
        ("#config_token", "ghp_shop_token"),
    ] {
        b.fill(css, value).await;
    }
    let status = create_webhook(&b, "github-saved").await;

    new_webhook(&b, &site, "http", "Deploy log").await;
    b.fill("#url", &receiver.url("/deploys")).await;
    b.fill("#trigger_0_entity_type", "deploy").await;
    b.fill("#trigger_0_event_types", "deploy_succeeded").await;
    b.fill("#jws_secret", "shop-jws-secret").await;
    b.fill("#jws_issuer", "netlify").await;
    let log = create_webhook(&b, "http-saved").await;

    // The CMS's build hook; the CMS calls it and the deploy runs.
    let hook = create_hook(&b, &site, "Deploy from CMS", "build", None).await;
    let triggered = server
        .client
        .post(&hook)
        .header("x-commit-ref", "f00dcafe")
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), StatusCode::ACCEPTED);
    follow_newest_job(&b, &site, "Deploy from CMS", "succeeded").await;
    b.wait_text("#job-log", "deploying the shop").await;
    b.snap("job-done").await;

    // Each notification went out, and the activity log shows it.
    wait_for_calls(&b, &site, &mail, "success", 2).await;
    wait_for_calls(&b, &site, &chat, "success", 2).await;
    wait_for_calls(&b, &site, &log, "success", 1).await;
    let message = smtp
        .messages()
        .into_iter()
        .find(|m| m.contains("Subject: Deploy succeeded for Shop"))
        .expect("the success mail");
    assert!(message.contains("Commit: f00dcafe"), "{message}");
    assert!(
        message.contains("Trigger: Triggered by Deploy from CMS"),
        "{message}"
    );
    wait_for_calls(&b, &site, &status, "success", 2).await;
    let (chat_requests, status_requests): (Vec<_>, Vec<_>) = saas
        .requests()
        .into_iter()
        .partition(|r| r.target.starts_with("/services/"));
    let chat_texts: Vec<&str> = chat_requests
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(chat_texts.len(), 2, "{chat_texts:?}");
    assert!(chat_texts.iter().any(|t| t.contains("succeeded for Shop")));
    // The commit the CMS named gets Netlify's pending, then success.
    let states: Vec<&str> = status_requests
        .iter()
        .inspect(|r| {
            assert_eq!(r.target, "/repos/acme/shop/statuses/f00dcafe");
            assert_eq!(r.header("authorization"), "Bearer ghp_shop_token");
        })
        .map(|r| r.body["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["pending", "success"]);
    let posted = receiver.wait_for(1).await.remove(0);
    let claims = nf_sign_claims(posted.header("x-nf-sign"), "shop-jws-secret", "netlify")
        .expect("a JWS under the secret typed in the form");
    assert_eq!(
        claims.sha256,
        hex::encode(sha2::Sha256::digest(&posted.body))
    );

    // "Stop builds": locked, a trigger waits; unlocked, it runs.
    b.visit(&format!("/sites/{site}/settings"), "settings-lock")
        .await;
    b.click("form[action$='/lock'] button").await;
    b.wait_text(".alert-ok", "no job starts until it is unlocked")
        .await;
    let waiting = server.client.post(&hook).send().await.unwrap();
    assert_eq!(waiting.status(), StatusCode::ACCEPTED);
    b.visit(&format!("/sites/{site}/jobs"), "jobs-locked").await;
    b.wait_text("#jobs", "queued").await;
    b.visit(&format!("/sites/{site}"), "overview-locked").await;
    b.click("form[action$='/unlock'] button").await;
    b.wait_text(".alert-ok", "The site is unlocked").await;
    wait_for_calls(&b, &site, &log, "success", 2).await;
    b.close().await;
}

/// Gatsby Cloud: build and preview commands, the site's two site-id URLs under Gatsby's
/// rule (kept beside a named hook), each starting its own kind of job.
#[tokio::test]
async fn a_gatsby_set_up_from_the_dashboard_alone() {
    let Walkthrough {
        server,
        b,
        site,
        _work,
    } = walkthrough(
        "seed-gatsby",
        "Docs",
        &[
            ("#build_command", "echo gatsby build"),
            ("#preview_command", "echo gatsby preview"),
        ],
        &[("#site_hooks", "gatsby")],
    )
    .await;
    let (_, stored) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(stored["site_hooks"]["rule"], "gatsby", "{stored}");
    assert_eq!(stored["build_command"], "echo gatsby build");

    // A named hook for the CMS, checking Sanity's signature; Gatsby's rule keeps the
    // site-id URLs beside it.
    let named = create_hook(
        &b,
        &site,
        "Studio",
        "preview",
        Some(("sanity", "studio-secret")),
    )
    .await;
    b.wait_text("#sender-check", "Sanity's signature").await;
    b.snap("hook-sanity").await;
    b.visit(&format!("/sites/{site}/hooks"), "hooks-site-id")
        .await;
    let build_url = b.value("#gatsby-build-url").await;
    let preview_url = b.value("#gatsby-preview-url").await;
    assert_eq!(
        build_url,
        format!("{}/hooks/builds/trigger/{site}", server.base)
    );
    for (url, kind, log) in [
        (&build_url, "build", "gatsby build"),
        (&preview_url, "preview", "gatsby preview"),
    ] {
        let answer = server.client.post(url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{url}");
        follow_newest_job(&b, &site, "the site's own hook URL", "succeeded").await;
        b.wait_text("h1", &format!("{kind} job")).await;
        b.wait_text("#job-log", log).await;
    }
    let body = br#"{"_id": "post-1"}"#.to_vec();
    let unsigned = server
        .client
        .post(&named)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsigned.status(),
        StatusCode::UNAUTHORIZED,
        "no signature, no job"
    );
    let answer = server
        .client
        .post(&named)
        .header(
            "sanity-webhook-signature",
            sanity_signature("studio-secret", &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    follow_newest_job(&b, &site, "Triggered by Sanity via Studio", "succeeded").await;
    b.wait_text("#job-log", "gatsby preview").await;

    // The pages this set-up added, at a laptop's and a phone's width.
    for width in [1280, 390] {
        b.set_width(width).await;
        b.visit(
            &format!("/sites/{site}/settings"),
            &format!("settings-{width}"),
        )
        .await;
        b.scroll_to("#site-hooks").await;
        b.snap(&format!("settings-site-id-{width}")).await;
        b.visit(&format!("/sites/{site}/hooks"), &format!("hooks-{width}"))
            .await;
        let overflow: i64 = b
            .script("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(overflow <= 0, "the hooks page scrolls sideways at {width}");
        b.scroll_to("#verify").await;
        b.snap(&format!("hook-form-{width}")).await;
    }

    b.set_width(1280).await;

    // Off again: the unauthenticated URLs stop answering; the page no longer lists them.
    b.visit(&format!("/sites/{site}/settings"), "settings-off")
        .await;
    b.select("#site_hooks", "off").await;
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Saved").await;
    let answer = server.client.post(&build_url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    b.visit(&format!("/sites/{site}/hooks"), "hooks-off").await;
    assert!(!b.has("#gatsby-build-url").await);
    // Turning an unauthenticated way to start jobs on and off is on the record.
    b.visit(&format!("/sites/{site}/audit"), "audit-1280").await;
    b.wait_text("#audit", "site_hooks: rule: off, kind: build")
        .await;
    b.set_width(390).await;
    b.visit(&format!("/sites/{site}/audit"), "audit-390").await;
    b.close().await;
}

/// DatoCMS: a webhook on one model's changes (its fields' changes included), kept
/// `latest`, with its own payload; the CMS's build hook, named in the job it starts.
#[tokio::test]
async fn a_datocms_set_up_from_the_dashboard_alone() {
    let receiver = Receiver::ok().await;
    let Walkthrough {
        server,
        b,
        site,
        _work,
    } = walkthrough(
        "seed-datocms",
        "Magazine",
        &[("#build_command", "echo dato build")],
        &[],
    )
    .await;

    new_webhook(&b, &site, "http", "Blog post schema").await;
    b.fill("#url", &receiver.url("/schema")).await;
    b.fill("#trigger_0_entity_type", "item_type").await;
    b.fill("#trigger_0_event_types", "update").await;
    b.fill("#trigger_0_model_ids", "blog_post").await;
    b.select("#ordering", "latest").await;
    b.fill(
        "#payload_template",
        r#"{"changed": "{{entity_type}}", "model": "{{entity.relationships.item_type.data.id}}"}"#,
    )
    .await;
    let webhook = create_webhook(&b, "schema-saved").await;
    b.visit(&format!("/sites/{site}/webhooks"), "webhooks")
        .await;
    b.wait_text("#webhooks", "models blog_post").await;

    // The CMS reports a field change of each model: only blog_post's reaches the receiver.
    for model in ["blog_post", "author"] {
        server
            .publish(
                &site,
                serde_json::json!({"entity_type": "field", "event_type": "update",
                    "entity": {"id": format!("title_{model}"),
                               "relationships": {"item_type": {"data": {"id": model}}}}}),
            )
            .await;
    }
    wait_for_calls(&b, &site, &webhook, "success", 1).await;
    b.click("#calls tbody a").await;
    b.wait_text("#call-status", "success").await;
    b.snap("schema-call").await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "the author field's change calls nothing");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"changed": "field", "model": "blog_post"})
    );

    // DatoCMS's own build trigger calls a hook made here.
    let hook = create_hook(&b, &site, "DatoCMS", "build", None).await;
    let answer = server
        .client
        .post(&hook)
        .header("user-agent", "DatoCMS (datocms.com)")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    follow_newest_job(
        &b,
        &site,
        "Triggered by DatoCMS (by its headers) via DatoCMS",
        "succeeded",
    )
    .await;
    b.wait_text("#job-log", "dato build").await;
    b.snap("job-done").await;
    b.close().await;
}
