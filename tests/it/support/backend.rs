//! Which store the integration tests run on: SQLite by default, PostgreSQL when
//! `HOOKRELAY_TEST_BACKEND=postgres` (scripts/test.sh runs the suite both ways).

use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, Row};

pub fn is_postgres() -> bool {
    match std::env::var("HOOKRELAY_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("HOOKRELAY_TEST_BACKEND must be sqlite or postgres, not {other}"),
    }
}

fn admin_url() -> String {
    std::env::var("HOOKRELAY_TEST_POSTGRES_URL").expect(
        "HOOKRELAY_TEST_BACKEND=postgres needs HOOKRELAY_TEST_POSTGRES_URL; run scripts/test.sh",
    )
}

/// The database URL for a test whose data lives in `data_dir`, or `None` on SQLite.
/// On PostgreSQL each data directory gets its own database (created on first use), so
/// tests are isolated and a restarted server finds its data again.
pub async fn database_url(data_dir: &Path) -> Option<String> {
    if !is_postgres() {
        return None;
    }
    let digest = Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let name = format!("hr_{}", &hex::encode(digest)[..24]);
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to test PostgreSQL");
    let exists = sqlx::query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .map(|row| row.get::<i32, _>("one"))
        .is_some();
    if !exists {
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
    }
    let (base, _) = admin.rsplit_once('/').expect("URL has a database part");
    Some(format!("{base}/{name}"))
}
