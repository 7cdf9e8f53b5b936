//! Where the hot path's write transactions run: SQLite's writer thread, or a sqlx pool
//! (PostgreSQL). Either way a [`WriteJob`] runs whole, in one transaction.

use std::sync::Arc;

use sqlx::AnyPool;

use super::sqlite_writer::SqliteWriter;
use super::tx::{SqlxTx, WriteJob};
use super::{Dialect, Result};

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
                let output = job.run(&mut SqlxTx::new(&mut tx, *dialect)).await?;
                tx.commit().await?;
                Ok(output)
            }
        }
    }
}
