//! Custom payloads and signatures a receiver can trust, over real HTTP, checked with
//! independent implementations (the official `standardwebhooks` crate, `jsonwebtoken`).

use crate::support::jws::nf_sign_claims;
use crate::support::receiver::{Received, Receiver};
use crate::support::{item_event, TestServer};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn header_map(got: &Received) -> HeaderMap {
    got.headers
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

/// The official Standard Webhooks library's verdict on a received request.
fn standard_webhooks_accepts(secret: &str, got: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&got.body, &header_map(got))
        .is_ok()
}

fn problem_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_template_renders_the_designs_example_and_is_signed_as_sent() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let template = r#"{"message": "{{event_type}} event triggered on {{entity_type}}!", "entity_id": "{{#entity}}{{id}}{{/entity}}"}"#;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"payload_template": template}),
        )
        .await;
    assert_eq!(hook["payload_template"], template);
    assert_eq!(hook["content_type"], "application/json");
    server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "update", "entity": {"id": "293467"}}),
        )
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        std::str::from_utf8(&got.body).unwrap(),
        r#"{"message": "update event triggered on item!", "entity_id": "293467"}"#
    );
    assert_eq!(got.header("content-type"), "application/json");
    assert!(standard_webhooks_accepts(
        hook["secret"].as_str().unwrap(),
        &got
    ));
}

#[tokio::test]
async fn values_with_quotes_newlines_and_unicode_stay_valid_json() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let nasty = "He said \"hi\"\\n\n\t<b>&amp;</b> 'é' \u{1F600} \u{0}\u{1f}";
    server
        .create_webhook(&site, &receiver.url("/"), json!({"payload_template": r#"{"title": "{{entity.title}}", "raw": {{{entity.meta}}}}"#}))
        .await;
    server
        .publish(&site, json!({"entity_type": "item", "event_type": "update", "entity": {"id": "1", "title": nasty, "meta": {"n": [1, 2]}}}))
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    let body: Value = serde_json::from_slice(&got.body).expect("the delivered body is JSON");
    assert_eq!(body["title"], nasty);
    assert_eq!(body["raw"], json!({"n": [1, 2]}));
}

#[tokio::test]
async fn non_json_bodies_go_out_with_their_content_type() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"payload_template": "{{event_type}}: {{entity.title}}", "content_type": "text/plain; charset=utf-8"}),
        )
        .await;
    let call = server
        .publish(&site, json!({"entity_type": "item", "event_type": "publish", "entity": {"id": "1", "title": "Tom & \"Jerry\""}}))
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    assert_eq!(got.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(
        std::str::from_utf8(&got.body).unwrap(),
        "publish: Tom & \"Jerry\""
    );
    let logged = server
        .call(&site, call["webhook_call_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(
        logged["request"]["content_type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(logged["request"]["body"], "publish: Tom & \"Jerry\"");
}

#[tokio::test]
async fn bad_templates_are_refused_with_line_and_column() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let base = json!({"name": "x", "url": "https://example.com/h", "triggers": [{"entity_type": "item", "event_types": ["*"]}]});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    let (status, problem) = server
        .post(
            &path,
            with(json!({"payload_template": "{\n  \"id\": \"{{#entity}}{{id}}\"\n}"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["payload_template"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2, column 10: section `entity` is never closed"),
        "{problem}"
    );

    let (status, problem) = server
        .post(
            &path,
            with(json!({"payload_template": "{\"id\": {{entity.id}}}"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not render valid JSON for a sample event"),
        "{problem}"
    );

    let (status, problem) = server
        .post(&path, with(json!({"content_type": "text/plain"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["content_type"]);
}

#[tokio::test]
async fn preview_renders_without_sending() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"payload_template": "{\"t\": \"{{entity.title}}\"}", "triggers": [{"entity_type": "item", "event_types": ["publish"]}]}),
        )
        .await;
    let preview = format!(
        "/api/v1/sites/{site}/webhooks/{}/preview",
        hook["id"].as_str().unwrap()
    );
    let (status, shown) = server
        .post(&preview, json!({"entity_type": "item", "event_type": "publish", "entity": {"id": "1", "title": "Hi \"you\""}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["matches"], true);
    assert_eq!(shown["body"], r#"{"t": "Hi \"you\""}"#);
    let (_, shown) = server.post(&preview, item_event("2")).await;
    assert_eq!(
        shown["matches"], false,
        "an update does not trigger a publish-only webhook"
    );
    assert_eq!(
        server
            .get(&format!("/api/v1/sites/{site}/webhook_calls"))
            .await
            .1["data"],
        json!([])
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({}))
        .await;
    let old_secret = hook["secret"].as_str().unwrap().to_owned();
    let hook_path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );

    let (status, rotated) = server
        .post(&format!("{hook_path}/rotate_secret"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        server.get(&format!("{hook_path}/secret")).await.1["secret"],
        new_secret.as_str()
    );
    let expires = hookrelay::domain::time::parse_rfc3339(
        rotated["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let in_a_day = hookrelay::domain::time::now_millis() + 24 * 3_600_000;
    assert!(
        (in_a_day - expires).abs() < 60_000,
        "the overlap lasts 24 h"
    );
    assert_eq!(
        server.get(&hook_path).await.1["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );

    server.publish(&site, item_event("1")).await;
    let got = receiver.wait_for(1).await.remove(0);
    assert_eq!(got.header("webhook-signature").split(' ').count(), 2);
    assert!(
        standard_webhooks_accepts(&new_secret, &got),
        "receivers on the new secret accept it"
    );
    assert!(
        standard_webhooks_accepts(&old_secret, &got),
        "receivers still on the old secret accept it"
    );
}

#[tokio::test]
async fn x_nf_sign_is_a_jws_an_independent_library_accepts() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/"),
            json!({"jws_secret": "netlify-style-secret", "jws_issuer": "my-cms"}),
        )
        .await;
    assert_eq!(hook["jws_secret"], "********");
    server.publish(&site, item_event("1")).await;
    let got = receiver.wait_for(1).await.remove(0);

    let claims = nf_sign_claims(got.header("x-nf-sign"), "netlify-style-secret", "my-cms")
        .expect("jsonwebtoken accepts X-Nf-Sign");
    assert_eq!(claims.iss, "my-cms");
    assert_eq!(claims.sha256, hex::encode(Sha256::digest(&got.body)));
    assert!(nf_sign_claims(got.header("x-nf-sign"), "wrong", "my-cms").is_err());
}

/// Runs `hookrelay verify` on a saved delivery; returns (exit success, stdout + stderr).
fn run_verify(dir: &std::path::Path, args: &[&str], headers: &str, body: &[u8]) -> (bool, String) {
    std::fs::write(dir.join("headers.txt"), headers).unwrap();
    std::fs::write(dir.join("body.bin"), body).unwrap();
    let headers_arg = format!("--headers={}", dir.join("headers.txt").display());
    let body_arg = format!("--body={}", dir.join("body.bin").display());
    let mut argv = vec!["verify"];
    argv.extend_from_slice(args);
    argv.extend([headers_arg.as_str(), body_arg.as_str()]);
    crate::support::process::run(&argv)
}

#[tokio::test]
async fn the_verify_command_tells_genuine_from_forged() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(&site, &receiver.url("/"), json!({"jws_secret": "jws-k"}))
        .await;
    let secret = hook["secret"].as_str().unwrap();
    server.publish(&site, item_event("1")).await;
    let got = receiver.wait_for(1).await.remove(0);
    let dump: String = got
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let secret_arg = format!("--secret={secret}");

    let (ok, out) = run_verify(
        dir.path(),
        &[&secret_arg, "--jws-secret=jws-k"],
        &dump,
        &got.body,
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("ok: Standard Webhooks signature valid")
            && out.contains("ok: X-Nf-Sign valid"),
        "{out}"
    );

    let (ok, out) = run_verify(dir.path(), &[&secret_arg], &dump, b"{\"forged\":true}");
    assert!(!ok);
    assert!(out.contains("NOT genuine"), "{out}");

    let stale = dump.replace(got.header("webhook-timestamp"), "1000000000");
    let (ok, out) = run_verify(dir.path(), &[&secret_arg], &stale, &got.body);
    assert!(!ok);
    assert!(out.contains("tolerance"), "{out}");

    let (ok, out) = run_verify(dir.path(), &[], &dump, &got.body);
    assert!(!ok);
    assert!(out.contains("--secret"), "{out}");
}

#[tokio::test]
async fn patching_templates_and_jws_settings() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let hook = server
        .create_webhook(
            &site,
            "https://example.com/h",
            json!({"payload_template": "{}", "jws_secret": "s"}),
        )
        .await;
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let (status, patched) = server
        .patch(
            &path,
            json!({"jws_secret": "********", "jws_issuer": "cms"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["jws_secret"], "********",
        "the mask kept the stored secret"
    );
    let (_, patched) = server
        .patch(&path, json!({"payload_template": null, "jws_secret": null}))
        .await;
    assert_eq!(patched["payload_template"], Value::Null);
    assert_eq!(patched["jws_secret"], Value::Null);
}
