//! Site-id hooks: off by default, then Connect's rule or Gatsby's, in every URL shape.

use super::*;

async fn set_site_hooks(server: &TestServer, site: &str, rule: &str, kind: &str) {
    let (status, body) = server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"site_hooks": {"rule": rule, "kind": kind}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["site_hooks"], json!({"rule": rule, "kind": kind}));
}

/// The four shapes, with the job kind each starts under either rule when the site's own
/// kind is `preview`.
fn shapes(server: &TestServer, site: &str) -> [(String, &'static str); 4] {
    [
        (format!("{}/hooks/sites/{site}", server.base), "preview"),
        (
            format!("{}/hooks/builds/trigger/{site}", server.base),
            "build",
        ),
        (
            format!("{}/hooks/data_source/{site}", server.base),
            "preview",
        ),
        (
            format!(
                "{}/hooks/data_layer/data_source/publish/{site}",
                server.base
            ),
            "sync",
        ),
    ]
}

#[tokio::test]
async fn site_id_hooks_are_off_until_a_site_turns_them_on() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let (_, unknown) = fire(&server, &format!("{}/hooks/bh_nope", server.base), &[], b"").await;
    for (url, _) in shapes(&server, &site.id) {
        let (status, problem) = fire(&server, &url, &[], b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
        assert_eq!(problem, unknown, "{url} looks like an unknown hook");
    }
    let (_, shown) = server.get(&format!("/api/v1/sites/{}", site.id)).await;
    assert_eq!(shown["site_hooks"], json!({"rule": "off", "kind": "build"}));

    // Turning them on opens an unauthenticated trigger: owners only.
    let (_, developer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "dev", "role": "developer"}),
        )
        .await;
    let as_developer = server.with_token(developer["token"].as_str().unwrap());
    let (status, _) = as_developer
        .patch(
            &format!("/api/v1/sites/{}", site.id),
            json!({"site_hooks": {"rule": "gatsby"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = server
        .patch(
            &format!("/api/v1/sites/{}", site.id),
            json!({"site_hooks": {"rule": "always"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("site_hooks.rule"));
}

#[tokio::test]
async fn connects_rule_works_only_while_the_site_has_no_named_hook() {
    let server = TestServer::start().await;
    let site = site_with(
        &server,
        json!({"build_command": "true", "preview_command": "true", "sync_command": "true"}),
    )
    .await;
    set_site_hooks(&server, &site.id, "connect", "preview").await;
    for (url, kind) in shapes(&server, &site.id) {
        let (status, accepted) = fire(&server, &url, &[], b"").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{url}: {accepted}");
        let ran = job(
            &server,
            &site.id,
            accepted["job_id"].as_str().unwrap(),
            finished,
        )
        .await;
        assert_eq!(ran["kind"], kind, "{url}");
        assert_eq!(ran["triggered_by"], "Triggered by the site's own hook URL");
    }
    // Connect's per-source shape names the data source to sync.
    let source = format!(
        "{}/hooks/data_layer/data_source/publish/{}/contentful",
        server.base, site.id
    );
    let (_, accepted) = fire(&server, &source, &[], b"").await;
    let ran = job(
        &server,
        &site.id,
        accepted["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(ran["data_source"], "contentful");

    let hook = create_hook(&server, &site.id, json!({"title": "t", "kind": "build"})).await;
    let own = &shapes(&server, &site.id)[0].0;
    let (status, problem) = fire(&server, own, &[], b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("trigger one of their URLs"),
        "{problem}"
    );
    server
        .delete(&format!(
            "/api/v1/sites/{}/build_hooks/{}",
            site.id,
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fire(&server, own, &[], b"").await.0, StatusCode::ACCEPTED);
    assert_eq!(
        fire(
            &server,
            &format!("{}/hooks/sites/site_nope", server.base),
            &[],
            b""
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn gatsbys_rule_works_beside_named_hooks() {
    let server = TestServer::start().await;
    let site = site_with(
        &server,
        json!({"build_command": "true", "preview_command": "true", "sync_command": "true"}),
    )
    .await;
    create_hook(&server, &site.id, json!({"title": "t", "kind": "build"})).await;
    set_site_hooks(&server, &site.id, "gatsby", "preview").await;
    for (url, kind) in shapes(&server, &site.id) {
        let (status, accepted) = fire(&server, &url, &[], b"").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{url}: {accepted}");
        let ran = job(
            &server,
            &site.id,
            accepted["job_id"].as_str().unwrap(),
            finished,
        )
        .await;
        assert_eq!(ran["kind"], kind, "{url}");
    }
    let (_, audit) = server
        .get(&format!("/api/v1/sites/{}/audit_log", site.id))
        .await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["site_hooks"]["rule"] == "gatsby"),
        "turning them on is audited: {audit}"
    );
}
