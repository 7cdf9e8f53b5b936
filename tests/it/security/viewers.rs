//! A viewer reads settings, logs and jobs, never a credential: no custom header value
//! (unless the webhook lists it as public), no URL query value, no signature of a call
//! (with one, a signed call could be replayed), no site variable's value, no build hook
//! URL. Developers still see what they need.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::{item_event, TestServer};

async fn viewer(server: &TestServer) -> TestServer {
    let (_, token) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "viewer", "role": "viewer"}),
        )
        .await;
    server.with_token(token["token"].as_str().unwrap())
}

#[tokio::test]
async fn viewers_see_no_header_value_query_secret_or_signature() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &format!("{}?token=query-secret&tenant=7", receiver.url("/in")),
            json!({"headers": {"X-Pass": "hunter2", "X-Session": "s-secret", "X-Team": "web"},
                   "public_headers": ["X-Team"], "jws_secret": "jws-secret"}),
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    let published = server.publish(&site, item_event("1")).await;
    let call_id = published["webhook_call_ids"][0].as_str().unwrap();
    server.settled_call(&site, call_id).await;
    let as_viewer = viewer(&server).await;

    let (_, shown) = as_viewer
        .get(&format!("/api/v1/sites/{site}/webhooks/{id}"))
        .await;
    assert_eq!(shown["headers"]["X-Pass"], "********");
    assert_eq!(shown["headers"]["X-Session"], "********");
    assert_eq!(shown["headers"]["X-Team"], "web", "a public header");
    let url = shown["url"].as_str().unwrap();
    assert!(url.ends_with("/in?token=********&tenant=********"), "{url}");
    let (_, listed) = as_viewer
        .get(&format!("/api/v1/sites/{site}/webhooks"))
        .await;
    assert!(!listed.to_string().contains("hunter2"));
    assert!(!listed.to_string().contains("query-secret"));

    let (_, call) = as_viewer
        .get(&format!("/api/v1/sites/{site}/webhook_calls/{call_id}"))
        .await;
    let text = call.to_string();
    for secret in ["hunter2", "s-secret", "query-secret"] {
        assert!(!text.contains(secret), "{secret} shown to a viewer: {call}");
    }
    let headers = &call["attempts"][0]["request_headers"];
    assert_eq!(headers["webhook-signature"], "********");
    assert_eq!(headers["x-nf-sign"], "********");
    assert_eq!(headers["x-team"], "web");
    assert_eq!(headers["webhook-id"], call_id);
    assert!(call["request"]["url"]
        .as_str()
        .unwrap()
        .contains("token=********"));

    let (_, audit) = as_viewer
        .get(&format!("/api/v1/sites/{site}/audit_log"))
        .await;
    assert!(!audit.to_string().contains("query-secret"), "{audit}");

    // A developer still sees the signature and the query (the masked-by-name ones stay
    // masked for everyone).
    let (_, call) = server
        .get(&format!("/api/v1/sites/{site}/webhook_calls/{call_id}"))
        .await;
    let headers = &call["attempts"][0]["request_headers"];
    assert!(headers["webhook-signature"]
        .as_str()
        .unwrap()
        .starts_with("v1,"));
    assert!(call["request"]["url"]
        .as_str()
        .unwrap()
        .contains("query-secret"));
}

#[tokio::test]
async fn viewers_get_no_hook_url_and_no_site_variable() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"env": {"CMS_TOKEN": "cms-secret"}}),
        )
        .await;
    let (_, hook) = server
        .post(
            &format!("/api/v1/sites/{site}/build_hooks"),
            json!({"title": "CMS", "kind": "build"}),
        )
        .await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let token_part = url.rsplit('/').next().unwrap().to_owned();
    let as_viewer = viewer(&server).await;
    for path in [
        format!("/api/v1/sites/{site}/build_hooks"),
        format!(
            "/api/v1/sites/{site}/build_hooks/{}",
            hook["id"].as_str().unwrap()
        ),
        format!("/api/v1/sites/{site}/audit_log"),
    ] {
        let (status, body) = as_viewer.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !body.to_string().contains(&token_part),
            "{path} shows the hook's URL: {body}"
        );
    }
    // A job started from the hook names it by id, not by its URL.
    let started = server.client.post(&url).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let (_, jobs) = as_viewer.get(&format!("/api/v1/sites/{site}/jobs")).await;
    assert!(!jobs.to_string().contains(&token_part), "{jobs}");
    let (_, shown) = as_viewer.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(shown["env"]["CMS_TOKEN"], "********");
    let (_, listed) = as_viewer.get("/api/v1/sites").await;
    assert!(!listed.to_string().contains("cms-secret"));
    // The dashboard shows the same.
    let session = crate::support::session::Session::sign_in(&server.base, &as_viewer.token).await;
    let page = session
        .get(&format!("/sites/{site}/hooks"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(&token_part),
        "the hooks page shows a viewer the URL"
    );
    let (_, owner_view) = server
        .get(&format!("/api/v1/sites/{site}/build_hooks"))
        .await;
    let data: &Value = &owner_view["data"][0];
    assert_eq!(data["url"], url, "developers and owners still get it");
}
