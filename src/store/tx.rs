//! Write transactions of the hot path (publishing events, claiming calls, recording
//! results), written once and run on either engine.
//!
//! On PostgreSQL they run through sqlx. On SQLite they run on one dedicated writer thread
//! that owns a rusqlite connection: sqlx-sqlite hands every statement, and every row, to
//! its connection's thread and back, and under load those thread wake-ups were the largest
//! item in the profile. The writer thread takes a whole transaction per hand-off instead.
//! The rest of the store (rare administrative writes) stays on sqlx; SQLite's file lock
//! serialises the two writers and both begin their transactions `IMMEDIATE`, so neither
//! ever has to abandon a transaction halfway.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::TransactionBehavior;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::oneshot;

use super::sql::{Sql, SqlRow, SqlValue};
use super::{corrupt, Dialect, Result, StoreError};

/// How long a writer waits for the other writer's transaction before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The statements a transaction can run.
pub(super) trait Tx {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: Sql) -> Result<u64>;
    async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<SqlRow>>;
    /// Tells workers in other processes, at commit, that work is due (PostgreSQL only:
    /// a SQLite file has one process).
    async fn announce_due_work(&mut self) -> Result<()>;
}

/// A unit of work that runs in one write transaction.
pub(super) trait WriteJob: Send + Sync + 'static {
    type Output: Send + 'static;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output>;
}

/// Where write transactions run.
#[derive(Clone)]
pub(super) enum Writer {
    Sqlite(Arc<SqliteWriter>),
    Sqlx(AnyPool, Dialect),
}

impl Writer {
    pub async fn run<J: WriteJob>(&self, job: Arc<J>) -> Result<J::Output> {
        match self {
            Writer::Sqlite(writer) => writer.run(job).await,
            Writer::Sqlx(pool, dialect) => {
                let mut tx = pool.begin().await?;
                let output = job
                    .run(&mut SqlxTx {
                        conn: &mut tx,
                        dialect: *dialect,
                    })
                    .await?;
                tx.commit().await?;
                Ok(output)
            }
        }
    }
}

struct SqlxTx<'c> {
    conn: &'c mut AnyConnection,
    dialect: Dialect,
}

impl Tx for SqlxTx<'_> {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn execute(&mut self, sql: Sql) -> Result<u64> {
        Ok(sql.query().execute(&mut *self.conn).await?.rows_affected())
    }

    async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<SqlRow>> {
        SqlRow::from_any(&sql.query().fetch_all(&mut *self.conn).await?)
    }

    async fn announce_due_work(&mut self) -> Result<()> {
        super::announce_due_work(self.dialect, self.conn).await
    }
}

type ThreadJob = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

/// The thread that owns SQLite's hot-path connection; jobs queue up on a channel and run
/// one transaction each, in order.
pub(super) struct SqliteWriter {
    jobs: std::sync::mpsc::Sender<ThreadJob>,
}

impl SqliteWriter {
    /// Opens `path` (already created and migrated) and starts the thread. The thread ends
    /// when the last handle is dropped.
    pub fn open(path: &Path) -> Result<SqliteWriter> {
        let mut conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = std::sync::mpsc::channel::<ThreadJob>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                for job in queue {
                    // A bug in one job must not take every later write down with the
                    // thread: its transaction rolls back and its caller sees the channel
                    // closed, as if the job had failed.
                    let ran =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                    if ran.is_err() {
                        tracing::error!("a SQLite writer job panicked; it was rolled back");
                    }
                }
            })
            .map_err(|e| StoreError::Conflict(format!("cannot start the SQLite writer: {e}")))?;
        Ok(SqliteWriter { jobs })
    }

    async fn run<J: WriteJob>(&self, job: Arc<J>) -> Result<J::Output> {
        let (reply, answer) = oneshot::channel();
        let stopped =
            || StoreError::Conflict("the SQLite writer did not finish this write; retry".into());
        self.jobs
            .send(Box::new(move |conn| {
                let _ = reply.send(run_transaction(conn, job.as_ref()));
            }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn run_transaction<J: WriteJob>(conn: &mut rusqlite::Connection, job: &J) -> Result<J::Output> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let output = ready(job.run(&mut RusqliteTx { tx: &tx }))?;
    tx.commit()?;
    Ok(output)
}

/// Runs a future that never waits: the writer thread's statements are synchronous, so the
/// shared async transaction code completes in one poll.
fn ready<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(work).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => Err(StoreError::Conflict(
            "a SQLite writer job tried to wait; it must only run statements".into(),
        )),
    }
}

struct RusqliteTx<'c> {
    tx: &'c rusqlite::Transaction<'c>,
}

impl Tx for RusqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: Sql) -> Result<u64> {
        let mut statement = self.tx.prepare_cached(sql.text())?;
        let changed = statement.execute(rusqlite::params_from_iter(sql.args()))?;
        Ok(changed as u64)
    }

    async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<SqlRow>> {
        let mut statement = self.tx.prepare_cached(sql.text())?;
        let columns: Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(String::from)
            .collect();
        let mut rows = statement.query(rusqlite::params_from_iter(sql.args()))?;
        let mut fetched = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns.len())
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => SqlValue::NullText,
                        ValueRef::Integer(value) => SqlValue::Int(value),
                        ValueRef::Text(text) => SqlValue::Text(
                            String::from_utf8(text.to_vec())
                                .map_err(|e| corrupt(&columns[i], e))?,
                        ),
                        ValueRef::Real(_) | ValueRef::Blob(_) => {
                            return Err(corrupt("unexpected column type", &columns[i]))
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            fetched.push(SqlRow::new(columns.clone(), values));
        }
        Ok(fetched)
    }

    async fn announce_due_work(&mut self) -> Result<()> {
        Ok(())
    }
}
