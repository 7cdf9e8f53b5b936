//! Jobs: coalescing, locks, cancels, timeouts, logs, deploy events and crashes.

use super::*;
#[tokio::test]
async fn a_burst_of_fifty_triggers_runs_once_more_with_the_newest() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let hook = create_hook(&server, &site.id, json!({"title": "CMS", "kind": "build"})).await;
    let url = hook["url"].as_str().unwrap();
    let (_, first) = fire(&server, url, &[("x-data-source", "first")], b"").await;
    let first_id = first["job_id"].as_str().unwrap().to_owned();
    job(&server, &site.id, &first_id, |j| j["status"] == "running").await;

    let mut ids = Vec::new();
    for i in 1..=50 {
        let source = format!("src-{i}");
        let (status, accepted) = fire(&server, url, &[("x-data-source", &source)], b"").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    site.release();
    let newest = job(&server, &site.id, ids.last().unwrap(), finished).await;
    assert_eq!(newest["status"], "succeeded", "{newest}");
    assert_eq!(newest["data_source"], "src-50");
    assert_eq!(newest["log"], "started\ndone src-50\n");
    assert_eq!(
        job(&server, &site.id, &first_id, finished).await["status"],
        "succeeded"
    );

    let all = jobs(&server, &site.id, "").await;
    assert_eq!(all.len(), 51);
    let superseded: Vec<&Value> = all.iter().filter(|j| j["status"] == "superseded").collect();
    assert_eq!(superseded.len(), 49);
    assert!(
        superseded.iter().all(|j| j["started_at"].is_null()),
        "superseded jobs never ran"
    );
    assert_eq!(all.iter().filter(|j| j["status"] == "succeeded").count(), 2);
    for (older, newer) in ids.iter().zip(ids.iter().skip(1)) {
        let older = all.iter().find(|j| j["id"] == older.as_str()).unwrap();
        assert_eq!(older["superseded_by"], newer.as_str());
    }
}

#[tokio::test]
async fn a_locked_site_queues_triggers_and_unlocking_starts_the_newest() {
    let server = TestServer::start().await;
    let locked = site_with(
        &server,
        json!({"build_command": "echo \"$HOOKRELAY_DATA_SOURCE\""}),
    )
    .await;
    let other = site_with(&server, json!({"build_command": "true"})).await;
    let (status, site) = server
        .post(&format!("/api/v1/sites/{}/lock", locked.id), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site["locked"], true);
    let default = hook_url(&server, &locked.id).await;
    let (_, older) = fire(&server, &default, &[("x-data-source", "a")], b"").await;
    let (_, newer) = fire(&server, &default, &[("x-data-source", "b")], b"").await;
    // The other site's later job finishing proves the runner looked while the locked
    // site's older job waited (it takes the oldest runnable job first).
    let (_, probe) = fire(&server, &hook_url(&server, &other.id).await, &[], b"").await;
    job(
        &server,
        &other.id,
        probe["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    let waiting = job(
        &server,
        &locked.id,
        newer["job_id"].as_str().unwrap(),
        |_| true,
    )
    .await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(
        job(
            &server,
            &locked.id,
            older["job_id"].as_str().unwrap(),
            |_| true
        )
        .await["status"],
        "superseded"
    );

    let (_, site) = server
        .post(&format!("/api/v1/sites/{}/unlock", locked.id), json!({}))
        .await;
    assert_eq!(site["locked"], false);
    let ran = job(
        &server,
        &locked.id,
        newer["job_id"].as_str().unwrap(),
        finished,
    )
    .await;
    assert_eq!(ran["status"], "succeeded");
    assert_eq!(ran["log"], "b\n");
    let (_, audit) = server
        .get(&format!("/api/v1/sites/{}/audit_log", locked.id))
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The site's commands were set first, and its hook made while it was locked, which
    // the audit log keeps too.
    assert_eq!(
        actions,
        [
            "site.unlocked",
            "build_hook.created",
            "site.locked",
            "site.updated"
        ]
    );
}

#[tokio::test]
async fn cancelling_stops_queued_and_running_jobs() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let jobs_path = format!("/api/v1/sites/{}/jobs", site.id);
    let (status, running) = server.post(&jobs_path, json!({"data_source": "one"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(running["triggered_by"], "Triggered by API token admin");
    let running_id = running["id"].as_str().unwrap().to_owned();
    // Waiting for the output, not just the status: the shell may not have echoed yet.
    job(&server, &site.id, &running_id, |j| j["log"] == "started\n").await;
    let (_, queued) = server.post(&jobs_path, json!({})).await;
    let queued_id = queued["id"].as_str().unwrap().to_owned();

    let (status, cancelled) = server
        .post(&format!("{jobs_path}/{queued_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(cancelled["status"], "cancelled");
    server
        .post(&format!("{jobs_path}/{running_id}/cancel"), json!({}))
        .await;
    let stopped = job(&server, &site.id, &running_id, finished).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    assert_eq!(stopped["reason"], "cancelled by API token admin");
    assert_eq!(stopped["log"], "started\n");
    let (status, problem) = server
        .post(&format!("{jobs_path}/{running_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("already cancelled"));
}

#[tokio::test]
async fn a_job_over_its_timeout_is_killed_with_everything_it_started() {
    let server = TestServer::start().await;
    let site = site_with(
        &server,
        json!({"build_command": "sleep 30 & sleep 30; echo never", "job_timeout_s": 1}),
    )
    .await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["reason"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 1 s"),
        "{done}"
    );
    assert!(!done["log"].as_str().unwrap().contains("never"));
}

#[tokio::test]
async fn failures_and_missing_commands_are_explained() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "echo oops >&2; exit 3"})).await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["reason"], "the command exited with code 3");
    assert_eq!(done["log"], "oops\n");

    let (_, started) = server
        .post(
            &format!("/api/v1/sites/{}/jobs", site.id),
            json!({"kind": "sync"}),
        )
        .await;
    let done = job(&server, &site.id, started["id"].as_str().unwrap(), finished).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["reason"].as_str().unwrap().contains("no sync_command"),
        "{done}"
    );
}

#[tokio::test]
async fn the_log_can_be_read_while_the_job_runs() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": BLOCKING})).await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let id = started["id"].as_str().unwrap();
    let running = job(&server, &site.id, id, |j| j["log"] == "started\n").await;
    assert_eq!(running["status"], "running");
    site.release();
    job(&server, &site.id, id, finished).await;
    let (status, problem) = server
        .get(&format!("/api/v1/sites/{}/jobs?status=sleeping", site.id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "status");
    assert_eq!(
        jobs(&server, &site.id, "&status=succeeded&kind=build")
            .await
            .len(),
        1
    );
    assert!(jobs(&server, &site.id, "&kind=preview").await.is_empty());
}

#[tokio::test]
async fn a_jobs_lifecycle_and_locks_go_out_as_deploy_events_in_order() {
    let server = TestServer::start().await;
    let site = site_with(&server, json!({"build_command": "sleep 0.3"})).await;
    let receiver = Receiver::ok().await;
    server
        .create_webhook(
            &site.id,
            &receiver.url("/"),
            json!({"triggers": [{"entity_type": "deploy", "event_types": ["*"]}]}),
        )
        .await;
    let (_, started) = server
        .post(&format!("/api/v1/sites/{}/jobs", site.id), json!({}))
        .await;
    let id = started["id"].as_str().unwrap();
    let got = receiver.wait_for(2).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["entity_type"], "deploy");
    assert_eq!(bodies[0]["event_type"], "deploy_started");
    assert_eq!(bodies[0]["entity"]["id"], id);
    assert_eq!(bodies[0]["entity"]["status"], "running");
    assert_eq!(bodies[1]["event_type"], "deploy_succeeded");
    assert_eq!(bodies[1]["entity"]["id"], id);
    assert_eq!(bodies[1]["entity"]["status"], "succeeded");

    server
        .post(&format!("/api/v1/sites/{}/lock", site.id), json!({}))
        .await;
    server
        .post(&format!("/api/v1/sites/{}/lock", site.id), json!({}))
        .await; // no change, no event
    server
        .post(&format!("/api/v1/sites/{}/unlock", site.id), json!({}))
        .await;
    let got = receiver.wait_for(4).await;
    let events: Vec<String> = got[2..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(sorted, ["deploy_locked", "deploy_unlocked"]);
}

fn write_release(dir: &Path) {
    std::fs::write(dir.join("release"), "").unwrap();
}

/// A process killed while a job runs: on restart the job is failed with a reason, and
/// the job that was waiting behind it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_the_running_job_is_failed_and_the_queued_one_runs() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let args = vec![
        format!("--data-dir={}", data.path().display()),
        "--job-heartbeat=100ms".to_owned(),
        "--job-orphan-after=1s".to_owned(),
    ];
    let server = crate::support::process::spawn_with_backend(data.path(), &args).await;
    let api = TestServer::api_client(&server.base);
    let site = api.create_site().await;
    let command = format!("{BLOCKING}; sleep 0");
    api.patch(
        &format!("/api/v1/sites/{site}"),
        json!({"build_command": command, "working_dir": work.path().to_str().unwrap()}),
    )
    .await;
    let (_, running) = api
        .post(&format!("/api/v1/sites/{site}/jobs"), json!({}))
        .await;
    let running_id = running["id"].as_str().unwrap().to_owned();
    job(&api, &site, &running_id, |j| j["status"] == "running").await;
    let (_, queued) = api
        .post(
            &format!("/api/v1/sites/{site}/jobs"),
            json!({"data_source": "after"}),
        )
        .await;
    drop(server); // SIGKILL

    let restarted = crate::support::process::spawn_with_backend(data.path(), &args).await;
    let api = TestServer::api_client(&restarted.base);
    let failed = job(&api, &site, &running_id, finished).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("stopped while this job was running"),
        "{failed}"
    );
    write_release(work.path()); // lets the killed process's orphan shell and the new job end
    let ran = job(&api, &site, queued["id"].as_str().unwrap(), finished).await;
    assert_eq!(ran["status"], "succeeded", "{ran}");
    assert!(ran["log"].as_str().unwrap().ends_with("done after\n"));
}
