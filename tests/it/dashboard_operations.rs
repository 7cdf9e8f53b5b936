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
