//! Versioned schema migrations, embedded in the binary and applied at start.
//!
//! Our own small runner rather than sqlx's: it refuses a database that a newer binary has
//! already migrated (running old code on a new schema can corrupt data), and it serialises
//! processes that start together on one PostgreSQL.

use sqlx::{Executor, Row};

use super::{Dialect, Result, Store, StoreError};
use crate::domain::time::now_millis;

/// Scripts are written in the SQL that SQLite and PostgreSQL share (TEXT, BIGINT, partial
/// indexes), so one script serves both engines.
struct Migration {
    version: i64,
    name: &'static str,
    script: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        script: include_str!("../../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "payloads_and_signatures",
        script: include_str!("../../migrations/0002_payloads_and_signatures.sql"),
    },
    Migration {
        version: 3,
        name: "build_hooks_and_jobs",
        script: include_str!("../../migrations/0003_build_hooks_and_jobs.sql"),
    },
    Migration {
        version: 4,
        name: "dashboard",
        script: include_str!("../../migrations/0004_dashboard.sql"),
    },
    Migration {
        version: 5,
        name: "notifications",
        script: include_str!("../../migrations/0005_notifications.sql"),
    },
    Migration {
        version: 6,
        name: "operations",
        script: include_str!("../../migrations/0006_operations.sql"),
    },
    Migration {
        version: 7,
        name: "safety",
        script: include_str!("../../migrations/0007_safety.sql"),
    },
    Migration {
        version: 8,
        name: "ordering",
        script: include_str!("../../migrations/0008_ordering.sql"),
    },
];

/// Arbitrary, fixed key of the PostgreSQL advisory lock that serialises migrations.
const MIGRATION_LOCK_KEY: i64 = 0x686f_6f6b_7265_6c61;

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

impl Store {
    /// Whether the database is at this binary's schema version (a read only).
    pub async fn schema_is_current(&self) -> Result<bool> {
        let applied: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .fetch_one(&self.read)
                .await?
                .try_get("v")?;
        Ok(applied == latest_version())
    }
}

/// Applies pending migrations in one transaction: all or nothing.
pub async fn run(store: &Store) -> Result<()> {
    let mut tx = store.begin_write().await?;
    if store.dialect == Dialect::Postgres {
        // Held until commit: a second process starting now waits, then finds nothing to do.
        sqlx::query("SELECT pg_advisory_xact_lock($1)::text AS locked")
            .bind(MIGRATION_LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    if applied > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found: applied,
            known: latest_version(),
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        sqlx::raw_sql(migration.script).execute(&mut *tx).await?;
        data_step(migration.version, &mut tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    tx.commit().await?;
    Ok(())
}

/// The part of a migration that SQL shared by both engines cannot do (random ids).
async fn data_step(version: i64, conn: &mut sqlx::AnyConnection) -> Result<()> {
    if version == 7 {
        super::hooks::separate_ids_from_url_tokens(conn).await?;
    }
    Ok(())
}
