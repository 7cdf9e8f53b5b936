//! A build command sees a clean environment: the site's variables and hookrelay's
//! `HOOKRELAY_*` facts, PATH, HOME and the locale, never the server's own (its admin
//! token, its database URL with a password, anything else it was started with).

use serde_json::{json, Value};

use crate::support::process::{spawn_with_backend, SERVER_ONLY_SECRET};
use crate::support::{TestServer, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_never_sees_the_servers_environment() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let args = vec![
        format!("--data-dir={}", data.path().display()),
        "--job-heartbeat=100ms".to_owned(),
    ];
    // The child has HOOKRELAY_ADMIN_TOKEN and SERVER_ONLY_SECRET in its environment.
    let server = spawn_with_backend(data.path(), &args).await;
    let api = TestServer::api_client(&server.base);
    let site = api.create_site().await;
    let (status, body) = api
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "env | sort", "working_dir": work.path().to_str().unwrap(),
                   "env": {"SITE_VARIABLE": "site-value"}}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (_, job) = api
        .post(&format!("/api/v1/sites/{site}/jobs"), json!({}))
        .await;
    let done = api
        .wait_json(
            &format!("/api/v1/sites/{site}/jobs/{}", job["id"].as_str().unwrap()),
            |j: &Value| j["status"] != "queued" && j["status"] != "running",
        )
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let log = done["log"].as_str().unwrap();
    let names: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .collect();
    assert!(!log.contains(ADMIN_TOKEN), "the admin token leaked: {log}");
    assert!(!names.contains(&"HOOKRELAY_ADMIN_TOKEN"), "{log}");
    assert!(!names.contains(&"HOOKRELAY_DATABASE_URL"), "{log}");
    assert!(!log.contains(SERVER_ONLY_SECRET), "{log}");
    for expected in [
        "PATH",
        "SITE_VARIABLE",
        "HOOKRELAY_JOB_ID",
        "HOOKRELAY_SITE_ID",
        "HOOKRELAY_KIND",
        "HOOKRELAY_PAYLOAD_FILE",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {log}");
    }
    assert!(log.contains("SITE_VARIABLE=site-value"));
}
