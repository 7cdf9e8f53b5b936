//! Email through a real SMTP server, Slack through a stand-in, and forms announcing themselves.

use super::*;

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
