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

use std::time::Duration;

use sqlx::AnyConnection;

use super::sql::{Rows, Sql, SqlRow};
use super::{Dialect, Result};

/// How long a writer waits for the other writer's transaction before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The statements a transaction can run.
pub(super) trait Tx {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: Sql<'_>) -> Result<u64>;
    async fn fetch_all(&mut self, sql: Sql<'_>) -> Result<Vec<SqlRow>>;
    /// Runs one statement for many rows (see [`Rows`]); returns how many rows it changed.
    async fn execute_rows<const WIDTH: usize>(&mut self, rows: Rows<'_, WIDTH>) -> Result<u64>;
    /// As [`execute_rows`](Tx::execute_rows), for a statement that returns rows.
    async fn fetch_rows<const WIDTH: usize>(
        &mut self,
        rows: Rows<'_, WIDTH>,
    ) -> Result<Vec<SqlRow>>;
    /// Tells workers in other processes, at commit, that work is due (PostgreSQL only:
    /// a SQLite file has one process).
    async fn announce_due_work(&mut self) -> Result<()>;
}

/// A unit of work that runs in one write transaction.
pub(super) trait WriteJob: Send + Sync + 'static {
    type Output: Send + 'static;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output>;
}

/// A transaction on a sqlx connection: the hot path's on PostgreSQL, or an
/// administrative write's (which runs on sqlx on either engine) sharing its statements.
pub(super) struct SqlxTx<'c> {
    conn: &'c mut AnyConnection,
    dialect: Dialect,
}

impl<'c> SqlxTx<'c> {
    pub fn new(conn: &'c mut AnyConnection, dialect: Dialect) -> Self {
        SqlxTx { conn, dialect }
    }
}

impl Tx for SqlxTx<'_> {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn execute(&mut self, sql: Sql<'_>) -> Result<u64> {
        Ok(sql.query().execute(&mut *self.conn).await?.rows_affected())
    }

    async fn fetch_all(&mut self, sql: Sql<'_>) -> Result<Vec<SqlRow>> {
        SqlRow::from_any(&sql.query().fetch_all(&mut *self.conn).await?)
    }

    async fn execute_rows<const WIDTH: usize>(&mut self, rows: Rows<'_, WIDTH>) -> Result<u64> {
        let mut changed = 0;
        for statement in rows.into_statements(self.dialect) {
            changed += self.execute(statement).await?;
        }
        Ok(changed)
    }

    async fn fetch_rows<const WIDTH: usize>(
        &mut self,
        rows: Rows<'_, WIDTH>,
    ) -> Result<Vec<SqlRow>> {
        let mut fetched = Vec::new();
        for statement in rows.into_statements(self.dialect) {
            fetched.extend(self.fetch_all(statement).await?);
        }
        Ok(fetched)
    }

    async fn announce_due_work(&mut self) -> Result<()> {
        super::announce_due_work(self.dialect, self.conn).await
    }
}
