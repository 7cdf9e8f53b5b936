//! Triggers: what a hook URL accepts, how headers steer the job, who sent it.

use super::*;
#[tokio::test]
async fn a_hook_url_runs_the_sites_command_with_the_triggers_details() {
    let server = TestServer::start().await;
    let command = r#"echo "$HOOKRELAY_TRIGGER|$HOOKRELAY_KIND|$HOOKRELAY_DATA_SOURCE|$HOOKRELAY_CLEAR_CACHE|$(cat "$HOOKRELAY_PAYLOAD_FILE")|$GREETING|$(pwd)|$HOOKRELAY_JOB_ID""#;
    let site = site_with(
        &server,
        json!({"build_command": command, "env": {"GREETING": "hi"}}),
    )
    .await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Contentful", "kind": "build"}),
    )
    .await;
    let url = hook["url"].as_str().unwrap();
    let secret_part = url.rsplit('/').next().unwrap();
    assert!(
        secret_part.len() >= 3 + 22,
        "at least 128 random bits in {url}"
    );
    let id = hook["id"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/hooks/bh_", server.base)),
        "{url}"
    );
    assert!(
        !url.contains(id),
        "the id ({id}) is no part of the credential"
    );

    let (status, accepted) = fire(
        &server,
        url,
        &[("x-data-source", "contentful")],
        br#"{"sys":1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let id = accepted["job_id"].as_str().unwrap();
    let done = job(&server, &site.id, id, finished).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["triggered_by"], "Triggered by Contentful");
    assert_eq!(done["data_source"], "contentful");
    assert_eq!(done["runner"], "BUILD");
    let workdir = std::fs::canonicalize(site.dir.path()).unwrap();
    let expected = format!(
        "Triggered by Contentful|build|contentful|false|{{\"sys\":1}}|hi|{}|{id}\n",
        workdir.display()
    );
    assert_eq!(done["log"], expected);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
}

#[tokio::test]
async fn any_body_is_accepted_up_to_one_mib_and_unknown_hooks_say_nothing() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "t", "kind": "build"})).await;
    let url = hook["url"].as_str().unwrap();
    assert_eq!(fire(&server, url, &[], b"").await.0, StatusCode::ACCEPTED);
    assert_eq!(
        fire(
            &server,
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"a=1&b=2"
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        fire(&server, url, &[("content-type", "text/plain")], b"hello")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    // Refused from its Content-Length, before it is read: the server may close the
    // connection while the client still writes, so a reset instead of the 413 is fine.
    let oversize = server
        .client
        .post(url)
        .body(vec![b'x'; 1024 * 1024 + 1])
        .send()
        .await;
    if let Ok(response) = oversize {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    let (status, problem) = fire(
        &server,
        &format!("{}/hooks/bh_doesnotexist", server.base),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "not found");
    let deleted = format!(
        "/api/v1/sites/{}/build_hooks/{}",
        site.id,
        hook["id"].as_str().unwrap()
    );
    assert_eq!(server.delete(&deleted).await.0, StatusCode::NO_CONTENT);
    let (status, gone) = fire(&server, url, &[], b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone, problem,
        "a deleted hook looks exactly like one that never existed"
    );
}

#[tokio::test]
async fn headers_steer_data_source_cache_and_runner() {
    let server = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let site = site_with(
        &server,
        json!({"build_command": "echo build", "preview_command": "echo preview", "cache_dir": cache.path().to_str().unwrap()}),
    )
    .await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Gatsby", "kind": "build"}),
    )
    .await;
    let url = hook["url"].as_str().unwrap();

    let (status, problem) = fire(
        &server,
        url,
        &[("x-gatsby-cloud-data-source", "drupal")],
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "x-gatsby-cloud-data-source");
    assert!(
        jobs(&server, &site.id, "").await.is_empty(),
        "a refused trigger starts nothing"
    );

    let done = trigger_and_finish(
        &server,
        &site.id,
        url,
        &[("x-gatsby-cloud-data-source", "gatsby-source-drupal")],
        b"",
    )
    .await;
    assert_eq!(done["data_source"], "gatsby-source-drupal");
    assert_eq!(done["clear_cache"], false);

    std::fs::write(cache.path().join("stale.bin"), "old").unwrap();
    std::fs::create_dir(cache.path().join("nested")).unwrap();
    let done = trigger_and_finish(
        &server,
        &site.id,
        url,
        &[("x-gatsby-cache", "false"), ("x-runner-type", "PREVIEW")],
        b"",
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["clear_cache"], true);
    assert_eq!(done["kind"], "preview");
    assert_eq!(done["runner"], "PREVIEW");
    assert!(done["log"]
        .as_str()
        .unwrap()
        .contains("cleared the cache directory"));
    assert!(done["log"].as_str().unwrap().ends_with("preview\n"));
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "the cache was emptied"
    );
}

#[tokio::test]
async fn senders_that_fail_verification_get_401_no_job_and_a_log_line() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "Repo", "kind": "build", "verify": {"type": "github", "secret": "gh-secret"}})).await;
    assert_eq!(
        hook["verify"],
        json!({"type": "github", "secret": "********"})
    );
    let url = hook["url"].as_str().unwrap();
    let (status, problem) =
        fire(&server, url, &[("x-hub-signature-256", "sha256=00")], b"{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256"),
        "{problem}"
    );
    assert!(jobs(&server, &site.id, "").await.is_empty());

    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"gh-secret").unwrap();
    mac.update(b"{\"ref\":\"main\"}");
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (status, accepted) = fire(
        &server,
        url,
        &[("x-hub-signature-256", &signature)],
        b"{\"ref\":\"main\"}",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = job(
        &server,
        &site.id,
        accepted["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(done["triggered_by"], "Triggered by GitHub via Repo");

    let (_, log) = server
        .get(&format!(
            "/api/v1/sites/{}/build_hooks/{}/requests",
            site.id,
            hook["id"].as_str().unwrap()
        ))
        .await;
    let log = log["data"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["accepted"], true);
    assert_eq!(log[0]["job_id"], accepted["job_id"]);
    assert_eq!(log[1]["accepted"], false);
    assert!(log[1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("sender not verified"));
    // The log pages: one entry at a time, newest first, with the cursor it hands out.
    let requests = format!(
        "/api/v1/sites/{}/build_hooks/{}/requests",
        site.id,
        hook["id"].as_str().unwrap()
    );
    let (_, first) = server.get(&format!("{requests}?limit=1")).await;
    assert_eq!(first["data"][0]["id"], log[0]["id"]);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = server
        .get(&format!("{requests}?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], log[1]["id"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let shared = create_hook(&server, &site.id, json!({"title": "CMS", "kind": "sync", "verify": {"type": "header", "name": "X-Hook-Token", "value": "0123456789abcdef"}})).await;
    let url = shared["url"].as_str().unwrap();
    assert_eq!(
        fire(&server, url, &[("x-hook-token", "wrong-wrong-wrong")], b"")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fire(&server, url, &[("x-hook-token", "0123456789abcdef")], b"")
            .await
            .0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn only_owners_and_developers_manage_hooks_and_every_change_is_audited() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (_, viewer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "readonly", "role": "viewer"}),
        )
        .await;
    let (_, developer) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "ci-bot", "role": "developer"}),
        )
        .await;
    let as_viewer = server.with_token(viewer["token"].as_str().unwrap());
    let as_developer = server.with_token(developer["token"].as_str().unwrap());
    let hooks = format!("/api/v1/sites/{site}/build_hooks");
    assert_eq!(
        as_viewer
            .post(&hooks, json!({"title": "x", "kind": "build"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, hook) = as_developer
        .post(&hooks, json!({"title": "Deploy", "kind": "build"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let hook_path = format!("{hooks}/{}", hook["id"].as_str().unwrap());
    assert_eq!(as_viewer.get(&hook_path).await.0, StatusCode::OK);
    assert_eq!(as_viewer.delete(&hook_path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        as_developer.delete(&hook_path).await.0,
        StatusCode::NO_CONTENT
    );
    let hook_created = server
        .create_webhook(&site, "https://example.com/h", json!({}))
        .await;
    server
        .delete(&format!(
            "/api/v1/sites/{site}/webhooks/{}",
            hook_created["id"].as_str().unwrap()
        ))
        .await;
    // Running commands on the server is an owner's decision.
    let (status, _) = as_developer
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "rm -rf /"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, audit) = as_viewer
        .get(&format!("/api/v1/sites/{site}/audit_log"))
        .await;
    let entries: Vec<(String, String)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("webhook.deleted", "admin"),
        ("webhook.created", "admin"),
        ("build_hook.deleted", "ci-bot"),
        ("build_hook.created", "ci-bot"),
    ];
    assert_eq!(entries, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(audit["data"][3]["target_id"], hook["id"]);
    assert_eq!(audit["data"][3]["token_id"], developer["id"]);
    assert_eq!(audit["data"][3]["details"]["title"], "Deploy");
}

#[tokio::test]
async fn a_known_cms_is_named_by_its_headers_and_as_verified_when_the_hook_checks() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let url = hook_url(&server, &site.id).await;
    for (headers, named) in [
        (
            &[("x-contentful-topic", "ContentManagement.Entry.publish")][..],
            "Triggered by Contentful (by its headers) via CMS",
        ),
        (
            &[("sanity-webhook-id", "msg_1")][..],
            "Triggered by Sanity (by its headers) via CMS",
        ),
        (
            &[("user-agent", "DatoCMS (datocms.com)")][..],
            "Triggered by DatoCMS (by its headers) via CMS",
        ),
        (
            &[("x-strapi-event", "entry.publish")][..],
            "Triggered by Strapi (by its headers) via CMS",
        ),
        (
            &[("user-agent", "WordPress/6.7; https://blog.example")][..],
            "Triggered by WordPress (by its headers) via CMS",
        ),
        (&[("user-agent", "curl/8.5.0")][..], "Triggered by CMS"),
    ] {
        let done = trigger_and_finish(&server, &site.id, &url, headers, b"{}").await;
        assert_eq!(done["triggered_by"], named, "{headers:?}");
    }
    // A hook that checks a shared secret vouches for its sender.
    let checked = create_hook(
        &server,
        &site.id,
        json!({"title": "Contentful", "kind": "build",
               "verify": {"type": "header", "name": "X-Hook-Secret", "value": "0123456789abcdef"}}),
    )
    .await;
    let done = trigger_and_finish(
        &server,
        &site.id,
        checked["url"].as_str().unwrap(),
        &[
            ("x-hook-secret", "0123456789abcdef"),
            ("x-contentful-topic", "ContentManagement.Entry.publish"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(
        done["triggered_by"],
        "Triggered by Contentful via Contentful"
    );
}

#[tokio::test]
async fn a_sanity_hook_verifies_sanitys_signature_and_names_it() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Studio", "kind": "build", "verify": {"type": "sanity", "secret": "s3cret"}}),
    )
    .await;
    assert_eq!(hook["verify"]["secret"], "********");
    let url = hook["url"].as_str().unwrap();
    let body = br#"{"_id":"post-1"}"#;
    let signature = crate::support::senders::sanity_signature("s3cret", body);
    let done = trigger_and_finish(
        &server,
        &site.id,
        url,
        &[
            ("sanity-webhook-signature", &signature),
            ("sanity-webhook-id", "msg_1"),
        ],
        body,
    )
    .await;
    assert_eq!(done["triggered_by"], "Triggered by Sanity via Studio");
    let (status, _) = fire(
        &server,
        url,
        &[("sanity-webhook-signature", &signature)],
        b"{}",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another body, the same signature"
    );
}

#[tokio::test]
async fn a_contentful_hook_verifies_contentfuls_signed_request() {
    use hmac::Mac;
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "true"})).await;
    let hook = create_hook(
        &server,
        &site.id,
        json!({"title": "Space", "kind": "build", "verify": {"type": "contentful", "secret": "cf-s3cret"}}),
    )
    .await;
    let url = hook["url"].as_str().unwrap();
    let path = url.strip_prefix(&server.base).unwrap();
    let body = br#"{"sys":{"id":"1"}}"#;
    let t = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis())
    .to_string();
    let topic = "ContentManagement.Entry.publish";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"cf-s3cret").unwrap();
    mac.update(
        format!("POST\n{path}\nx-contentful-timestamp:{t};x-contentful-topic:{topic}\n").as_bytes(),
    );
    mac.update(body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let headers = [
        ("x-contentful-signature", signature.as_str()),
        (
            "x-contentful-signed-headers",
            "x-contentful-timestamp,x-contentful-topic",
        ),
        ("x-contentful-timestamp", t.as_str()),
        ("x-contentful-topic", topic),
    ];
    let done = trigger_and_finish(&server, &site.id, url, &headers, body).await;
    assert_eq!(done["triggered_by"], "Triggered by Contentful via Space");
    let mut forged = headers;
    forged[3].1 = "ContentManagement.Entry.delete";
    let (status, problem) = fire(&server, url, &forged, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
}
