use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::sql::Sql;
use super::{json_text, parse_json, Result, Store, StoreError};
use crate::domain::event::NewEvent;
use crate::domain::ids;
use crate::domain::time::now_millis;
use crate::domain::trigger;

/// An `Idempotency-Key` answers with its first response for this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Rows per multi-row INSERT; keeps well under both engines' bind-parameter limits.
const CALLS_PER_INSERT: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    pub webhook_call_ids: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    Created(Published),
    /// The same `Idempotency-Key` was seen within the window: nothing new was created.
    Replayed(Published),
}

/// An idempotency key and a hash of the request it came with.
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

impl Store {
    /// Stores the event and one pending call per matching enabled webhook in one
    /// transaction: once this returns, every call will be delivered (transactional outbox).
    pub async fn publish_event(
        &self,
        site_id: &str,
        event: &NewEvent,
        idempotency: Option<IdempotencyKey<'_>>,
    ) -> Result<PublishOutcome> {
        self.site(site_id).await?;
        let now = now_millis();
        if let Some(key) = &idempotency {
            if let Some(earlier) = self.earlier_response(site_id, key, now).await? {
                return Ok(PublishOutcome::Replayed(earlier));
            }
        }
        let key = event.key();
        // Each matching webhook's call, with its own body when the webhook has a template
        // (rendered now, so every retry sends and signs the same bytes).
        let calls: Vec<(String, Option<String>, Option<String>)> = self
            .enabled_webhooks(site_id)
            .await?
            .into_iter()
            .filter(|hook| trigger::any_matches(&hook.settings.triggers, &key))
            .map(|hook| {
                let body = hook.settings.render_body(event);
                let content_type = body.as_ref().map(|_| hook.settings.content_type.clone());
                (hook.id, body, content_type)
            })
            .collect();
        let published = Published {
            id: ids::new_id(ids::EVENT),
            webhook_call_ids: calls.iter().map(|_| ids::new_id(ids::CALL)).collect(),
        };

        let mut tx = self.write.begin().await?;
        if let Some(key) = &idempotency {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE site_id = $1 AND key = $2 AND created_at <= $3",
            )
            .bind(site_id.to_owned())
            .bind(key.key.to_owned())
            .bind(now - IDEMPOTENCY_WINDOW_MS)
            .execute(&mut *tx)
            .await?;
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (site_id, key, request_hash, response, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, key) DO NOTHING",
            )
            .bind(site_id.to_owned())
            .bind(key.key.to_owned())
            .bind(key.request_hash.to_owned())
            .bind(json_text(&published))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                // A concurrent request with the same key committed first: answer as it did.
                tx.rollback().await?;
                return self
                    .earlier_response(site_id, key, now)
                    .await?
                    .map(PublishOutcome::Replayed)
                    .ok_or_else(|| {
                        StoreError::Conflict(
                            "idempotency key is being used concurrently; retry".into(),
                        )
                    });
            }
        }
        sqlx::query(
            "INSERT INTO events (id, site_id, entity_type, event_type, environment, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(published.id.clone())
        .bind(site_id.to_owned())
        .bind(event.entity_type.clone())
        .bind(event.event_type.clone())
        .bind(event.environment().to_owned())
        .bind(event.default_body())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let rows: Vec<_> = published.webhook_call_ids.iter().zip(&calls).collect();
        for chunk in rows.chunks(CALLS_PER_INSERT) {
            let mut sql = Sql::new(self.dialect, "INSERT INTO webhook_calls (id, site_id, event_id, webhook_id, body, content_type, \
                 entity_type, event_type, status, next_attempt_at, created_at, updated_at) VALUES ",
            );
            for (i, (call_id, (webhook_id, body, content_type))) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.bind((*call_id).clone()).push(", ");
                sql.bind(site_id.to_owned()).push(", ");
                sql.bind(published.id.clone()).push(", ");
                sql.bind(webhook_id.clone()).push(", ");
                sql.bind(body.clone()).push(", ");
                sql.bind(content_type.clone()).push(", ");
                sql.bind(event.entity_type.clone()).push(", ");
                sql.bind(event.event_type.clone()).push(", 'pending', ");
                sql.bind(now).push(", ");
                sql.bind(now).push(", ");
                sql.bind(now).push(")");
            }
            sql.query().execute(&mut *tx).await?;
        }
        if !calls.is_empty() {
            self.announce_due_calls(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(PublishOutcome::Created(published))
    }

    async fn earlier_response(
        &self,
        site_id: &str,
        key: &IdempotencyKey<'_>,
        now: i64,
    ) -> Result<Option<Published>> {
        let row = sqlx::query(
            "SELECT request_hash, response FROM idempotency_keys \
             WHERE site_id = $1 AND key = $2 AND created_at > $3",
        )
        .bind(site_id.to_owned())
        .bind(key.key.to_owned())
        .bind(now - IDEMPOTENCY_WINDOW_MS)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let request_hash: String = row.try_get("request_hash")?;
        if request_hash != key.request_hash {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was already used with a different request body; use a new key".into(),
            ));
        }
        let response: String = row.try_get("response")?;
        Ok(Some(parse_json("idempotent response", &response)?))
    }

    /// Forgets idempotency keys past their window; returns how many were removed.
    pub async fn prune_idempotency_keys(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
            .bind(now - IDEMPOTENCY_WINDOW_MS)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
