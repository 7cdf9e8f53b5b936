//! Test harness: a real hookrelay server on 127.0.0.1 (in-process, real SQLite file) and
//! real HTTP receivers that record what they get and signal each arrival.

pub mod backend;
pub mod browser;
pub mod forge;
pub mod jws;
pub mod process;
pub mod receiver;
pub mod senders;
pub mod session;
pub mod smtp;

use std::time::Duration;

use clap::Parser;
use hookrelay::app::{self, Running};
use hookrelay::config::ServeArgs;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

pub const ADMIN_TOKEN: &str = "hr_test_owner_token_0123456789";

#[derive(Parser)]
#[command(args_override_self = true)]
struct ArgsOnly {
    #[command(flatten)]
    serve: ServeArgs,
}

/// Server arguments as a test wants them: loopback targets allowed, a quick retry
/// schedule, and a fast poll so retries are not held up.
pub async fn test_args(data_dir: &std::path::Path, extra: &[&str]) -> ServeArgs {
    let mut argv = vec![
        "hookrelay".to_owned(),
        "--listen=127.0.0.1:0".to_owned(),
        format!("--data-dir={}", data_dir.display()),
        format!("--admin-token={ADMIN_TOKEN}"),
        "--allow-private-targets".to_owned(),
        "--retry-schedule=100ms,100ms".to_owned(),
        "--poll-interval=50ms".to_owned(),
        "--lease=5s".to_owned(),
        "--job-heartbeat=100ms".to_owned(),
        "--job-orphan-after=2s".to_owned(),
    ];
    if let Some(url) = backend::database_url(data_dir).await {
        argv.push(format!("--database-url={url}"));
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    ArgsOnly::try_parse_from(argv)
        .expect("test arguments parse")
        .serve
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    running: Option<Running>,
    dir: TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra).await
    }

    /// Starts on an existing data directory (to test restarts).
    pub async fn start_in(dir: TempDir, extra: &[&str]) -> Self {
        let args = test_args(dir.path(), extra).await;
        Self::launch(dir, args).await
    }

    pub async fn launch(dir: TempDir, args: ServeArgs) -> Self {
        let client = client();
        let running = app::start(args).await.expect("server starts");
        TestServer {
            base: format!("http://{}", running.addr),
            client,
            token: ADMIN_TOKEN.to_owned(),
            running: Some(running),
            dir,
        }
    }

    /// Graceful stop; returns the data directory for a restart.
    pub async fn stop(mut self) -> TempDir {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.dir
    }

    /// A client for a server running elsewhere (e.g. a child process), as the admin.
    pub fn api_client(base: &str) -> Self {
        TestServer {
            base: base.to_owned(),
            client: client(),
            token: ADMIN_TOKEN.to_owned(),
            running: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        TestServer {
            base: self.base.clone(),
            client: self.client.clone(),
            token: token.to_owned(),
            running: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Where this server keeps its data (and its secret key).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The database this server runs on (its SQLite file, or its PostgreSQL database).
    pub async fn database_url(&self) -> String {
        match backend::database_url(self.dir.path()).await {
            Some(url) => url,
            None => hookrelay::store::Store::sqlite_url(self.dir.path()),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches the server");
        read(response).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    pub async fn create_site(&self) -> String {
        let (status, site) = self
            .post("/api/v1/sites", json!({"name": "Test site"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{site}");
        site["id"].as_str().expect("site id").to_owned()
    }

    /// Creates a webhook to `url` triggered by every `item` event; `extra` fields override.
    pub async fn create_webhook(&self, site: &str, url: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": "Test hook",
            "url": url,
            "triggers": [{"entity_type": "item", "event_types": ["*"]}],
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let (status, hook) = self
            .post(&format!("/api/v1/sites/{site}/webhooks"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        hook
    }

    pub async fn publish(&self, site: &str, event: Value) -> Value {
        let (status, published) = self
            .post(&format!("/api/v1/sites/{site}/events"), event)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{published}");
        published
    }

    pub async fn call(&self, site: &str, call_id: &str) -> Value {
        let (status, call) = self
            .get(&format!("/api/v1/sites/{site}/webhook_calls/{call_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{call}");
        call
    }

    /// Waits until the call leaves `pending`.
    pub async fn settled_call(&self, site: &str, call_id: &str) -> Value {
        self.wait_call(site, call_id, |call| call["status"] != "pending")
            .await
    }

    /// Re-reads the call until `done` holds.
    pub async fn wait_call(
        &self,
        site: &str,
        call_id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_json(
            &format!("/api/v1/sites/{site}/webhook_calls/{call_id}"),
            done,
        )
        .await
    }

    /// Re-reads `path` until `done` holds. Reads are cheap; the bound only guards
    /// against a hang, it is not what the test measures.
    pub async fn wait_json(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually(Duration::from_millis(20), || async {
            let (status, value) = self.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {value}");
            if done(&value) {
                Ok(value)
            } else {
                Err(format!("{path} never reached the expected state: {value}"))
            }
        })
        .await
    }
}

/// Runs `probe` every `every` until it returns `Ok`; after 30 s, fails with the last
/// `Err` (what the probe saw). A bound against hangs, not a measurement.
pub async fn eventually<T, Probe>(every: Duration, mut probe: impl FnMut() -> Probe) -> T
where
    Probe: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(seen) => assert!(tokio::time::Instant::now() < deadline, "{seen}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// An HTTP client for tests (installs the process's TLS crypto provider first).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

pub fn item_event(id: &str) -> Value {
    json!({"entity_type": "item", "event_type": "update", "entity": {"id": id}})
}

/// Leaves the database at `url` as a newer binary's migration would: schema version 999.
pub async fn add_future_migration(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// A second connection holding the database's write lock (SQLite) or a lock on
/// the sites table that lets reads through (PostgreSQL), until released: writes that need
/// it wait meanwhile.
pub struct WriteLock(sqlx::AnyConnection);

pub async fn lock_writes(url: &str) -> WriteLock {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let lock = if backend::is_postgres() {
        "BEGIN; LOCK TABLE sites IN EXCLUSIVE MODE"
    } else {
        "BEGIN IMMEDIATE"
    };
    sqlx::raw_sql(lock).execute(&mut conn).await.unwrap();
    WriteLock(conn)
}

impl WriteLock {
    pub async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.0)
            .await
            .unwrap();
    }
}

/// `.form(…)` for reqwest built without its `form` feature: a URL-encoded body.
pub trait FormBody {
    fn form_fields<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_fields<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form fields encode"))
    }
}
