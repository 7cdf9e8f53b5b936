//! The SQLite writer thread: one rusqlite connection that runs whole write transactions
//! handed to it (see `tx.rs` for why), batching what queues up while it is busy into one
//! commit, and checkpointing the WAL between batches.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::TransactionBehavior;
use tokio::sync::oneshot;

use super::sql::{Rows, Sql, SqlRow, SqlValue};
use super::tx::{Tx, WriteJob, BUSY_TIMEOUT};
use super::{corrupt, Dialect, Result, StoreError};

/// Jobs run in one transaction at most: the writer takes whatever queued up while it was
/// busy and commits it together, so a commit's fixed cost (writing the touched pages to the
/// WAL) is shared.
const JOBS_PER_TRANSACTION: usize = 64;

/// How long a busy writer holds a transaction open for more jobs, and how many it waits for.
/// Jobs that piled up while the last transaction ran mean writes are arriving faster than
/// they commit one by one; then a short wait gathers several publishes into one commit
/// (pages touched by all of them, such as each webhook's index page, are written once),
/// which saves more writer time than it costs in latency. A lone job never waits, so a
/// quiet server commits at once.
const BUSY_LINGER: Linger = Linger {
    at_most: Duration::from_millis(2),
    until_jobs: 16,
};

struct Linger {
    at_most: Duration,
    until_jobs: usize,
}

/// The next transaction's jobs: `first`, whatever else is queued and, if that is more than
/// `first` alone (the writer is busy), whatever arrives within `linger`.
fn gather<J>(queue: &std::sync::mpsc::Receiver<J>, first: J, linger: &Linger) -> Vec<J> {
    let mut batch = vec![first];
    batch.extend(queue.try_iter().take(JOBS_PER_TRANSACTION - 1));
    if batch.len() > 1 {
        let deadline = Instant::now() + linger.at_most;
        while batch.len() < linger.until_jobs.min(JOBS_PER_TRANSACTION) {
            match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
    }
    batch
}

/// WAL frames after which the log is copied back into the database file: SQLite's own
/// automatic threshold, but the copy (and its fsync) runs on a thread of its own instead
/// of stalling the writer.
const CHECKPOINT_AFTER_FRAMES: i32 = 1000;
/// Past this many times the threshold, the writer finishes the checkpoint itself.
const CHECKPOINT_STARVED: i32 = 4;

/// The thread that owns SQLite's hot-path connection; jobs queue up on a channel and run in
/// order.
pub(super) struct SqliteWriter {
    jobs: std::sync::mpsc::Sender<Box<dyn QueuedJob>>,
}

impl SqliteWriter {
    /// Opens `path` (already created and migrated) and starts the writer and checkpoint
    /// threads. They end when the last handle is dropped.
    pub fn open(path: &Path) -> Result<SqliteWriter> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        // Replaces SQLite's automatic checkpoint (itself a WAL hook).
        conn.wal_hook(Some(note_wal_frames));
        // Shared with the writer, which waits for a running checkpoint when it must
        // finish one itself (see `serve_writes`).
        let checkpointer = Arc::new(std::sync::Mutex::new(rusqlite::Connection::open(path)?));
        let finisher = checkpointer.clone();
        let (checkpoint, checkpoints) = std::sync::mpsc::sync_channel::<()>(1);
        let (jobs, queue) = std::sync::mpsc::channel();
        let thread = |name: &str| std::thread::Builder::new().name(name.into());
        let cannot_start = |e: std::io::Error| {
            StoreError::Conflict(format!("cannot start the SQLite writer: {e}"))
        };
        thread("sqlite-checkpoint")
            .spawn(move || {
                for () in checkpoints {
                    checkpoint_wal(&checkpointer);
                }
            })
            .map_err(cannot_start)?;
        thread("sqlite-writer")
            .spawn(move || serve_writes(conn, queue, checkpoint, &finisher))
            .map_err(cannot_start)?;
        Ok(SqliteWriter { jobs })
    }

    pub(super) async fn run<J: WriteJob>(&self, job: Arc<J>) -> Result<J::Output> {
        self.submit(job)?.await.map_err(|_| writer_stopped())?
    }

    /// Queues `job`; the receiver gets its outcome (closed if the job panicked).
    fn submit<J: WriteJob>(&self, job: Arc<J>) -> Result<oneshot::Receiver<Result<J::Output>>> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(Queued {
                job,
                output: None,
                reply,
            }))
            .map_err(|_| writer_stopped())?;
        Ok(answer)
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Conflict("the SQLite writer did not finish this write; retry".into())
}

thread_local! {
    /// Frames in the WAL after the writer thread's last commit (set by SQLite's WAL hook,
    /// which runs on the committing thread).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

fn serve_writes(
    mut conn: rusqlite::Connection,
    queue: std::sync::mpsc::Receiver<Box<dyn QueuedJob>>,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    checkpointer: &std::sync::Mutex<rusqlite::Connection>,
) {
    // WAL frames when a checkpoint was last asked for.
    let mut asked_at = 0;
    while let Ok(first) = queue.recv() {
        let mut batch = gather(&queue, first, &BUSY_LINGER);
        metrics::histogram!(crate::metric_names::WRITER_BATCH).record(batch.len() as f64);
        // A failed or panicking job must not fail the others: then each runs again alone,
        // and only its own transaction rolls back.
        let together = batch.len() > 1
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_together(&mut conn, &mut batch)
            }))
            .is_ok_and(|ran| ran.is_ok());
        if together {
            for job in batch {
                job.answer(Ok(()));
            }
        } else {
            for job in batch {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_alone(&mut conn, job)
                }));
                if ran.is_err() {
                    // Its caller sees the reply channel closed, as if the job had failed.
                    tracing::error!("a SQLite writer job panicked; it was rolled back");
                }
            }
        }
        let frames = WAL_FRAMES.get();
        if frames < asked_at {
            asked_at = 0; // the WAL started over
        }
        if frames >= CHECKPOINT_AFTER_FRAMES * CHECKPOINT_STARVED {
            // Under sustained writes the checkpoint thread never quite catches up (new
            // frames land while it copies), and the WAL only starts over once a checkpoint
            // has copied all of it. Finishing the copy here, between two transactions
            // (after waiting for a checkpoint already running), bounds the log; most of
            // it was copied already.
            checkpoint_wal(checkpointer);
        } else if frames >= asked_at + CHECKPOINT_AFTER_FRAMES {
            // Each checkpoint copies a good thousand frames (a page written by many
            // transactions is copied once); full means one is already asked for.
            let _ = checkpoint.try_send(());
            asked_at = frames;
        }
    }
}

/// Copies what it can of the WAL into the database file. PASSIVE never waits for readers
/// or the writer: what it cannot copy now (or while another checkpoint runs) is copied
/// next time.
fn checkpoint_wal(conn: &std::sync::Mutex<rusqlite::Connection>) {
    let conn = conn
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "SQLite checkpoint failed; retried after the next commits");
    }
}

fn run_together(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn QueuedJob>]) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        job.run(&tx)?;
    }
    Ok(tx.commit()?)
}

fn run_alone(conn: &mut rusqlite::Connection, mut job: Box<dyn QueuedJob>) {
    let outcome = run_together(conn, std::slice::from_mut(&mut job));
    job.answer(outcome);
}

/// A job waiting for the writer thread: it runs inside whatever transaction the thread has
/// open, and answers its caller once that transaction is over.
trait QueuedJob: Send {
    fn run(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<()>;
    /// Answers with the output of `run` if the transaction committed, else with `outcome`.
    fn answer(self: Box<Self>, outcome: Result<()>);
}

struct Queued<J: WriteJob> {
    job: Arc<J>,
    output: Option<J::Output>,
    reply: oneshot::Sender<Result<J::Output>>,
}

impl<J: WriteJob> QueuedJob for Queued<J> {
    fn run(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<()> {
        self.output = Some(ready(self.job.run(&mut RusqliteTx { tx }))?);
        Ok(())
    }

    fn answer(self: Box<Self>, outcome: Result<()>) {
        let Queued { output, reply, .. } = *self;
        let answer = outcome.and_then(|()| {
            output.ok_or_else(|| {
                StoreError::Conflict("the SQLite writer lost this write's result; retry".into())
            })
        });
        let _ = reply.send(answer);
    }
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

    async fn execute(&mut self, sql: Sql<'_>) -> Result<u64> {
        let mut statement = self.tx.prepare_cached(sql.text())?;
        let changed = statement.execute(rusqlite::params_from_iter(sql.args()))?;
        Ok(changed as u64)
    }

    async fn fetch_all(&mut self, sql: Sql<'_>) -> Result<Vec<SqlRow>> {
        let mut statement = self.tx.prepare_cached(sql.text())?;
        let mut fetched = Vec::new();
        collect_rows(&mut statement, sql.args(), &mut fetched)?;
        Ok(fetched)
    }

    async fn fetch_rows<const WIDTH: usize>(
        &mut self,
        rows: Rows<'_, WIDTH>,
    ) -> Result<Vec<SqlRow>> {
        let mut fetched = Vec::new();
        if rows.is_empty() {
            return Ok(fetched);
        }
        let mut statement = self.tx.prepare_cached(&rows.one_row_sql())?;
        for row in rows.rows() {
            collect_rows(&mut statement, row, &mut fetched)?;
        }
        Ok(fetched)
    }

    async fn execute_rows<const WIDTH: usize>(&mut self, rows: Rows<'_, WIDTH>) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut statement = self.tx.prepare_cached(&rows.one_row_sql())?;
        let mut changed = 0;
        for row in rows.rows() {
            changed += statement.execute(rusqlite::params_from_iter(row))? as u64;
        }
        Ok(changed)
    }

    async fn announce_due_work(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs `statement` with `args` and appends what it returns to `fetched`.
fn collect_rows(
    statement: &mut rusqlite::CachedStatement<'_>,
    args: &[SqlValue<'_>],
    fetched: &mut Vec<SqlRow>,
) -> Result<()> {
    let columns: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(String::from)
        .collect();
    let mut rows = statement.query(rusqlite::params_from_iter(args))?;
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::NullText,
                    ValueRef::Integer(value) => SqlValue::Int(value),
                    ValueRef::Text(text) => SqlValue::from(
                        String::from_utf8(text.to_vec()).map_err(|e| corrupt(&columns[i], e))?,
                    ),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(corrupt("unexpected column type", &columns[i]))
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        fetched.push(SqlRow::new(columns.clone(), values));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Long enough that a wrong wait shows, short enough that it would not stall the suite.
    const PATIENT: Linger = Linger {
        at_most: Duration::from_secs(20),
        until_jobs: 16,
    };

    #[test]
    fn a_lone_job_is_committed_without_waiting_for_others() {
        let (_jobs, queue) = std::sync::mpsc::channel::<u32>();
        let started = Instant::now();
        assert_eq!(gather(&queue, 0, &PATIENT), [0]);
        assert!(started.elapsed() < PATIENT.at_most, "a lone job waited");
    }

    #[test]
    fn jobs_that_piled_up_make_the_writer_wait_for_more() {
        let (jobs, queue) = std::sync::mpsc::channel::<u32>();
        jobs.send(1).expect("queue");
        let later = std::thread::spawn(move || {
            for job in 2..20 {
                jobs.send(job).expect("queue");
            }
        });
        let batch = gather(&queue, 0, &PATIENT);
        later.join().expect("sender");
        // The first drain may already hold more than 16 if the sender was quick.
        assert!(batch.len() >= 16, "took {batch:?} without waiting");
        assert_eq!(batch, (0..batch.len() as u32).collect::<Vec<_>>());
    }

    /// A SQLite file in the temp directory, removed (with its WAL) when dropped.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> TempDb {
            let path = std::env::temp_dir().join(format!(
                "hookrelay-tx-{name}-{}-{}.db",
                std::process::id(),
                crate::domain::ids::random_urlsafe(6)
            ));
            let conn = rusqlite::Connection::open(&path).expect("create database");
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
            )
            .expect("create table");
            TempDb(path)
        }

        fn wal_bytes(&self) -> u64 {
            std::fs::metadata(self.0.with_extension("db-wal")).map_or(0, |m| m.len())
        }

        fn ids(&self) -> Vec<i64> {
            let conn = rusqlite::Connection::open(&self.0).expect("open");
            let mut statement = conn
                .prepare("SELECT id FROM notes ORDER BY id")
                .expect("prepare");
            let ids = statement.query_map([], |row| row.get(0)).expect("query");
            ids.collect::<rusqlite::Result<_>>().expect("rows")
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["db", "db-wal", "db-shm"] {
                let _ = std::fs::remove_file(self.0.with_extension(suffix));
            }
        }
    }

    struct Insert {
        id: i64,
        text: String,
    }

    fn insert(id: i64) -> Arc<Insert> {
        Arc::new(Insert {
            id,
            text: String::new(),
        })
    }

    impl WriteJob for Insert {
        type Output = i64;
        async fn run<T: Tx>(&self, tx: &mut T) -> Result<i64> {
            let mut sql = Sql::new(tx.dialect(), "INSERT INTO notes (id, text) VALUES (");
            sql.bind(self.id).push(", ");
            sql.bind(self.text.as_str()).push(")");
            tx.execute(sql).await?;
            Ok(self.id)
        }
    }

    struct Panics;

    impl WriteJob for Panics {
        type Output = ();
        async fn run<T: Tx>(&self, _: &mut T) -> Result<()> {
            panic!("a bug in a job");
        }
    }

    /// Holds the writer thread until released, so the jobs queued meanwhile run together.
    struct Hold {
        started: Mutex<Option<oneshot::Sender<()>>>,
        release: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl WriteJob for Hold {
        type Output = ();
        async fn run<T: Tx>(&self, _: &mut T) -> Result<()> {
            if let Some(started) = self.started.lock().expect("lock").take() {
                let _ = started.send(());
            }
            let _ = self.release.lock().expect("lock").recv();
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_or_panicking_job_does_not_take_the_jobs_committed_with_it_down() {
        let db = TempDb::new("batch");
        let writer = SqliteWriter::open(&db.0).expect("open writer");
        let (started, running) = oneshot::channel();
        let (release, held) = std::sync::mpsc::channel();
        let hold = writer
            .submit(Arc::new(Hold {
                started: Mutex::new(Some(started)),
                release: Mutex::new(held),
            }))
            .expect("submit");
        running.await.expect("the holding job runs");
        // Queued while the thread is held: these run as one transaction.
        let first = writer.submit(insert(1)).expect("submit");
        let duplicate = writer.submit(insert(1)).expect("submit");
        let panics = writer.submit(Arc::new(Panics)).expect("submit");
        let last = writer.submit(insert(2)).expect("submit");
        release.send(()).expect("release");
        hold.await.expect("answer").expect("hold committed");
        assert_eq!(first.await.expect("answer").expect("committed"), 1);
        let refused = duplicate.await.expect("answer");
        assert!(matches!(refused, Err(StoreError::Sqlite(_))), "{refused:?}");
        assert!(
            panics.await.is_err(),
            "a panicking job's caller hears nothing"
        );
        assert_eq!(last.await.expect("answer").expect("committed"), 2);
        assert_eq!(db.ids(), [1, 2]);
        // The thread survived the panic.
        assert_eq!(writer.run(insert(3)).await.expect("later write"), 3);
    }

    #[tokio::test]
    async fn sustained_writes_keep_the_wal_bounded() {
        const ROWS: i64 = 20_000;
        let db = TempDb::new("wal");
        let writer = SqliteWriter::open(&db.0).expect("open writer");
        let row = "x".repeat(4096);
        // Each transaction adds at least two frames (4 KiB pages): over 40 000 frames in
        // all, ten times the point where the writer finishes a checkpoint itself.
        for id in 0..ROWS {
            let job = Arc::new(Insert {
                id,
                text: row.clone(),
            });
            writer.run(job).await.expect("write");
        }
        // Without checkpoints the WAL would hold every frame, over three times what was
        // written; with them it starts over at about 4 000 frames (16 MiB), however slow
        // the checkpoint thread is.
        let written = ROWS as u64 * 4096;
        let wal = db.wal_bytes();
        assert!(
            wal < written / 2,
            "the WAL grew to {wal} bytes for {written} bytes written"
        );
        assert_eq!(db.ids().len(), ROWS as usize);
    }
}
