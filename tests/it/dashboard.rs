//! The dashboard in a real browser (headless Chromium over WebDriver) against a real
//! server: sign in, forms, the activity log with Resend, build hooks and a live job log,
//! roles and CSRF. Screenshots of every page land in target/screenshots/.

use crate::support::browser::Browser;
use crate::support::receiver::Receiver;
use crate::support::{TestServer, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_webhook_made_in_the_browser_delivers_and_resends() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok().await;
    let b = Browser::start(&server.base, "webhook").await;

    b.sign_in(ADMIN_TOKEN).await;
    b.snap("sites-empty").await;
    b.fill("#name", "Blog").await;
    b.click("form[action='/sites'] button[type=submit]").await;
    b.wait_text(".alert-ok", "Created").await;
    b.snap("site-overview").await;
    let site_url = b.client.current_url().await.unwrap();
    let site = site_url.path().trim_start_matches("/sites/").to_owned();

    // A bad URL is refused, with the error beside the URL field and the input kept.
    b.visit(&format!("/sites/{site}/webhooks/new"), "webhook-new")
        .await;
    b.fill("#name", "Rebuild on publish").await;
    b.fill("#url", "ftp://example.com/hook").await;
    b.click("form.card button.primary").await;
    let error = b.wait_text("#error-url", "http").await;
    assert!(
        error.text().await.unwrap().contains("must"),
        "a sentence about the URL"
    );
    assert_eq!(
        b.find("#url").await.prop("value").await.unwrap().as_deref(),
        Some("ftp://example.com/hook"),
        "what was typed is kept"
    );
    assert_eq!(
        b.find("#url")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    b.snap("webhook-url-error").await;

    // The live preview renders the template as it is typed.
    b.fill(
        "#payload_template",
        r#"{"said": "{{event_type}} {{entity.id}}"}"#,
    )
    .await;
    b.wait_text("#preview-output", r#"{"said": "publish sample-item"}"#)
        .await;
    b.wait_text("#preview-verdict", "triggers the webhook")
        .await;
    b.fill("#payload_template", "").await;

    b.fill("#url", &receiver.url("/hooks/cms")).await;
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Created").await;
    b.snap("webhook-created").await;
    let (_, hooks) = server.get(&format!("/api/v1/sites/{site}/webhooks")).await;
    let hook = &hooks["data"][0];
    assert_eq!(hook["name"], "Rebuild on publish");
    assert_eq!(hook["triggers"][0]["event_types"], json!(["publish"]));

    // The secret is shown on demand only.
    assert!(!b.has("#signing-secret").await);
    b.click("form[action$='/secret'] button").await;
    let shown = b.find("#signing-secret").await.prop("value").await.unwrap();
    let (_, secret) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{}/secret",
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown.as_deref(), secret["secret"].as_str());
    b.snap("webhook-secret").await;

    // An event published by API shows up in the activity log.
    let published = server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "publish", "entity": {"id": "42", "title": "Hello"}}),
        )
        .await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    server.settled_call(&site, &call).await;
    b.visit(&format!("/sites/{site}/calls"), "activity-log")
        .await;
    b.wait_text("#calls", "item.publish").await;
    b.wait_text("#calls", "success").await;

    // Filters live in the URL.
    b.visit(
        &format!("/sites/{site}/calls?status=failed"),
        "activity-failed",
    )
    .await;
    b.wait_text("main", "No calls match").await;
    b.visit(
        &format!("/sites/{site}/calls?status=success"),
        "activity-success",
    )
    .await;
    b.click("#calls tbody a").await;
    b.wait_text("#attempt-count", "1").await;
    assert!(
        b.page_text().await.contains("\"id\": \"42\""),
        "the body, pretty-printed"
    );
    b.snap("call").await;

    // Resend: the second attempt appears on the page it was asked from.
    b.click("#resend").await;
    b.wait_text(".alert-ok", "Queued a new attempt").await;
    b.wait_text("#attempt-count", "2").await;
    b.wait_text("#live", "Attempt 2").await;
    b.snap("call-resent").await;
    assert_eq!(receiver.received().len(), 2);
    b.close().await;
}

#[tokio::test]
async fn a_build_hook_job_streams_its_log_live() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let work = tempfile::tempdir().unwrap();
    // The build waits for a file the test creates, so the page is watched mid-run.
    let (status, body) = server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({
                "build_command": "echo started; while [ ! -f go ]; do sleep 0.05; done; echo finished",
                "working_dir": work.path().to_str().unwrap(),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = Browser::start(&server.base, "build-hook").await;
    b.sign_in(ADMIN_TOKEN).await;

    b.visit(&format!("/sites/{site}/hooks"), "hooks-empty")
        .await;
    b.fill("#title", "CMS publish").await;
    b.click("form[action$='/hooks'] button.primary").await;
    b.wait_text(".alert-ok", "Created").await;
    b.snap("hook-created").await;
    let url = b
        .find("#hook-url")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/hooks/bh_", server.base)),
        "{url}"
    );
    assert!(b.has("button[data-copy='hook-url']").await, "a copy button");

    let triggered = server.client.post(&url).send().await.unwrap();
    assert_eq!(triggered.status(), StatusCode::ACCEPTED);

    b.visit(&format!("/sites/{site}/jobs"), "jobs").await;
    b.wait_text("#jobs", "Triggered by CMS publish").await;
    b.click("#jobs tbody a").await;
    b.wait_text("#triggered-by", "CMS publish").await;
    b.wait_text("#job-log", "started").await;
    b.wait_text("#job-status", "running").await;
    b.snap("job-running").await;
    assert!(!b
        .find("#job-log")
        .await
        .text()
        .await
        .unwrap()
        .contains("finished"));

    assert!(b.find("#cancel-job").await.is_displayed().await.unwrap());
    std::fs::write(work.path().join("go"), "").unwrap();
    b.wait_text("#job-log", "finished").await;
    b.wait_text("#job-status", "succeeded").await;
    // The stream's end hides the Cancel button with the job's end, without a reload.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.find("#cancel-job").await.is_displayed().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "Cancel job stays after the job ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    b.snap("job-finished").await;

    b.visit(&format!("/sites/{site}/hooks"), "hooks").await;
    b.click("#hooks tbody a").await;
    b.wait_text("#requests", "accepted").await;
    b.snap("hook-requests").await;
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_write_buttons_and_forged_posts_are_refused() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/x"), json!({}))
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let published = server.publish(&site, crate::support::item_event("7")).await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    server.settled_call(&site, &call).await;
    let (_, viewer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "Auditor", "role": "viewer"}),
        )
        .await;

    let b = Browser::start(&server.base, "viewer").await;
    b.sign_in(viewer["token"].as_str().unwrap()).await;
    b.wait_text(".who", "Auditor").await;
    b.visit(&format!("/sites/{site}/webhooks"), "viewer-webhooks")
        .await;
    assert!(!b.has("a[href$='/webhooks/new']").await);
    b.visit(
        &format!("/sites/{site}/webhooks/{hook_id}"),
        "viewer-webhook",
    )
    .await;
    assert!(!b.has("form.card button.primary").await, "no save button");
    assert!(!b.has("form[action$='/secret']").await, "no reveal button");
    assert!(!b.has("form[action$='/rotate']").await, "no rotate button");
    assert!(b.find("#url").await.attr("disabled").await.is_ok());
    b.visit(&format!("/sites/{site}/calls/{call}"), "viewer-call")
        .await;
    assert!(!b.has("#resend").await);
    b.visit(&format!("/sites/{site}/hooks"), "viewer-hooks")
        .await;
    assert!(!b.has("#title").await, "no create form");
    b.visit("/tokens", "viewer-tokens").await;
    assert!(b.page_text().await.contains("403"), "tokens are for owners");

    // The server enforces the role even with a valid CSRF token.
    let viewer_cookie = b.session_cookie().await;
    let csrf = csrf_of(
        &server,
        &viewer_cookie,
        &format!("/sites/{site}/calls/{call}"),
    )
    .await;
    let forged = form_post(
        &server,
        &viewer_cookie,
        &format!("/sites/{site}/calls/{call}/resend"),
        &[("_csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    b.close().await;

    // An owner's session without the CSRF token cannot delete anything.
    let owner = Browser::start(&server.base, "csrf").await;
    owner.sign_in(ADMIN_TOKEN).await;
    let cookie = owner.session_cookie().await;
    let path = format!("/sites/{site}/webhooks/{hook_id}/delete");
    for fields in [&[][..], &[("_csrf", "forged")][..]] {
        let response = form_post(&server, &cookie, &path, fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let (status, _) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{hook_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "the webhook is still there");
    owner.visit(&path, "confirm-delete").await;
    owner.click("button.danger").await;
    owner.wait_text(".alert-ok", "Deleted").await;
    let (status, _) = server
        .get(&format!("/api/v1/sites/{site}/webhooks/{hook_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted with the CSRF token");
    owner.close().await;
}

async fn form_post(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    server
        .client
        .post(format!("{}{path}", server.base))
        .header("cookie", format!("hr_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

/// The CSRF token a page of this session carries.
async fn csrf_of(server: &TestServer, cookie: &str, path: &str) -> String {
    let page = server
        .client
        .get(format!("{}{path}", server.base))
        .header("cookie", format!("hr_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="_csrf" value=""#;
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

/// A client that shows redirects instead of following them.
fn plain_client() -> reqwest::Client {
    let _ = crate::support::client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(set_cookie: &[String], name: &str) -> Option<String> {
    set_cookie.iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

/// Signs in over plain HTTP; returns the session cookie's Set-Cookie line and value.
async fn sign_in_http(base: &str, token: &str) -> (String, String) {
    let client = plain_client();
    let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
    let pre = cookie_value(&set_cookies(&form), "hr_sign_in").expect("a sign-in cookie");
    let answer = client
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("hr_sign_in={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("_csrf", pre.as_str()),
                ("token", token),
                ("next", "/sites"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "/sites");
    let cookies = set_cookies(&answer);
    let line = cookies
        .iter()
        .find(|c| c.starts_with("hr_session="))
        .expect("a session cookie")
        .clone();
    let value = cookie_value(&cookies, "hr_session").unwrap();
    (line, value)
}

async fn get_page(base: &str, cookie: &str, path: &str) -> reqwest::Response {
    plain_client()
        .get(format!("{base}{path}"))
        .header("cookie", format!("hr_session={cookie}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_are_strict_cookies_that_end_with_sign_out_or_their_token() {
    let server = TestServer::start().await;
    let base = server.base.clone();
    let client = plain_client();

    // Not signed in: every page leads to the form, and back afterwards.
    let home = client
        .get(format!("{base}/sites/x/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        home.headers()["location"],
        "/sign-in?next=%2Fsites%2Fx%2Fcalls"
    );

    // A sign-in without the form's CSRF cookie, or with an unknown token, is refused.
    let forged = client
        .post(format!("{base}/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("_csrf", "x"), ("token", ADMIN_TOKEN)]).unwrap())
        .send()
        .await
        .unwrap();
    assert!(forged.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=expired"));
    assert!(cookie_value(&set_cookies(&forged), "hr_session").is_none());

    let (line, session) = sign_in_http(&base, ADMIN_TOKEN).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(line.contains(flag), "{line} lacks {flag}");
    }
    assert!(
        !line.contains("Secure"),
        "plain http: the browser would drop it"
    );

    let page = get_page(&base, &session, "/sites").await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");

    // Sign-out ends this session.
    let csrf = csrf_of(&server, &session, "/sites").await;
    let out = form_post(&server, &session, "/sign-out", &[("_csrf", csrf.as_str())]).await;
    assert!(out.status().is_redirection() || out.status().is_success());
    assert_eq!(
        get_page(&base, &session, "/sites").await.status(),
        StatusCode::SEE_OTHER
    );

    // Revoking the token ends its sessions at once.
    let (_, made) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "Temp", "role": "developer"}),
        )
        .await;
    let (_, session) = sign_in_http(&base, made["token"].as_str().unwrap()).await;
    assert_eq!(
        get_page(&base, &session, "/sites").await.status(),
        StatusCode::OK
    );
    let (status, _) = server
        .delete(&format!("/api/v1/tokens/{}", made["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_page(&base, &session, "/sites").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let server = TestServer::start_with(&["--public-url=https://hooks.example.com"]).await;
    let (line, _) = sign_in_http(&server.base, ADMIN_TOKEN).await;
    assert!(line.contains("; Secure"), "{line}");
}

#[tokio::test]
async fn pages_show_the_api_s_answers() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (_, session) = sign_in_http(&server.base, ADMIN_TOKEN).await;
    let page = get_page(&server.base, &session, &format!("/sites/{site}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Calls in the last 24 hours"));
    assert!(html.contains("<svg"), "the chart is inline SVG");

    let missing = get_page(&server.base, &session, "/sites/site_nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("site not found"));

    let bad_filter = get_page(
        &server.base,
        &session,
        &format!("/sites/{site}/calls?since=yesterday"),
    )
    .await;
    assert_eq!(bad_filter.status(), StatusCode::OK);
    assert!(bad_filter
        .text()
        .await
        .unwrap()
        .contains("must be an RFC 3339 time"));

    // Form submissions and notification webhooks have their pages too.
    let sent = server
        .client
        .post(format!("{}/forms/{site}/contact", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=zoe%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let forms = get_page(&server.base, &session, &format!("/sites/{site}/forms")).await;
    assert!(forms.text().await.unwrap().contains("zoe@example.com"));
    let (status, _) = server
        .post(
            &format!("/api/v1/sites/{site}/webhooks"),
            json!({"name": "Mail", "type": "email", "triggers": [{"entity_type": "deploy", "event_types": ["*"]}],
                   "config": {"host": "smtp.example.com", "from": "a@example.com", "to": ["ops@example.com"],
                              "username": "u", "password": "hunter2"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let list = get_page(&server.base, &session, &format!("/sites/{site}/webhooks")).await;
    let list = list.text().await.unwrap();
    assert!(list.contains("Email to ops@example.com"), "{list}");
    assert!(!list.contains("hunter2"));

    let asset = get_page(&server.base, &session, "/assets/0/app.js").await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}
