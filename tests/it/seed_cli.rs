//! Seed users' set-ups from the command line alone: DatoCMS's (a webhook on a model and
//! its fields kept in order, a build hook the CMS calls, its job followed to the end) and
//! Gatsby Cloud's (build and preview commands, the site's two site-id URLs).

use crate::client::{hookrelay, Ran};
use crate::support::receiver::Receiver;
use crate::support::TestServer;

/// Runs the client with `args`, which must succeed.
async fn succeeds(server: &TestServer, args: Vec<String>) -> Ran {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = hookrelay(server, &args).await;
    assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
    ran
}

#[tokio::test]
async fn a_datocms_set_up_from_the_command_line_alone() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| succeeds(&server, args);
    let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let site = run(args("sites create Blog --json")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut update = args(&format!("sites update {site} --build-command"));
    update.push("echo built".into());
    update.extend(args(&format!("--working-dir {}", work.path().display())));
    run(update).await;

    let url = receiver.url("/models");
    let made = run(args(&format!(
        "webhooks create --site {site} --name Schema --url {url} --trigger item_type:update \
         --model-id blog_post --ordering latest --json"
    )))
    .await
    .json();
    assert_eq!(made["triggers"][0]["model_ids"][0], "blog_post");
    assert_eq!(made["ordering"], "latest");

    // A field of the model changes: the model's webhook fires; another model's does not.
    let field = |model: &str| {
        format!(
            r#"{{"id": "title", "relationships": {{"item_type": {{"data": {{"id": "{model}"}}}}}}}}"#
        )
    };
    for (model, calls) in [("blog_post", 1), ("author", 0)] {
        let mut publish = args(&format!(
            "events publish --site {site} --entity-type field --event-type create --json --entity"
        ));
        publish.push(field(model));
        let published = run(publish).await.json();
        assert_eq!(
            published["webhook_call_ids"].as_array().unwrap().len(),
            calls,
            "{model}"
        );
    }
    receiver.wait_for(1).await;

    // The CMS's build hook: DatoCMS calls it, the job is followed to its end.
    let hook = run(args(&format!(
        "hooks create --site {site} --title DatoCMS --kind build --json"
    )))
    .await
    .json();
    let triggered = server
        .client
        .post(hook["url"].as_str().unwrap())
        .header("user-agent", "DatoCMS (datocms.com)")
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), reqwest::StatusCode::ACCEPTED);
    let job: serde_json::Value = triggered.json().await.unwrap();
    let followed = run(args(&format!(
        "jobs logs --follow --site {site} {}",
        job["job_id"].as_str().unwrap()
    )))
    .await;
    assert_eq!(followed.stdout, "built\n");
    let shown = run(args(&format!(
        "jobs show --site {site} {} --json",
        job["job_id"].as_str().unwrap()
    )))
    .await
    .json();
    assert_eq!(
        shown["triggered_by"],
        "Triggered by DatoCMS (by its headers) via DatoCMS"
    );
}

/// A Gatsby Cloud user's set-up from the command line alone: build and preview commands,
/// the site's two site-id URLs turned on under Gatsby's rule, each starting its job.
#[tokio::test]
async fn a_gatsby_set_up_from_the_command_line_alone() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| succeeds(&server, args);
    let site = run(vec![
        "sites".into(),
        "create".into(),
        "Docs".into(),
        "--json".into(),
    ])
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated = run(vec![
        "sites".into(),
        "update".into(),
        site.clone(),
        "--build-command".into(),
        "echo build".into(),
        "--preview-command".into(),
        "echo preview".into(),
        "--working-dir".into(),
        work.path().display().to_string(),
        "--site-hooks".into(),
        "gatsby".into(),
        "--json".into(),
    ])
    .await
    .json();
    assert_eq!(updated["site_hooks"]["rule"], "gatsby");
    for (shape, kind, log) in [
        ("builds/trigger", "build", "build\n"),
        ("data_source", "preview", "preview\n"),
    ] {
        let answer = server
            .client
            .post(format!("{}/hooks/{shape}/{site}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED, "{shape}");
        let job: serde_json::Value = answer.json().await.unwrap();
        let id = job["job_id"].as_str().unwrap().to_owned();
        let followed = run(vec![
            "jobs".into(),
            "logs".into(),
            "--follow".into(),
            "--site".into(),
            site.clone(),
            id.clone(),
        ])
        .await;
        assert_eq!(followed.stdout, log, "{shape}");
        let shown = run(vec![
            "jobs".into(),
            "show".into(),
            "--site".into(),
            site.clone(),
            id,
            "--json".into(),
        ])
        .await
        .json();
        assert_eq!(shown["kind"], kind, "{shape}");
    }
    // Off again: the unauthenticated URLs stop answering.
    run(vec![
        "sites".into(),
        "update".into(),
        site.clone(),
        "--site-hooks".into(),
        "off".into(),
    ])
    .await;
    let answer = server
        .client
        .post(format!("{}/hooks/builds/trigger/{site}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND);
}
