//! Floods of what anyone may send without a token (form posts, build hook triggers,
//! sign-ins) are answered 429 with `Retry-After` before the disk grows past a bound, and
//! what a burst of triggers leaves behind is bounded too.

use crate::support::FormBody;
use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::support::TestServer;

/// Bytes the server's database takes now (its SQLite file and log, or its PostgreSQL
/// database).
async fn database_bytes(server: &TestServer) -> u64 {
    let url = server.database_url().await;
    if crate::support::backend::is_postgres() {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT pg_database_size(current_database()) AS n")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        return row.get::<i64, _>("n") as u64;
    }
    let file = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{file}{suffix}")).ok())
        .map(|m| m.len())
        .sum()
}

/// A client whose requests come from the loopback address `from`.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_flood_is_refused_before_the_disk_fills() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let before = database_bytes(&server).await;
    let big = "x".repeat(9_000);
    let form = [("message", big.as_str()), ("other", big.as_str())];
    let url = format!("{}/forms/{site}/contact", server.base);
    let (mut stored, mut refused) = (0u64, 0);
    let started = std::time::Instant::now();
    // 40 addresses × 25 posts of 18 KB: 18 MB if all were kept.
    for client in 0..40 {
        let http = client_from(&format!("127.0.1.{}", client + 1));
        for _ in 0..25 {
            let answer = http
                .post(&url)
                .header("accept", "application/json")
                .form_fields(&form)
                .send()
                .await
                .unwrap();
            match answer.status() {
                StatusCode::CREATED => stored += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(answer.headers().contains_key("retry-after"));
                    refused += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    // Ten a client, sixty for the site in all (the defaults), and one more for each
    // second the flood took (60 a minute).
    let allowed = 60 + started.elapsed().as_secs() + 1;
    assert!(
        (60..=allowed).contains(&stored),
        "{stored} stored, {refused} refused"
    );
    let grown = database_bytes(&server).await.saturating_sub(before);
    assert!(
        grown < 8 * 1024 * 1024,
        "the database grew by {grown} bytes"
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn one_client_is_held_to_its_own_share() {
    let server = TestServer::start_with(&["--form-rate-per-client=3/min"]).await;
    let site = server.create_site().await;
    let url = format!("{}/forms/{site}/contact", server.base);
    let post = || async {
        server
            .client
            .post(&url)
            .header("accept", "application/json")
            .form_fields(&[("email", "a@example.com")])
            .send()
            .await
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(post().await.status(), StatusCode::CREATED);
    }
    let refused = post().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "20");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--form-rate-per-client"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_sites_stored_submissions_have_a_quota() {
    let server = TestServer::start_with(&["--form-quota-submissions=3"]).await;
    let site = server.create_site().await;
    let url = format!("{}/forms/{site}/contact", server.base);
    let mut ids = Vec::new();
    for i in 0..4 {
        let answer = server
            .client
            .post(&url)
            .header("accept", "application/json")
            .form_fields(&[("n", i.to_string())])
            .send()
            .await
            .unwrap();
        if i < 3 {
            assert_eq!(answer.status(), StatusCode::CREATED);
            let body: serde_json::Value = answer.json().await.unwrap();
            ids.push(body["id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
            let problem: serde_json::Value = answer.json().await.unwrap();
            assert!(problem["detail"]
                .as_str()
                .unwrap()
                .contains("--form-quota-submissions"));
        }
    }
    // Deleting one makes room.
    let (status, _) = server
        .delete(&format!("/api/v1/sites/{site}/form_submissions/{}", ids[0]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = server
        .client
        .post(&url)
        .header("accept", "application/json")
        .form_fields(&[("n", "again")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_flood_is_refused_and_keeps_no_superseded_body() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let work = tempfile::tempdir().unwrap();
    server
        .patch(
            &format!("/api/v1/sites/{site}"),
            json!({"build_command": "sleep 5", "working_dir": work.path().to_str().unwrap()}),
        )
        .await;
    let (_, hook) = server
        .post(
            &format!("/api/v1/sites/{site}/build_hooks"),
            json!({"title": "CMS", "kind": "build"}),
        )
        .await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let body = vec![b'x'; 256 * 1024];
    let (mut accepted, mut refused) = (0u64, 0);
    let started = std::time::Instant::now();
    for client in 0..4 {
        let http = client_from(&format!("127.0.2.{}", client + 1));
        for _ in 0..40 {
            let answer = http.post(&url).body(body.clone()).send().await.unwrap();
            match answer.status() {
                StatusCode::ACCEPTED => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    // Sixty a client, 120 for the site (the defaults): the site's share runs out first,
    // two more for each second the flood took.
    let allowed = 120 + 2 * started.elapsed().as_secs() + 2;
    assert!(
        (120..=allowed).contains(&accepted),
        "{accepted} accepted, {refused} refused"
    );
    // Of the accepted bodies, only those of the running and the waiting job are kept.
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&server.database_url().await)
        .await
        .unwrap();
    let kept: i64 =
        sqlx::query("SELECT CAST(COALESCE(SUM(LENGTH(payload)), 0) AS BIGINT) AS n FROM jobs")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get("n");
    assert!(
        kept <= 2 * 256 * 1024,
        "{kept} bytes of trigger bodies kept"
    );
}

#[tokio::test]
async fn guessing_tokens_at_the_sign_in_form_is_slowed_down() {
    let server = TestServer::start_with(&["--sign-in-rate-per-client=5/min"]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..7 {
        let answer = http
            .post(format!("{}/sign-in", server.base))
            .form_fields(&[("token", format!("hr_guess_{i}")), ("_csrf", "x".into())])
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [303, 303, 303, 303, 303, 429, 429]);
}
