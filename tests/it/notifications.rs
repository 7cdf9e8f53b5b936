//! Notification targets against real parts: a real SMTP server on loopback, and local
//! stand-ins for Slack, GitHub and GitLab that check each request as those APIs document
//! it. Plus form submissions, and the JWS header's name.

use crate::support::forge::Forge;
use crate::support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn notification(server: &TestServer, site: &str, body: Value) -> Value {
    let (status, hook) = server
        .post(&format!("/api/v1/sites/{site}/webhooks"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook
}

/// Publishes a deploy event by API (a job would publish the same).
async fn deploy_event(server: &TestServer, site: &str, event_type: &str, entity: Value) -> String {
    let published = server
        .publish(
            site,
            json!({"entity_type": "deploy", "event_type": event_type, "entity": entity}),
        )
        .await;
    let call = published["webhook_call_ids"][0]
        .as_str()
        .expect("a call")
        .to_owned();
    server.settled_call(site, &call).await;
    call
}

#[tokio::test]
async fn a_failed_deploy_and_a_form_submission_arrive_by_email() {
    let smtp = SmtpServer::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let work = tempfile::tempdir().unwrap();
    let (status, _) = server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"name": "Blog", "working_dir": work.path().to_str().unwrap(),
                   "build_command": "echo building; echo 'npm ERR! missing script: build' >&2; exit 3"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mail = notification(
        &server,
        &site,
        json!({
            "name": "Deploy mail", "type": "email",
            "config": {"host": "127.0.0.1", "port": smtp.port, "tls": "none",
                       "username": SMTP_USER, "password": SMTP_PASSWORD,
                       "from": "Hookrelay <deploys@example.com>", "to": ["ops@example.com", "dev@example.com"]},
            "triggers": [{"entity_type": "deploy", "event_types": ["deploy_failed"]},
                         {"entity_type": "form_submission", "event_types": ["submission_created"]}],
        }),
    )
    .await;
    assert_eq!(mail["type"], "email");
    assert_eq!(
        mail["config"]["password"], "********",
        "secrets are never returned"
    );
    assert!(!mail.to_string().contains(SMTP_PASSWORD));

    // A build fails: the job's deploy_failed event goes out as a mail.
    let (_, hooks) = server
        .post(
            &format!("/api/v1/sites/{site}/build_hooks"),
            json!({"title": "CMS", "kind": "build"}),
        )
        .await;
    let triggered = server
        .client
        .post(hooks["url"].as_str().unwrap())
        .header("x-commit-ref", "0123abc")
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), StatusCode::ACCEPTED);
    let calls = server
        .wait_json(
            &format!(
                "/api/v1/sites/{site}/webhook_calls?webhook_id={}",
                mail["id"].as_str().unwrap()
            ),
            |page| {
                page["data"]
                    .as_array()
                    .is_some_and(|d| d.len() == 1 && d[0]["status"] != "pending")
            },
        )
        .await;
    let call = server
        .call(&site, calls["data"][0]["id"].as_str().unwrap())
        .await;
    assert_eq!(call["status"], "success", "{call}");
    let attempt = &call["attempts"][0];
    assert_eq!(
        attempt["request_url"],
        format!("smtp://127.0.0.1:{}", smtp.port)
    );
    assert!(
        attempt["response_body"]
            .as_str()
            .unwrap()
            .starts_with("250"),
        "{attempt}"
    );
    assert!(
        !call.to_string().contains("smtp-secret"),
        "the log holds no secret"
    );

    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one message for both recipients");
    let message = &messages[0];
    assert!(
        message.contains("Subject: Deploy failed for Blog: the command exited with code 3"),
        "{message}"
    );
    assert!(
        message.contains("To: ops@example.com, dev@example.com"),
        "{message}"
    );
    assert!(
        message.contains("npm ERR! missing script: build"),
        "the log's tail: {message}"
    );
    assert!(message.contains("Commit: 0123abc"));
    assert!(
        message.contains(&format!("/sites/{site}/jobs/job_")),
        "a link to the job"
    );
    assert!(message.contains("multipart/alternative"));

    // A form submission is stored and announced by the same notification.
    let answer = server
        .client
        .post(format!("{}/forms/{site}/contact", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ann%40example.com&message=Hello+there&bot-field=")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.unwrap().contains("Thank you"));
    let (_, submissions) = server
        .get(&format!("/api/v1/sites/{site}/form_submissions"))
        .await;
    assert_eq!(submissions["data"][0]["data"]["email"], "ann@example.com");
    server
        .wait_json(
            &format!(
                "/api/v1/sites/{site}/webhook_calls?status=success&event_type=submission_created"
            ),
            |page| page["data"].as_array().is_some_and(|d| d.len() == 1),
        )
        .await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2);
    // Maildir names do not sort by arrival: find the new message by its subject.
    let submission = messages
        .iter()
        .find(|m| m.contains("Subject: New submission to contact"))
        .unwrap_or_else(|| panic!("no submission mail among {messages:?}"));
    assert!(submission.contains("ann@example.com"));
}

#[tokio::test]
async fn slack_gets_text_and_blocks_and_its_url_stays_secret() {
    let forge = Forge::start().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let url = format!("{}/services/T000/B000/XXXXSECRET", forge.base);
    let slack = notification(
        &server,
        &site,
        json!({"name": "Slack", "type": "slack", "config": {"url": url},
               "triggers": [{"entity_type": "deploy", "event_types": ["*"]}]}),
    )
    .await;
    assert!(!slack.to_string().contains("XXXXSECRET"), "{slack}");
    let call = deploy_event(
        &server,
        &site,
        "deploy_succeeded",
        json!({"id": "job_1", "site_name": "Blog", "triggered_by": "Triggered by CMS", "url": "https://hr.example/j"}),
    )
    .await;
    let sent = forge.requests();
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/services/T000/B000/XXXXSECRET")
    );
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.body["text"], "Deploy succeeded for Blog");
    assert_eq!(
        r.body["blocks"][0]["text"]["text"],
        "*<https://hr.example/j|Deploy succeeded for Blog>*"
    );
    assert_eq!(
        r.body["blocks"][1]["fields"][1]["text"],
        "*Trigger*\nTriggered by CMS"
    );
    let logged = server.call(&site, &call).await;
    assert!(!logged.to_string().contains("XXXXSECRET"), "{logged}");
    assert_eq!(
        logged["attempts"][0]["request_body"]
            .as_str()
            .map(|b| b.contains("blocks")),
        Some(true)
    );

    // A PATCH that sends the masked config back keeps the real URL.
    let path = format!(
        "/api/v1/sites/{site}/webhooks/{}",
        slack["id"].as_str().unwrap()
    );
    let (status, _) = server
        .patch(&path, json!({"config": slack["config"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    deploy_event(
        &server,
        &site,
        "deploy_started",
        json!({"site_name": "Blog"}),
    )
    .await;
    assert_eq!(forge.requests()[1].target, "/services/T000/B000/XXXXSECRET");
}

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

    // An event without a commit fails its call and says why; tokens stay out of the log.
    let published = server
        .publish(&site, json!({"entity_type": "deploy", "event_type": "deploy_started", "entity": {"site_name": "Blog"}}))
        .await;
    let mut errors = Vec::new();
    for call in published["webhook_call_ids"].as_array().unwrap() {
        let call = server.call(&site, call.as_str().unwrap()).await;
        let call = server
            .wait_call(&site, call["id"].as_str().unwrap(), |c| {
                c["attempt_count"] != 0
            })
            .await;
        assert!(!call.to_string().contains("ghp_secret"));
        errors.push(call["last_error"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        errors.iter().any(|e| e.contains("no entity.commit_ref")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no entity.pull_request")),
        "{errors:?}"
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

#[tokio::test]
async fn bad_targets_are_refused_with_the_reason() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    let (status, problem) = server
        .post(&path, json!({"name": "BB", "type": "bitbucket_commit_status", "config": {}, "triggers": triggers}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "type");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("Bitbucket is not supported"));
    let (status, problem) = server
        .post(
            &path,
            json!({"name": "Mail", "type": "email", "triggers": triggers,
            "config": {"host": "smtp.example.com", "from": "nope", "to": []}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["config.from", "config.to"], "{problem}");
    let (status, problem) = server
        .post(
            &path,
            json!({"name": "GH", "type": "github_commit_status", "triggers": triggers,
            "config": {"owner": "acme", "repo": "site", "token": "t", "colour": "red"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_jws_header_name_is_the_webhooks_choice() {
    let receiver = crate::support::receiver::Receiver::ok().await;
    let server = TestServer::start().await;
    let site = server.create_site().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/x"),
            json!({"jws_secret": "jws-key", "signature_header": "X-Webhook-Signature"}),
        )
        .await;
    let published = server.publish(&site, crate::support::item_event("1")).await;
    server
        .settled_call(&site, published["webhook_call_ids"][0].as_str().unwrap())
        .await;
    let got = &receiver.received()[0];
    assert!(
        got.header("x-webhook-signature").starts_with("eyJ"),
        "a JWT"
    );
    assert_eq!(got.header("x-nf-sign"), "");
}

#[tokio::test]
async fn forms_answer_like_a_form_handler_and_keep_out_bots() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |body: &'static str, content_type: &'static str, accept: &'static str| {
        client
            .post(format!("{}/forms/{site}/signup", server.base))
            .header("content-type", content_type)
            .header("accept", accept)
            .body(body)
            .send()
    };
    let redirected = post(
        "email=a%40b.example&redirect=%2Fthanks",
        "application/x-www-form-urlencoded",
        "text/html",
    )
    .await
    .unwrap();
    assert_eq!(redirected.status(), StatusCode::SEE_OTHER);
    assert_eq!(redirected.headers()["location"], "/thanks");
    let json_answer = post(
        r#"{"email": "c@d.example", "plan": "pro"}"#,
        "application/json",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(json_answer.status(), StatusCode::CREATED);
    assert_eq!(json_answer.headers()["access-control-allow-origin"], "*");
    let multipart =
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\ne@f.example\r\n--XyZ--\r\n";
    let answer = post(
        multipart,
        "multipart/form-data; boundary=XyZ",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let file = "--XyZ\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\r\n%PDF\r\n--XyZ--\r\n";
    let refused = post(
        file,
        "multipart/form-data; boundary=XyZ",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bot = post(
        "email=x%40y.example&bot-field=cheap+pills",
        "application/x-www-form-urlencoded",
        "text/html",
    )
    .await
    .unwrap();
    assert_eq!(bot.status(), StatusCode::OK, "a bot is thanked like anyone");

    let big = Box::leak(format!("a={}", "x".repeat(70_000)).into_boxed_str());
    let too_big = post(big, "application/x-www-form-urlencoded", "application/json")
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let (_, page) = server
        .get(&format!(
            "/api/v1/sites/{site}/form_submissions?form_name=signup"
        ))
        .await;
    let emails: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["data"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["e@f.example", "c@d.example", "a@b.example"],
        "newest first, no bot"
    );
    let (_, events) = server
        .get(&format!("/api/v1/sites/{site}/webhook_calls"))
        .await;
    assert!(
        events["data"].as_array().unwrap().is_empty(),
        "no webhook subscribed yet"
    );
    let id = page["data"][0]["id"].as_str().unwrap();
    let (status, _) = server
        .delete(&format!("/api/v1/sites/{site}/form_submissions/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = server
        .get(&format!("/api/v1/sites/{site}/form_submissions"))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let unknown = client
        .post(format!("{}/forms/site_nope/signup", server.base))
        .header("accept", "application/json")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
