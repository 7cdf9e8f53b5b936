//! Notifications made in a real browser: the type picker, a target's own form, Send test,
//! and the pages at a laptop's and a phone's width (screenshots under target/screenshots).

use crate::support::browser::Browser;
use crate::support::forge::Forge;
use crate::support::{TestServer, ADMIN_TOKEN};

#[tokio::test]
async fn a_notification_is_set_up_and_tested_in_the_browser() {
    let forge = Forge::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let b = Browser::start(&server.base, "notifications").await;
    b.sign_in(ADMIN_TOKEN).await;
    b.visit(&format!("/sites/{site}/webhooks/new"), "new-http")
        .await;
    b.click("nav.type-picker a[href$='type=slack']").await;
    b.wait_text("fieldset.target legend", "Slack").await;
    b.snap("new-slack").await;
    b.fill("#name", "Deploys to chat").await;
    b.fill("#config_url", &format!("{}/services/T1/B1/x", forge.base))
        .await;
    b.click("form.card button.primary").await;
    b.wait_text(".alert-ok", "Created").await;
    b.snap("slack-saved").await;
    b.click("#send-test").await;
    b.wait_text(".alert-ok", "A test event was sent").await;
    b.wait_text("#call-status", "success").await;
    b.snap("test-call").await;
    let (_, calls) = server
        .get(&format!("/api/v1/sites/{site}/webhook_calls"))
        .await;
    let call = calls["data"][0]["id"].as_str().unwrap().to_owned();
    for width in [1280, 390] {
        b.set_width(width).await;
        b.visit(
            &format!("/sites/{site}/calls/{call}"),
            &format!("call-{width}"),
        )
        .await;
        // Nothing on a call's page is wider than a phone's screen.
        let overflow: i64 = b
            .script("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            overflow <= 0,
            "the call page scrolls sideways by {overflow} px at {width}"
        );
        b.set_width(width).await;
        b.visit(
            &format!("/sites/{site}/webhooks/new?type=github_commit_status"),
            &format!("new-github-{width}"),
        )
        .await;
        b.visit(
            &format!("/sites/{site}/webhooks"),
            &format!("webhooks-{width}"),
        )
        .await;
    }
    let sent = forge.requests();
    assert_eq!(sent.len(), 1, "one test message");
    assert_eq!(sent[0].target, "/services/T1/B1/x");
    b.close().await;
}
