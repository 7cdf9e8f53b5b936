//! No template can overflow the stack: nested sections past the limit are refused when a
//! webhook is saved, for every content type, and when a viewer previews one in the
//! dashboard; the server answers afterwards.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::session::Session;
use crate::support::TestServer;

/// 8 000 nested inverted sections under changed delimiters: under 64 KiB of template.
fn deep_template() -> String {
    format!(
        "{{{{=[ ]=}}}}{}x{}",
        "[^a]".repeat(8_000),
        "[/a]".repeat(8_000)
    )
}

#[tokio::test]
async fn deeply_nested_templates_are_refused_for_every_content_type() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    for content_type in ["text/plain", "application/json", "text/html"] {
        let (status, problem) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({
                    "name": "deep", "url": "http://127.0.0.1:9/",
                    "triggers": [{"entity_type": "item", "event_types": ["*"]}],
                    "payload_template": deep_template(), "content_type": content_type,
                }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{content_type}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "payload_template");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("deeper than 32 levels"),
            "{problem}"
        );
    }
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "the process is alive");
}

#[tokio::test]
async fn a_viewer_previewing_a_deep_template_gets_a_422_not_a_crash() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (_, viewer) = server
        .post("/api/v1/tokens", json!({"name": "v", "role": "viewer"}))
        .await;
    let session = Session::sign_in(&server.base, viewer["token"].as_str().unwrap()).await;
    let sample = json!({"entity_type": "item", "event_type": "update", "entity": {"id": "1"}});
    let answer = session
        .post_form(
            &format!("/sites/{site}/webhooks/preview"),
            &[
                ("name", "deep"),
                ("url", "http://127.0.0.1:9/"),
                ("trigger_0_entity_type", "item"),
                ("trigger_0_event_types", "*"),
                ("content_type", "text/plain"),
                ("timeout_ms", "5000"),
                ("payload_template", &deep_template()),
                ("sample", &sample.to_string()),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = answer.json().await.unwrap();
    assert!(
        problem.to_string().contains("deeper than 32 levels"),
        "{problem}"
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

/// A sweep of nesting depths around the limit and far past it, each answered.
#[tokio::test]
async fn a_template_depth_sweep_never_kills_the_process() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    for depth in [1usize, 16, 31, 32, 33, 64, 500, 5_000, 16_000] {
        let template = format!(
            "{}{{{{x}}}}{}",
            "{{#a}}".repeat(depth),
            "{{/a}}".repeat(depth)
        );
        if template.len() > 64 * 1024 {
            continue;
        }
        let (status, body) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({
                    "name": format!("d{depth}"), "url": "http://127.0.0.1:9/",
                    "triggers": [{"entity_type": "item", "event_types": ["*"]}],
                    "payload_template": template, "content_type": "text/plain",
                }),
            )
            .await;
        let expected = if depth <= 32 {
            StatusCode::CREATED
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(status, expected, "depth {depth}: {body}");
    }
    let published = server.publish(&site, json!({"entity_type": "item", "event_type": "update", "entity": {"id": "1", "a": true, "x": "y"}})).await;
    // Depths 1, 16, 31 and 32 were saved.
    assert_eq!(published["webhook_call_ids"].as_array().unwrap().len(), 4);
}
