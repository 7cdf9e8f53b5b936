//! Secrets are sealed at rest with a key outside the database: a copied database holds no
//! token, password, header value or signing secret in the clear, and a process started
//! with another key refuses to run instead of misreading them.

use serde_json::json;
use sqlx::{Column, Connection, Row};

use crate::support::receiver::Receiver;
use crate::support::{item_event, TestServer};

/// Every text value of the tables that hold secrets, as the database has them.
async fn stored_text(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut all = String::new();
    for table in ["webhooks", "build_hooks"] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

const SECRETS: [&str; 6] = [
    "basic-password-1",
    "header-key-2",
    "jws-secret-3",
    "ghp_token_4",
    "smtp-password-5",
    "hook-shared-secret-6",
];

#[tokio::test]
async fn a_copied_database_holds_no_secret_and_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir, &[]).await;
    let site = server.create_site().await;
    let receiver = Receiver::ok().await;
    let hook = server
        .create_webhook(
            &site,
            &receiver.url("/in"),
            json!({"basic_auth": {"username": "u", "password": SECRETS[0]},
                   "headers": {"X-Api-Key": SECRETS[1]}, "jws_secret": SECRETS[2]}),
        )
        .await;
    let signing_secret = hook["secret"].as_str().unwrap().to_owned();
    let triggers = json!([{"entity_type": "deploy", "event_types": ["*"]}]);
    for (kind, config) in [
        (
            "github_commit_status",
            json!({"api_url": "http://127.0.0.1:9", "owner": "a", "repo": "b", "token": SECRETS[3]}),
        ),
        (
            "email",
            json!({"host": "127.0.0.1", "port": 2525, "tls": "none", "username": "u",
                         "password": SECRETS[4], "from": "a@example.com", "to": ["b@example.com"]}),
        ),
    ] {
        let (status, body) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({"name": kind, "type": kind, "config": config, "triggers": triggers}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = server
        .post(
            &format!("/api/v1/sites/{site}/build_hooks"),
            json!({"title": "t", "kind": "build",
                   "verify": {"type": "header", "name": "X-Hook-Token", "value": SECRETS[5]}}),
        )
        .await;
    assert!(status.is_success(), "{body}");

    let url = server.database_url().await;
    let stored = stored_text(&url).await;
    for secret in SECRETS.iter().copied().chain([signing_secret.as_str()]) {
        assert!(!stored.contains(secret), "{secret} is stored in the clear");
    }
    // They still work: the call carries the password and the header.
    server.publish(&site, item_event("1")).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("x-api-key"), SECRETS[1]);

    // Started again with another key, the server refuses, naming the problem.
    let dir = server.stop().await;
    let mut args = crate::support::test_args(dir.path(), &[]).await;
    args.secret_key = Some(hookrelay::domain::sealed::generate_key());
    let refused = hookrelay::app::start(args)
        .await
        .err()
        .expect("another key is refused");
    assert!(
        format!("{refused:#}").contains("not the one this database's secrets were sealed with"),
        "{refused:#}"
    );
    // With its own key (the file beside the data) it runs, and the secrets read back.
    let server = TestServer::start_in(dir, &[]).await;
    let (_, secret) = server
        .get(&format!(
            "/api/v1/sites/{site}/webhooks/{}/secret",
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(secret, json!({"secret": signing_secret}));
    use std::os::unix::fs::PermissionsExt;
    let key_file = std::fs::metadata(server.data_dir().join("secret.key"))
        .expect("the key is kept beside the data");
    assert_eq!(key_file.permissions().mode() & 0o777, 0o600);
}
