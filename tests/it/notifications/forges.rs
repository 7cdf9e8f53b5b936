//! GitHub and GitLab stand-ins that check the exact requests their APIs document.

use super::*;

#[tokio::test]
async fn github_gets_commit_statuses_and_one_comment_updated_in_place() {
    let forge = Forge::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    notification(&server, &site, json!({"name": "Status", "type": "github_commit_status", "triggers": triggers,
        "config": {"api_url": forge.base, "owner": "acme", "repo": "site", "token": "ghp_secret", "context": "deploy/preview"}})).await;
    let comment = notification(
        &server,
        &site,
        json!({"name": "PR", "type": "github_pr_comment", "triggers": triggers,
        "config": {"api_url": forge.base, "owner": "acme", "repo": "site", "token": "ghp_secret"}}),
    )
    .await;
    let comments_path = "/repos/acme/site/issues/42/comments";
    forge.add_comment(comments_path, "Looks good to me!");

    let entity = |extra: Value| {
        let mut e = json!({"id": "job_1", "site_name": "Blog", "commit_ref": "a1b2c3", "pull_request": 42,
                           "url": "https://hr.example/sites/s/jobs/job_1"});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    };
    for (event_type, extra) in [
        ("deploy_started", json!({})),
        (
            "deploy_failed",
            json!({"reason": "the command exited with code 3", "log_tail": "boom"}),
        ),
    ] {
        let published = server
            .publish(
                &site,
                json!({"entity_type": "deploy", "event_type": event_type, "entity": entity(extra)}),
            )
            .await;
        for call in published["webhook_call_ids"].as_array().unwrap() {
            let done = server.settled_call(&site, call.as_str().unwrap()).await;
            assert_eq!(done["status"], "success", "{done}");
        }
    }

    let sent = forge.requests();
    for r in &sent {
        assert_eq!(r.header("authorization"), "Bearer ghp_secret");
        assert_eq!(r.header("accept"), "application/vnd.github+json");
        assert_eq!(r.header("x-github-api-version"), "2022-11-28");
        assert!(r.header("user-agent").starts_with("hookrelay/"));
    }
    let statuses: Vec<_> = sent
        .iter()
        .filter(|r| r.target.contains("/statuses/"))
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses
        .iter()
        .all(|r| r.method == "POST" && r.target == "/repos/acme/site/statuses/a1b2c3"));
    assert_eq!(
        statuses[0].body,
        json!({"state": "pending", "description": "Deploy started for Blog",
        "context": "deploy/preview", "target_url": "https://hr.example/sites/s/jobs/job_1"})
    );
    assert_eq!(statuses[1].body["state"], "failure");
    assert_eq!(
        statuses[1].body["description"],
        "Deploy failed for Blog: the command exited with code 3"
    );

    // One comment, added by the first event and edited by the second; the other stays.
    let writes: Vec<_> = sent
        .iter()
        .filter(|r| r.method == "POST" || r.method == "PATCH")
        .filter(|r| r.target.contains("comments"))
        .collect();
    assert_eq!(writes.len(), 2);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].target.as_str()),
        ("POST", comments_path)
    );
    let comments = forge.comments(comments_path);
    assert_eq!(comments.len(), 2, "{comments:?}");
    let ours = &comments[1];
    assert_eq!(writes[1].method, "PATCH");
    assert_eq!(
        writes[1].target,
        format!("/repos/acme/site/issues/comments/{}", ours.0)
    );
    assert!(ours.1.starts_with(&format!(
        "<!-- hookrelay:{} -->",
        comment["id"].as_str().unwrap()
    )));
    assert!(ours.1.contains("❌ Deploy failed for Blog"), "{}", ours.1);
    assert_eq!(comments[0].1, "Looks good to me!");

    // A deploy without a commit or pull request (a lock, a cron build) is nothing to do:
    // each call is skipped, final, not retried, not a failure; tokens stay out of the log.
    let published = server
        .publish(&site, json!({"entity_type": "deploy", "event_type": "deploy_started", "entity": {"site_name": "Blog"}}))
        .await;
    let mut errors = Vec::new();
    for call in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.settled_call(&site, call.as_str().unwrap()).await;
        assert_eq!(call["status"], "skipped", "{call}");
        assert_eq!(call["attempt_count"], 1, "{call}");
        assert!(call["next_attempt_at"].is_null());
        assert!(!call.to_string().contains("ghp_secret"));
        errors.push(call["last_error"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("skipped: the event has no entity.commit_ref")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no entity.pull_request")),
        "{errors:?}"
    );
    let hook = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{}",
            comment["id"].as_str().unwrap()
        ))
        .await
        .1;
    assert!(
        hook["failing_since"].is_null(),
        "a skip is no failure: {hook}"
    );
}

#[tokio::test]
async fn gitlab_gets_commit_statuses_and_one_note_updated_in_place() {
    let forge = Forge::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    let api = format!("{}/api/v4", forge.base);
    notification(
        &server,
        &site,
        json!({"name": "Status", "type": "gitlab_commit_status", "triggers": triggers,
        "config": {"api_url": api, "project": "group/site", "token": "glpat-secret"}}),
    )
    .await;
    notification(
        &server,
        &site,
        json!({"name": "MR", "type": "gitlab_mr_comment", "triggers": triggers,
        "config": {"api_url": api, "project": "group/site", "token": "glpat-secret"}}),
    )
    .await;
    for event_type in ["deploy_started", "deploy_succeeded"] {
        let published = server
            .publish(
                &site,
                json!({"entity_type": "deploy", "event_type": event_type,
                "entity": {"site_name": "Docs", "commit_ref": "feed42", "merge_request": "7"}}),
            )
            .await;
        for call in published["webhook_call_ids"].as_array().unwrap() {
            let done = server.settled_call(&site, call.as_str().unwrap()).await;
            assert_eq!(done["status"], "success", "{done}");
        }
    }
    let sent = forge.requests();
    assert!(sent
        .iter()
        .all(|r| r.header("private-token") == "glpat-secret"));
    let statuses: Vec<_> = sent
        .iter()
        .filter(|r| r.target.contains("/statuses/"))
        .collect();
    assert_eq!(
        statuses[0].target,
        "/api/v4/projects/group%2Fsite/statuses/feed42"
    );
    assert_eq!(statuses[0].body["state"], "running");
    assert_eq!(statuses[0].body["name"], "hookrelay/deploy");
    assert_eq!(statuses[1].body["state"], "success");
    let notes_path = "/api/v4/projects/group%2Fsite/merge_requests/7/notes";
    let writes: Vec<_> = sent
        .iter()
        .filter(|r| r.target.contains("/notes") && r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 2);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].target.as_str()),
        ("POST", notes_path)
    );
    let notes = forge.comments(notes_path);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (writes[1].method.as_str(), writes[1].target.clone()),
        ("PUT", format!("{notes_path}/{}", notes[0].0))
    );
    assert!(notes[0].1.contains("✅ Deploy succeeded for Docs"));
}
