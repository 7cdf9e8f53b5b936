//! The dashboard's side of the bad months, in a real browser: a failing webhook says so,
//! its rate limit and disable_after are set in its form, and its failed calls are
//! recovered from the page made for it.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use crate::support::browser::Browser;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{item_event, TestServer, ADMIN_TOKEN};
use serde_json::json;

#[tokio::test]
async fn a_failing_webhook_is_shown_tuned_and_recovered_in_the_browser() {
    let status = Arc::new(AtomicU16::new(500));
    let answer = status.clone();
    let receiver = Receiver::start(move |_, _| Reply::status(answer.load(Ordering::SeqCst))).await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/down"),
            json!({"name": "Search index"}),
        )
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let published = server.publish(&site, item_event("1")).await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.settled_call(&site, &call).await["status"], "failed");

    let b = Browser::start(&server.base, "operations").await;
    b.sign_in(ADMIN_TOKEN).await;
    let page = format!("/sites/{site}/webhooks/{hook_id}");
    b.visit(&page, "webhook-failing").await;
    b.wait_text(".alert-warn", "Failing").await;

    // Tuned in its form: a rate limit, and a bad disable_after named beside its field.
    b.fill("#rate_limit_per_s", "25").await;
    b.fill("#disable_after", "soon").await;
    b.click("form.card button.primary").await;
    b.wait_text("#error-disable_after", "duration").await;
    b.fill("#disable_after", "2d").await;
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Saved").await;
    let (_, saved) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{hook_id}"))
        .await;
    assert_eq!(saved["rate_limit_per_s"], 25);
    assert_eq!(saved["disable_after"], "2days");

    // The receiver is back: recover the day's failed calls.
    status.store(200, Ordering::SeqCst);
    b.click("a[href$='/recover']").await;
    b.wait_text("h1", "Recover failed calls").await;
    b.snap("recover-form").await;
    b.click("form button.primary").await;
    b.wait_text(".alert-ok", "Recovery queued").await;
    let recovered = server
        .wait_call(&site, &call, |c| c["status"] == "success")
        .await;
    assert_eq!(recovered["attempt_count"], 4, "three failed, one recovered");
    b.visit(&format!("{page}/recover"), "recover-done").await;
    b.wait_text("#recoveries", "done").await;
    b.close().await;
}

#[tokio::test]
async fn a_webhook_whose_calls_keep_failing_while_retrying_is_listed_as_failing() {
    let receiver = Receiver::start(|_, _| Reply::status(503)).await;
    // A second attempt fails soon, the third is an hour away: no call has failed for good.
    let server = TestServer::start_with(&["--retry-schedule=50ms,1h"]).await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({"name": "Search index"}))
        .await;
    let published = server.publish(&site, item_event("1")).await;
    let call = published["webhook_call_ids"][0].as_str().unwrap();
    let retrying = server
        .wait_call(&site, call, |c| c["attempt_count"] == 2)
        .await;
    assert_eq!(retrying["status"], "pending");
    let (_, view) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{}",
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert!(view["failing_since"].is_string(), "{view}");

    let session = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    for page in [format!("/sites/{site}/webhooks"), format!("/sites/{site}")] {
        let html = session.get(&page).await.text().await.unwrap();
        assert!(
            html.contains("badge badge-failing"),
            "{page} shows no failing state"
        );
        assert!(html.contains("1 pending"), "{page} hides the retrying call");
    }
}

#[tokio::test]
async fn a_sites_job_environment_is_set_in_its_settings_and_hidden_from_viewers() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let session = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let settings = format!("/sites/{site}/settings");
    let saved = session
        .post_form(
            &settings,
            &[
                ("name", "Blog"),
                ("job_timeout_s", "600"),
                ("env", "NODE_ENV=production\n\nAPI_KEY=k=3y\n"),
            ],
        )
        .await;
    assert_eq!(saved.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, stored) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(
        stored["env"],
        json!({"NODE_ENV": "production", "API_KEY": "k=3y"})
    );

    // Every problem at once, and the form keeps what was typed.
    let page = session
        .refused_form(
            &settings,
            &[
                ("name", "Blog"),
                ("build_command", "npm run build:prod"),
                ("working_dir", "relative/dir"),
                ("job_timeout_s", "soon"),
                ("env", "OK=1\nJUSTANAME\nALSO_BAD"),
            ],
        )
        .await;
    for error in [
        "line 2: write NAME=value",
        "line 3: write NAME=value",
        "must be a whole number of seconds",
    ] {
        assert!(page.contains(error), "{error}");
    }
    assert!(
        page.contains("npm run build:prod"),
        "the typed command stays"
    );
    assert!(
        page.contains("OK=1\nJUSTANAME\nALSO_BAD"),
        "the typed env stays"
    );
    // The form's own problems fixed, the API's (a relative directory) show the same way.
    let page = session
        .refused_form(
            &settings,
            &[
                ("name", "Blog"),
                ("build_command", "npm run build:prod"),
                ("working_dir", "relative/dir"),
                ("job_timeout_s", "600"),
                ("env", "OK=1"),
            ],
        )
        .await;
    assert!(page.contains("must be an absolute path"));
    assert!(
        page.contains(r#"value="relative/dir""#),
        "the typed directory stays"
    );
    let (_, stored) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(
        stored["env"]["API_KEY"], "k=3y",
        "a refused form changes nothing"
    );
    assert_eq!(stored["build_command"], serde_json::Value::Null);

    let (_, viewer) = server
        .post("/api/v1/tokens", json!({"name": "eyes", "role": "viewer"}))
        .await;
    let as_viewer =
        crate::support::session::Session::sign_in(&server.base, viewer["token"].as_str().unwrap())
            .await;
    let page = as_viewer.get(&settings).await.text().await.unwrap();
    assert!(page.contains("API_KEY=********"), "names, not values");
    assert!(!page.contains("k=3y"));
}

#[tokio::test]
async fn run_now_takes_a_data_source_and_clears_the_cache_when_asked() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let work = tempfile::tempdir().unwrap();
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "true", "working_dir": work.path().to_str().unwrap()}),
        )
        .await;
    let session = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let started = session
        .post_form(
            &format!("/sites/{site}/jobs"),
            &[
                ("kind", "build"),
                ("data_source", "contentful"),
                ("clear_cache", "on"),
            ],
        )
        .await;
    assert_eq!(started.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, jobs) = server.get(&format!("/api/v1/sites/{site}/jobs")).await;
    assert_eq!(jobs["data"][0]["data_source"], "contentful");
    assert_eq!(jobs["data"][0]["clear_cache"], true);
}

#[tokio::test]
async fn a_slack_notification_is_made_edited_and_tested_from_the_dashboard() {
    let forge = crate::support::forge::Forge::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let session = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let new = session
        .get(&format!("/sites/{site}/webhooks/new?type=slack"))
        .await
        .text()
        .await
        .unwrap();
    assert!(new.contains(r#"name="config_url""#), "the Slack form");
    assert!(new.contains("GitLab merge-request note"), "the type picker");
    assert!(!new.contains("Signing secret"), "nothing is signed");

    let slack_url = format!("{}/services/T1/B1/secret", forge.base);
    let form = |url: &str, template: &str| {
        vec![
            ("kind".into(), "slack".into()),
            ("name".into(), "Deploys to chat".into()),
            ("config_url".into(), url.to_owned()),
            ("config_template".into(), template.to_owned()),
            ("trigger_0_entity_type".into(), "deploy".into()),
            ("trigger_0_event_types".into(), "*".into()),
            ("enabled".into(), "on".into()),
            ("timeout_ms".into(), "5000".into()),
        ]
    };
    let borrowed = |fields: &[(String, String)]| -> Vec<(String, String)> { fields.to_vec() };
    let post = |path: String, fields: Vec<(String, String)>| {
        let session = &session;
        async move {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            session.post_form(&path, &pairs).await
        }
    };
    let made = post(
        format!("/sites/{site}/webhooks"),
        borrowed(&form(&slack_url, "")),
    )
    .await;
    assert_eq!(
        made.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        made.text().await.unwrap()
    );
    let page = made.headers()["location"].to_str().unwrap().to_owned();
    let hook_id = page
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (_, hook) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{hook_id}"))
        .await;
    assert_eq!(hook["type"], "slack", "{hook}");
    let shown = session.get(&page).await.text().await.unwrap();
    assert!(
        !shown.contains("Signing secret"),
        "nothing of a notification is signed"
    );
    let masked = hook["config"]["url"].as_str().unwrap().to_owned();
    assert!(
        masked.ends_with("/********") && !masked.contains("secret"),
        "{masked}"
    );

    // Edited with the secret left masked: the stored URL stays.
    let template = r#"{"text": "{{event_type}} for {{entity.site_name}}"}"#;
    let saved = post(
        format!("/sites/{site}/webhooks/{hook_id}"),
        form(&masked, template),
    )
    .await;
    assert_eq!(
        saved.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        saved.text().await.unwrap()
    );

    let tested = post(format!("/sites/{site}/webhooks/{hook_id}/test"), vec![]).await;
    assert_eq!(tested.status(), reqwest::StatusCode::SEE_OTHER);
    let call_page = tested.headers()["location"].to_str().unwrap().to_owned();
    let call_id = call_page
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let done = server.settled_call(&site, &call_id).await;
    assert_eq!(done["status"], "success", "{done}");
    let sent: Vec<_> = forge
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/services/"))
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].target, "/services/T1/B1/secret");
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .starts_with("deploy_succeeded for "),
        "{:?}",
        sent[0].body
    );
    let shown = session.get(&call_page).await.text().await.unwrap();
    assert!(shown.contains("A test event was sent to this webhook only"));
}

#[tokio::test]
async fn the_webhook_form_reports_every_problem_at_once() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let session = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let page = session
        .refused_form(
            &format!("/sites/{site}/webhooks"),
            &[
                ("kind", "http"),
                ("name", "Broken"),
                ("url", "ftp://example.com/x"),
                ("trigger_0_entity_type", "itme"),
                ("trigger_0_event_types", "publish"),
                ("headers", "not a header line"),
                ("timeout_ms", "5000"),
                ("content_type", "application/json"),
                ("payload_template", "{\"a\": \"{{#entity}}\"}"),
                ("enabled", "on"),
            ],
        )
        .await;
    for field in ["headers", "url", "triggers[0]", "payload_template"] {
        assert!(
            page.contains(&format!("id=\"error-{field}\"")),
            "no error for {field}"
        );
    }
    assert!(page.contains("did you mean"), "the typo's suggestion");
    let (_, hooks) = server.get(&format!("/api/v1/sites/{site}/webhooks")).await;
    assert_eq!(hooks["data"].as_array().unwrap().len(), 0, "nothing stored");
}

/// Site-id URLs start jobs without a credential: the settings form turns them on for owners
/// only, and an unknown rule is a field error that changes nothing.
#[tokio::test]
async fn only_an_owner_turns_site_id_urls_on_from_the_settings() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let settings = format!("/sites/{site}/settings");
    let (_, developer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "dev", "role": "developer"}),
        )
        .await;
    let as_developer = crate::support::session::Session::sign_in(
        &server.base,
        developer["token"].as_str().unwrap(),
    )
    .await;
    let page = as_developer.get(&settings).await.text().await.unwrap();
    assert!(
        page.contains(r#"select id="site_hooks" name="site_hooks" disabled"#),
        "a developer sees the setting, disabled"
    );
    let saved = as_developer
        .post_form(
            &settings,
            &[
                ("name", "Renamed"),
                ("job_timeout_s", "600"),
                ("site_hooks", "gatsby"),
            ],
        )
        .await;
    assert_eq!(saved.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, stored) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(
        stored["name"], "Renamed",
        "what a developer may change is saved"
    );
    assert_eq!(stored["site_hooks"]["rule"], "off", "the rule is not");

    let owner = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let page = owner
        .refused_form(
            &settings,
            &[
                ("name", "Renamed"),
                ("job_timeout_s", "600"),
                ("site_hooks", "everyone"),
            ],
        )
        .await;
    assert!(page.contains("must be off, gatsby or connect"));
    let saved = owner
        .post_form(
            &settings,
            &[
                ("name", "Renamed"),
                ("job_timeout_s", "600"),
                ("site_hooks", "connect"),
                ("site_hooks_kind", "sync"),
            ],
        )
        .await;
    assert_eq!(saved.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, stored) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(
        stored["site_hooks"],
        json!({"rule": "connect", "kind": "sync"})
    );
}

/// The New hook form's sender check: a bad choice or a short shared secret is an error
/// beside its field, and nothing is made.
#[tokio::test]
async fn a_hooks_sender_check_is_refused_beside_its_field() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let owner = crate::support::session::Session::sign_in(&server.base, ADMIN_TOKEN).await;
    let hooks = format!("/sites/{site}/hooks");
    for (fields, error) in [
        (
            vec![("verify", "telepathy")],
            "must be none, sanity, contentful, github",
        ),
        (
            vec![
                ("verify", "header"),
                ("verify_header", "X-Token"),
                ("verify_secret", "short"),
            ],
            "must be at least 16 characters",
        ),
        (
            vec![("verify", "sanity"), ("verify_secret", "")],
            "must not be empty",
        ),
    ] {
        let mut form = vec![("title", "Studio publish"), ("kind", "preview")];
        form.extend(fields.iter().copied());
        let page = owner.refused_form(&hooks, &form).await;
        assert!(page.contains(error), "{error} not in the page");
        // The form comes back as it was posted (but for the secret).
        assert!(page.contains(r#"value="Studio publish""#));
        assert!(page.contains(r#"<option value="preview" selected>"#));
        if let Some((_, check)) = fields.iter().find(|(name, _)| *name == "verify") {
            if *check != "telepathy" {
                assert!(page.contains(&format!(r#"<option value="{check}" selected>"#)));
            }
        }
        assert!(
            !page.contains("value=\"short\""),
            "the secret is not sent back"
        );
    }
    let (_, listed) = server
        .get(&format!("/api/v1/sites/{site}/build_hooks"))
        .await;
    assert_eq!(listed["data"], json!([]), "no hook was made");
}
