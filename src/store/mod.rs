//! Durable state: sites, webhooks, events, the call queue and its activity log.
//!
//! One implementation serves SQLite (embedded default) and PostgreSQL through sqlx's `Any`
//! driver: the SQL sticks to what both engines share (TEXT, BIGINT, `$n` placeholders,
//! `UPDATE … RETURNING`, partial indexes) and the few differences live in [`Dialect`].
//! Every query is exercised against each engine by the test suite.
//!
//! On SQLite, the hot path's write transactions (publishing, claiming, recording) run on a
//! dedicated writer thread with its own connection (see `tx.rs`); administrative writes use
//! one sqlx connection; WAL lets readers carry on beside both.

mod activity;
mod audit;
mod cache;
mod calls;
mod event_types;
mod event_writer;
mod events;
mod forms;
mod handoff;
mod health;
mod hooks;
mod jobs;
mod migrate;
mod ordering;
mod queue;
mod rate;
mod recoveries;
mod results;
mod retention;
mod secrets;
mod sessions;
mod sites;
mod sql;
mod sqlite_writer;
mod tokens;
mod tx;
mod webhooks;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use audit::{Actor, AuditEntry};
pub use calls::{AttemptRecord, CallDetail, CallFilter, CallSummary, NewAttempt, Page};
pub use event_types::{
    catalog_of, compile_schema, EventTypeRecord, RegisteredType, SiteEventTypes,
};
pub use events::{IdempotencyKey, PublishOutcome, Published};
pub use forms::{Submission, SUBMISSION_PREFIX};
pub use handoff::{HandedCall, Handoff};
pub use health::HealthChanges;
pub use hooks::{HookRecord, HookRequest};
pub use jobs::{JobDetail, JobFilter, JobRecord, NewJob, JOB_PREFIX};
pub use ordering::HeldKey;
pub use queue::{claim_size, ClaimedCall};
pub use recoveries::{LeasedRecovery, Recovery, RECOVERY_BATCH, RECOVERY_PREFIX};
pub use results::{AttemptResult, OrderKey, Watch};
pub use retention::Pruned;
pub use sessions::SessionRecord;
pub use sites::SiteRecord;
pub use tokens::TokenRecord;
pub use webhooks::WebhookRecord;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("not found")]
    NotFound,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be carried out as it stands (422), for reasons the store finds.
    #[error("invalid: {0:?}")]
    Invalid(crate::domain::validation::Violations),
    #[error("the database schema is at version {found}, newer than this binary knows ({known}); run a newer hookrelay or restore a matching backup")]
    SchemaTooNew { found: i64, known: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// When a write last failed for want of disk space (Unix ms; 0: never), process-wide: the
/// readiness check reports it for a while after (see [`Store::disk_full_recently`]).
static DISK_FULL_AT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// How long a disk-full error keeps the readiness check red.
const DISK_FULL_MEMORY_MS: i64 = 60_000;

impl StoreError {
    /// The database's disk is full (SQLite's SQLITE_FULL, PostgreSQL's `disk_full`, or
    /// ENOSPC from the file system); nothing of the failed write was kept.
    pub fn is_disk_full(&self) -> bool {
        let full = match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("13" | "53100"))
            }
            StoreError::Database(sqlx::Error::Io(e)) => e.raw_os_error() == Some(libc::ENOSPC),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        };
        if full {
            DISK_FULL_AT.store(
                crate::domain::time::now_millis(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        full
    }

    /// A row referred to one that no longer exists: a webhook, site or call was deleted
    /// while a write that refers to it was on its way.
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_foreign_key_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The engine a database URL names, if it is one hookrelay supports.
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }

    /// Row locking for claims of `table`'s rows: PostgreSQL lets concurrent workers skip
    /// each other's rows; SQLite has a single writer, so the plain statement is already
    /// exclusive.
    fn skip_locked(self, table: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {table} SKIP LOCKED"),
        }
    }
}

/// PostgreSQL channel on which committed work is announced to workers in other processes.
pub const WAKE_CHANNEL: &str = "hookrelay_calls";

/// Inside a transaction: tells workers in other processes, at commit, that work is due.
/// Within one process the caller wakes its own workers directly.
async fn announce_due_work(dialect: Dialect, conn: &mut sqlx::AnyConnection) -> Result<()> {
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_notify($1, '')::text AS sent")
            .bind(WAKE_CHANNEL)
            .fetch_one(conn)
            .await?;
    }
    Ok(())
}

#[derive(Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    dialect: Dialect,
    /// Where the hot path's write transactions run.
    writer: writer::Writer,
    /// Queue of the group-commit writer for published events (PostgreSQL; SQLite's writer
    /// thread groups them itself).
    event_writer: Option<tokio::sync::mpsc::Sender<event_writer::EventWrite>>,
    /// Each site's webhooks, for matching published events without a read per event.
    webhook_cache: std::sync::Arc<cache::Cache<webhooks::SiteWebhooks>>,
    /// Each site's registered event types, with their schemas compiled.
    event_type_cache: std::sync::Arc<cache::Cache<SiteEventTypes>>,
    /// API tokens by the hash of their secret, for authenticating without a read per
    /// request. Only known tokens are kept (unknown ones would let anyone fill it).
    token_cache: std::sync::Arc<cache::Cache<TokenRecord>>,
    /// Set when this process delivers: fresh calls go straight to its dispatcher.
    handoff: std::sync::Arc<std::sync::OnceLock<Handoff>>,
    /// The SQLite file, for the readiness check's free-space reading.
    sqlite_path: Option<std::path::PathBuf>,
    /// Bytes one event's custom payloads may render to, across all its webhooks.
    rendered_bytes_per_event: usize,
    /// Seals secrets before they are written and opens them when read (see `secrets.rs`).
    sealer: std::sync::Arc<crate::domain::sealed::Sealer>,
}

/// One event's custom payloads render to at most this many bytes unless configured.
pub const DEFAULT_RENDERED_BYTES_PER_EVENT: usize = 8 * 1024 * 1024;

/// Published events waiting for the writer; beyond this, publishers wait (backpressure).
const EVENT_QUEUE: usize = 4096;

/// Pool sizes; SQLite's writer pool is always one connection.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 8 }
    }
}

impl Store {
    /// The embedded default: a SQLite file in `data_dir`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("hookrelay.db").display()
        )
    }

    /// Opens (and migrates) the database at `url` (`sqlite://…` or `postgres://…`).
    pub async fn open(url: &str, pools: &PoolSettings) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let Some(dialect) = Dialect::of_url(url) else {
            return Err(StoreError::Conflict(format!(
                "unsupported database URL `{}`: use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )));
        };
        let options = AnyConnectOptions::from_str(url)?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1))
            .log_statements(tracing::log::LevelFilter::Trace);
        let store = match dialect {
            Dialect::Sqlite => {
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await?;
                // Readers are opened after the writer has switched the file to WAL.
                let read = AnyPoolOptions::new()
                    .max_connections(pools.max_connections.max(1))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                (write, read)
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(pools.max_connections.max(2))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        // Only this process writes a SQLite file, so its invalidations are complete; on
        // PostgreSQL other processes change webhooks and revoke tokens too: a change made
        // elsewhere is seen here within a second.
        let cache_ttl = match dialect {
            Dialect::Sqlite => Duration::from_secs(60),
            Dialect::Postgres => Duration::from_secs(1),
        };
        let mut store = Store {
            writer: writer::Writer::Sqlx(store.0.clone(), dialect),
            write: store.0,
            read: store.1,
            dialect,
            event_writer: None,
            webhook_cache: std::sync::Arc::new(cache::Cache::new(cache_ttl)),
            event_type_cache: std::sync::Arc::new(cache::Cache::new(cache_ttl)),
            token_cache: std::sync::Arc::new(cache::Cache::new(cache_ttl)),
            handoff: std::sync::Arc::default(),
            sqlite_path: None,
            rendered_bytes_per_event: DEFAULT_RENDERED_BYTES_PER_EVENT,
            sealer: std::sync::Arc::new(crate::domain::sealed::Sealer::none()),
        };
        migrate::run(&store).await?;
        if dialect == Dialect::Sqlite {
            let path = sqlite_file(url)?;
            store.writer = writer::Writer::Sqlite(std::sync::Arc::new(
                sqlite_writer::SqliteWriter::open(&path)?,
            ));
            store.sqlite_path = Some(path);
        } else {
            let (event_writer, queue) = tokio::sync::mpsc::channel(EVENT_QUEUE);
            store.event_writer = Some(event_writer);
            tokio::spawn(event_writer::write_events(store.writer.clone(), queue));
        }
        Ok(store)
    }

    /// Begins a transaction on the administrative writer. On SQLite it takes the write
    /// lock at once (`IMMEDIATE`): the hot-path writer thread is a second writer, and a
    /// transaction that read first and then found the lock taken could not be carried on.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.write.begin().await?,
        })
    }

    /// From now on, calls of events published through this store are handed to this
    /// process's dispatcher while it has free slots (see `handoff.rs`). Set once.
    pub fn deliver_locally(&self, handoff: Handoff) {
        let _ = self.handoff.set(handoff);
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A read that touches no table, for health checks: proves the database answers
    /// without writing anything.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Sets how many bytes one event's custom payloads may render to (see
    /// `--max-rendered-bytes-per-event`).
    pub fn limit_rendered_bytes_per_event(&mut self, bytes: usize) {
        self.rendered_bytes_per_event = bytes;
    }

    /// Whether a write failed for want of disk space in the last minute.
    pub fn disk_full_recently(&self) -> bool {
        let at = DISK_FULL_AT.load(std::sync::atomic::Ordering::Relaxed);
        at > 0 && crate::domain::time::now_millis() - at < DISK_FULL_MEMORY_MS
    }

    /// Free bytes on the SQLite file's file system (`None` on PostgreSQL, whose disk is
    /// another machine's).
    pub fn free_disk_bytes(&self) -> Option<u64> {
        let dir = self.sqlite_path.as_deref()?.parent()?;
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: `statvfs` only writes the struct it is given; `path` is NUL-terminated.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0;
        ok.then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The file behind a `sqlite:` URL; in-memory databases cannot be shared by two
/// connections, so they are refused.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
        return Err(StoreError::Conflict(
            "in-memory SQLite is not supported: give a file, e.g. sqlite://hookrelay.db".into(),
        ));
    }
    Ok(path.to_owned())
}

/// Most rows of one kind a site may have; creating more is refused naming the limit.
pub const MAX_WEBHOOKS_PER_SITE: i64 = 500;
pub const MAX_HOOKS_PER_SITE: i64 = 100;
pub const MAX_EVENT_TYPES_PER_SITE: i64 = 200;

impl Store {
    /// One page of a table's rows in creation (id) order. `select` ends in a condition
    /// (`… WHERE site_id = $1`, bound through `bind`, or `… WHERE 1 = 1`) to which the
    /// cursor adds `AND id > cursor`.
    async fn page_by_id<T>(
        &self,
        select: &str,
        bind: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
        from_row: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
        id_of: fn(&T) -> String,
    ) -> Result<Page<T>> {
        let mut sql = sql::Sql::new(self.dialect, select);
        if let Some(value) = bind {
            sql.bind(value.to_owned());
        }
        if let Some(cursor) = cursor {
            sql.push(" AND id > ").bind(cursor.to_owned());
        }
        sql.push(" ORDER BY id LIMIT ").bind(i64::from(limit) + 1);
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut data = rows.iter().map(&from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, limit, id_of))
    }

    /// Refuses a new row of `table` past `max` for the site (inside the creating
    /// transaction, so the count and the insert see the same rows).
    async fn within_site_limit(
        conn: &mut sqlx::AnyConnection,
        table: &str,
        site_id: &str,
        max: i64,
        what: &str,
    ) -> Result<()> {
        use sqlx::Row;
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE site_id = $1"
        )))
        .bind(site_id.to_owned())
        .fetch_one(conn)
        .await?
        .try_get("n")?;
        if n >= max {
            let mut v = crate::domain::validation::Violations::default();
            v.add(
                "site_id",
                format!("the site has {n} {what}, the most a site may have"),
            );
            return Err(StoreError::Invalid(v));
        }
        Ok(())
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialising plain data cannot fail")
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}
