//! Bulk recovery: re-sending a webhook's failed calls from a window of time, as one durable
//! operation. Any process may carry it on under a lease; it goes through the calls in id
//! order, in batches, and each batch commits with its progress, so after a crash or a
//! restart it resumes after the last call it handled and sends none twice.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::ordering::{self, OrderKey};
use super::tx::SqlxTx;
use super::{Result, Store, StoreError};
use crate::domain::ids;
use crate::domain::time::{rfc3339, UnixMillis};

pub const RECOVERY_PREFIX: &str = "rcv";

/// Calls re-sent per transaction.
pub const RECOVERY_BATCH: i64 = 500;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recovery {
    pub id: String,
    pub webhook_id: String,
    /// Failed calls created in `[since, until)` are re-sent, once each.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub since: UnixMillis,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub until: UnixMillis,
    /// `queued`, `running` or `done`.
    pub status: String,
    /// Calls made due again so far.
    pub resent: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub updated_at: UnixMillis,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<UnixMillis>,
}

/// A recovery this process holds the lease of.
#[derive(Debug, Clone)]
pub struct LeasedRecovery {
    pub id: String,
    pub webhook_id: String,
    pub since: UnixMillis,
    pub until: UnixMillis,
    pub last_call_id: Option<String>,
    pub lease_until: UnixMillis,
}

const COLUMNS: &str =
    "id, webhook_id, since, until_at, status, resent, created_at, updated_at, finished_at";

fn from_row(row: &AnyRow) -> Result<Recovery> {
    Ok(Recovery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        since: row.try_get("since")?,
        until: row.try_get("until_at")?,
        status: row.try_get("status")?,
        resent: row.try_get("resent")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Store {
    pub async fn create_recovery(
        &self,
        site_id: &str,
        webhook_id: &str,
        since: UnixMillis,
        until: UnixMillis,
        now: UnixMillis,
    ) -> Result<Recovery> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO recoveries (id, site_id, webhook_id, since, until_at, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6) \
             RETURNING {COLUMNS}"
        )))
        .bind(ids::new_id(RECOVERY_PREFIX))
        .bind(site_id.to_owned())
        .bind(webhook_id.to_owned())
        .bind(since)
        .bind(until)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        from_row(&row)
    }

    pub async fn recovery(&self, site_id: &str, webhook_id: &str, id: &str) -> Result<Recovery> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recoveries WHERE site_id = $1 AND webhook_id = $2 AND id = $3"
        )))
        .bind(site_id.to_owned())
        .bind(webhook_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// The webhook's recoveries, newest first (the last 100).
    pub async fn list_recoveries(&self, site_id: &str, webhook_id: &str) -> Result<Vec<Recovery>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recoveries WHERE site_id = $1 AND webhook_id = $2 \
             ORDER BY id DESC LIMIT 100"
        )))
        .bind(site_id.to_owned())
        .bind(webhook_id.to_owned())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Takes the lease of the oldest unfinished recovery nobody holds, until `lease_until`.
    /// Two processes asking at once cannot both get it: the update re-checks the lease.
    pub async fn lease_recovery(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
    ) -> Result<Option<LeasedRecovery>> {
        let free = "status <> 'done' AND (lease_until IS NULL OR lease_until < $2)";
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE recoveries SET status = 'running', lease_until = $1, updated_at = $2 \
             WHERE id = (SELECT id FROM recoveries WHERE {free} ORDER BY id LIMIT 1) AND {free} \
             RETURNING id, webhook_id, since, until_at, last_call_id, lease_until"
        )))
        .bind(lease_until)
        .bind(now)
        .fetch_optional(&self.write)
        .await?;
        row.map(|row| {
            Ok(LeasedRecovery {
                id: row.try_get("id")?,
                webhook_id: row.try_get("webhook_id")?,
                since: row.try_get("since")?,
                until: row.try_get("until_at")?,
                last_call_id: row.try_get("last_call_id")?,
                lease_until: row.try_get("lease_until")?,
            })
        })
        .transpose()
    }

    /// Re-sends the next batch of the recovery's calls (one attempt each, like a resend)
    /// and records the progress in the same transaction, renewing the lease. Returns how
    /// many were re-sent; fewer than a batch means it is done. `Conflict` if the lease was
    /// lost meanwhile (nothing is changed then).
    pub async fn recover_batch(
        &self,
        recovery: &mut LeasedRecovery,
        now: UnixMillis,
        lease_until: UnixMillis,
    ) -> Result<i64> {
        let after = recovery
            .last_call_id
            .clone()
            .unwrap_or_else(|| ids::floor_at(ids::CALL, recovery.since));
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_calls SET status = 'pending', one_shot = 1, resend_requested = 1, \
               next_attempt_at = $1, claim_token = NULL, rate_slot_at = NULL, updated_at = $1 \
             WHERE id IN (SELECT id FROM webhook_calls WHERE webhook_id = $2 \
               AND status = 'failed' AND id > $3 AND id < $4 ORDER BY id LIMIT {RECOVERY_BATCH}) \
             RETURNING id, ordering_key"
        )))
        .bind(now)
        .bind(recovery.webhook_id.clone())
        .bind(after)
        .bind(ids::floor_at(ids::CALL, recovery.until))
        .fetch_all(&mut *tx)
        .await?;
        let resent = rows.len() as i64;
        // Calls of an ordered webhook join the back of their keys, oldest first.
        let mut ordered = Vec::new();
        for row in &rows {
            if let Some(key) = row.try_get::<Option<String>, _>("ordering_key")? {
                let id: String = row.try_get("id")?;
                let key = OrderKey {
                    webhook_id: recovery.webhook_id.clone(),
                    key,
                };
                ordered.push((id, key));
            }
        }
        if !ordered.is_empty() {
            ordered.sort_unstable();
            let keys = ordering::sorted_keys(ordered.iter().map(|(_, k)| k));
            let mut tx = SqlxTx::new(&mut tx, self.dialect);
            ordering::lock_keys(&mut tx, &keys).await?;
            for (id, key) in &ordered {
                ordering::requeue(&mut tx, id, key, false, now).await?;
            }
        }
        let last = rows
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .max();
        let done = resent < RECOVERY_BATCH;
        let progress = sqlx::query(
            "UPDATE recoveries SET resent = resent + $1, \
               last_call_id = COALESCE($2, last_call_id), lease_until = $3, updated_at = $4, \
               status = CASE WHEN $5 = 1 THEN 'done' ELSE status END, \
               finished_at = CASE WHEN $5 = 1 THEN $4 ELSE finished_at END \
             WHERE id = $6 AND lease_until = $7",
        )
        .bind(resent)
        .bind(last.clone())
        .bind(if done { None } else { Some(lease_until) })
        .bind(now)
        .bind(i64::from(done))
        .bind(recovery.id.clone())
        .bind(recovery.lease_until)
        .execute(&mut *tx)
        .await?;
        if progress.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "another process took over this recovery".into(),
            ));
        }
        if resent > 0 {
            super::announce_due_work(self.dialect, &mut tx).await?;
        }
        tx.commit().await?;
        recovery.last_call_id = last.or(recovery.last_call_id.take());
        recovery.lease_until = lease_until;
        Ok(resent)
    }

    /// Hands the recovery back (graceful shutdown), so another process carries it on.
    pub async fn release_recovery(&self, recovery: &LeasedRecovery) -> Result<()> {
        sqlx::query("UPDATE recoveries SET lease_until = NULL WHERE id = $1 AND lease_until = $2")
            .bind(recovery.id.clone())
            .bind(recovery.lease_until)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
