use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Actor};
use super::ordering::IS_HEAD;
use super::sql::Sql;
use super::{
    corrupt, json_text, parse_json, Dialect, Page, Result, Store, StoreError, MAX_WEBHOOKS_PER_SITE,
};
use crate::domain::ids;
use crate::domain::ordering::{Ordering, OrderingMode};
use crate::domain::sealed::Sealer;
use crate::domain::targets::TargetConfig;
use crate::domain::time::{now_millis, UnixMillis};
use crate::domain::webhook::{BasicAuth, WebhookSettings};

#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: String,
    pub site_id: String,
    pub settings: WebhookSettings,
    pub secret: String,
    /// After a rotation, the old secret keeps signing until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<UnixMillis>,
    /// Why hookrelay disabled it (the receiver answered 410 Gone, or it failed for too
    /// long), and when.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<UnixMillis>,
    /// When its current failing streak began (see `store/health.rs`).
    pub failing_since: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

impl WebhookRecord {
    /// A webhook as it is when created: enabled by its settings, never rotated, disabled
    /// or failing.
    pub fn new(
        id: String,
        site_id: String,
        settings: WebhookSettings,
        secret: String,
        now: UnixMillis,
    ) -> Self {
        WebhookRecord {
            id,
            site_id,
            settings,
            secret,
            previous_secret: None,
            previous_secret_expires_at: None,
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        }
    }
}

pub(super) const COLUMNS: &str = "id, site_id, name, url, triggers, headers, basic_auth_username, \
     basic_auth_password, timeout_ms, enabled, payload_template, content_type, jws_secret, \
     jws_issuer, signature_header, target_type, target_config, secret, previous_secret, \
     previous_secret_expires_at, disabled_reason, disabled_at, rate_limit_per_s, disable_after_ms, \
     failing_since, public_headers, ordering, ordering_key, created_at, updated_at";

/// A site's webhooks as cached: shared, so a call or a match takes a pointer, not a copy.
pub(super) type SiteWebhooks = std::sync::Arc<[std::sync::Arc<WebhookRecord>]>;

pub(super) fn from_row(row: &AnyRow, sealer: &Sealer) -> Result<WebhookRecord> {
    let open = |column: &str| -> Result<Option<String>> {
        let stored: Option<String> = row.try_get(column)?;
        stored
            .map(|text| sealer.open(&text).map_err(|e| corrupt(column, e)))
            .transpose()
    };
    let username: Option<String> = row.try_get("basic_auth_username")?;
    let password = open("basic_auth_password")?;
    let triggers: String = row.try_get("triggers")?;
    let headers = open("headers")?.unwrap_or_default();
    let public_headers: String = row.try_get("public_headers")?;
    let timeout_ms: i64 = row.try_get("timeout_ms")?;
    let target_type: String = row.try_get("target_type")?;
    let target_config = open("target_config")?;
    let target_config: serde_json::Value = target_config
        .as_deref()
        .map(|text| parse_json("webhook target", text))
        .transpose()?
        .unwrap_or_default();
    let ordering: String = row.try_get("ordering")?;
    let target = TargetConfig::parse(&target_type, &target_config)
        .map_err(|v| corrupt("webhook target", format!("{v:?}")))?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        site_id: row.try_get("site_id")?,
        settings: WebhookSettings {
            name: row.try_get("name")?,
            url: row.try_get("url")?,
            triggers: parse_json("webhook triggers", &triggers)?,
            headers: parse_json::<BTreeMap<String, String>>("webhook headers", &headers)?,
            public_headers: parse_json("webhook public headers", &public_headers)?,
            basic_auth: username.map(|username| BasicAuth {
                username,
                password: password.unwrap_or_default(),
            }),
            timeout_ms: timeout_ms.max(0) as u64,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            payload_template: row.try_get("payload_template")?,
            content_type: row.try_get("content_type")?,
            jws_secret: open("jws_secret")?,
            jws_issuer: row.try_get("jws_issuer")?,
            signature_header: row.try_get("signature_header")?,
            target,
            rate_limit_per_s: row
                .try_get::<Option<i64>, _>("rate_limit_per_s")?
                .map(|n| n.clamp(1, i64::from(u32::MAX)) as u32),
            disable_after_ms: row
                .try_get::<Option<i64>, _>("disable_after_ms")?
                .map(|n| n.max(0) as u64),
            ordering: Ordering {
                mode: OrderingMode::parse(&ordering)
                    .ok_or_else(|| corrupt("webhook ordering", &ordering))?,
                key: row.try_get("ordering_key")?,
            },
        },
        secret: open("secret")?.unwrap_or_default(),
        previous_secret: open("previous_secret")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
        disabled_at: row.try_get("disabled_at")?,
        failing_since: row.try_get("failing_since")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The columns a person configures, in the order `bind_settings` binds them.
const SETTINGS_COLUMNS: [&str; 20] = [
    "name",
    "url",
    "triggers",
    "headers",
    "basic_auth_username",
    "basic_auth_password",
    "timeout_ms",
    "enabled",
    "payload_template",
    "content_type",
    "jws_secret",
    "jws_issuer",
    "signature_header",
    "target_type",
    "target_config",
    "rate_limit_per_s",
    "disable_after_ms",
    "public_headers",
    "ordering",
    "ordering_key",
];

/// `$from, $from+1, …` for `count` placeholders.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind_settings<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    s: &WebhookSettings,
    sealer: &Sealer,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(s.name.clone())
        .bind(s.url.clone())
        .bind(json_text(&s.triggers))
        .bind(sealer.seal(&json_text(&s.headers)))
        .bind(s.basic_auth.as_ref().map(|a| a.username.clone()))
        .bind(s.basic_auth.as_ref().map(|a| sealer.seal(&a.password)))
        .bind(s.timeout_ms as i64)
        .bind(i64::from(s.enabled))
        .bind(s.payload_template.clone())
        .bind(s.content_type.clone())
        .bind(s.jws_secret.as_deref().map(|secret| sealer.seal(secret)))
        .bind(s.jws_issuer.clone())
        .bind(s.signature_header.clone())
        .bind(s.target.as_ref().map_or("http", TargetConfig::kind))
        .bind(
            s.target
                .as_ref()
                .map(|t| sealer.seal(&json_text(&t.config()))),
        )
        .bind(s.rate_limit_per_s.map(i64::from))
        .bind(s.disable_after_ms.map(|ms| ms as i64))
        .bind(json_text(&s.public_headers))
        .bind(s.ordering.mode.as_str())
        .bind(s.ordering.key.clone())
}

/// Stops the webhook's pending calls that nobody holds (see `health.rs`).
pub(super) fn pause_calls(dialect: Dialect, webhook_id: &str, now: UnixMillis) -> Sql<'_> {
    let mut sql = Sql::new(
        dialect,
        "UPDATE webhook_calls SET next_attempt_at = NULL, rate_slot_at = NULL, updated_at = ",
    );
    sql.bind(now)
        .push(" WHERE webhook_id = ")
        .bind(webhook_id)
        .push(" AND status = 'pending' AND claim_token IS NULL");
    sql
}

/// Makes the webhook's paused calls due now; of an ordered key only its head (the rest
/// follow it one by one).
pub(super) fn resume_calls(dialect: Dialect, webhook_id: &str, now: UnixMillis) -> Sql<'_> {
    let mut sql = Sql::new(dialect, "UPDATE webhook_calls SET next_attempt_at = ");
    sql.bind(now)
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE webhook_id = ")
        .bind(webhook_id)
        .push(" AND status = 'pending' AND next_attempt_at IS NULL AND ")
        .push(IS_HEAD);
    sql
}

impl Store {
    /// Drops the site's cached webhooks (they changed behind the API's back: disabled).
    pub(super) fn forget_webhooks(&self, site_id: &str) {
        self.webhook_cache.forget(site_id);
    }

    pub async fn create_webhook(
        &self,
        site_id: &str,
        settings: &WebhookSettings,
        secret: &str,
        actor: &Actor,
    ) -> Result<WebhookRecord> {
        self.site(site_id).await?;
        let now = now_millis();
        let id = ids::new_id(ids::WEBHOOK);
        let sql = format!(
            "INSERT INTO webhooks ({}, id, site_id, secret, created_at, updated_at) VALUES ({})",
            SETTINGS_COLUMNS.join(", "),
            placeholders(1, SETTINGS_COLUMNS.len() + 5)
        );
        let mut tx = self.begin_write().await?;
        Self::within_site_limit(
            &mut tx,
            "webhooks",
            site_id,
            MAX_WEBHOOKS_PER_SITE,
            "webhooks",
        )
        .await?;
        bind_settings(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            settings,
            &self.sealer,
        )
        .bind(id.clone())
        .bind(site_id.to_owned())
        .bind(self.sealer.seal(secret))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({"name": settings.name, "url": settings.url});
        audit::record(
            &mut tx,
            Some(site_id),
            actor,
            "webhook.created",
            ("webhook", &id),
            details,
        )
        .await?;
        tx.commit().await?;
        self.webhook_cache.forget(site_id);
        Ok(WebhookRecord::new(
            id,
            site_id.to_owned(),
            settings.clone(),
            secret.to_owned(),
            now,
        ))
    }

    /// A page of the site's webhooks, oldest first.
    pub async fn list_webhooks(
        &self,
        site_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<WebhookRecord>> {
        self.site(site_id).await?;
        let select = format!("SELECT {COLUMNS} FROM webhooks WHERE site_id = ");
        let read = |row: &AnyRow| from_row(row, &self.sealer);
        self.page_by_id(&select, Some(site_id), cursor, limit, read, |w| {
            w.id.clone()
        })
        .await
    }

    pub async fn webhook(&self, site_id: &str, id: &str) -> Result<WebhookRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE site_id = $1 AND id = $2"
        )))
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row, &self.sealer)
    }

    /// Saves the settings. Disabling pauses the webhook's pending calls; enabling it again
    /// resumes them and starts its failing streak afresh.
    /// Saves new settings; `changes` (see `WebhookSettings::changes_to`) is audited in the
    /// same transaction.
    pub async fn update_webhook(
        &self,
        site_id: &str,
        id: &str,
        settings: &WebhookSettings,
        actor: &Actor,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<WebhookRecord> {
        let assignments: Vec<String> = SETTINGS_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 1))
            .collect();
        let n = SETTINGS_COLUMNS.len();
        // Enabled again by a person: why hookrelay had disabled it no longer holds.
        let cleared = if settings.enabled {
            ", disabled_reason = NULL, disabled_at = NULL, \
             failing_since = CASE WHEN enabled = 0 THEN NULL ELSE failing_since END"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE webhooks SET {}, updated_at = ${}{cleared} WHERE site_id = ${} AND id = ${} RETURNING {COLUMNS}",
            assignments.join(", "),
            n + 1,
            n + 2,
            n + 3
        );
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let was_enabled =
            sqlx::query("SELECT enabled FROM webhooks WHERE site_id = $1 AND id = $2")
                .bind(site_id.to_owned())
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?
                .try_get::<i64, _>("enabled")?
                != 0;
        let row = bind_settings(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            settings,
            &self.sealer,
        )
        .bind(now)
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        match (was_enabled, settings.enabled) {
            (true, false) => {
                pause_calls(self.dialect, id, now)
                    .query()
                    .execute(&mut *tx)
                    .await?;
            }
            (false, true) => {
                resume_calls(self.dialect, id, now)
                    .query()
                    .execute(&mut *tx)
                    .await?;
                super::announce_due_work(self.dialect, &mut tx).await?;
            }
            _ => {}
        }
        if !changes.is_empty() {
            let details = serde_json::json!({"name": settings.name, "changed": changes});
            audit::record(
                &mut tx,
                Some(site_id),
                actor,
                "webhook.updated",
                ("webhook", id),
                details,
            )
            .await?;
        }
        tx.commit().await?;
        self.webhook_cache.forget(site_id);
        from_row(&row, &self.sealer)
    }

    /// Deletes the webhook with its calls and their attempts.
    pub async fn delete_webhook(&self, site_id: &str, id: &str, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("DELETE FROM webhooks WHERE site_id = $1 AND id = $2 RETURNING name, url")
                .bind(site_id.to_owned())
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let details = serde_json::json!({"name": row.try_get::<String, _>("name")?, "url": row.try_get::<String, _>("url")?});
        audit::record(
            &mut tx,
            Some(site_id),
            actor,
            "webhook.deleted",
            ("webhook", id),
            details,
        )
        .await?;
        tx.commit().await?;
        self.webhook_cache.forget(site_id);
        Ok(())
    }

    /// Replaces the signing secret; the old one keeps signing until `overlap_until`.
    pub async fn rotate_secret(
        &self,
        site_id: &str,
        id: &str,
        new_secret: &str,
        overlap_until: UnixMillis,
    ) -> Result<WebhookRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $1, \
               secret = $2, updated_at = $3 \
             WHERE site_id = $4 AND id = $5 RETURNING {COLUMNS}"
        )))
        .bind(overlap_until)
        .bind(self.sealer.seal(new_secret))
        .bind(now_millis())
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.webhook_cache.forget(site_id);
        from_row(&row, &self.sealer)
    }

    /// All webhooks of a site (cached), for matching events and, on SQLite, for delivery.
    pub(super) async fn site_webhooks(&self, site_id: &str) -> Result<SiteWebhooks> {
        let load = async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM webhooks WHERE site_id = $1 ORDER BY id"
            )))
            .bind(site_id.to_owned())
            .fetch_all(&self.read)
            .await?;
            let hooks: SiteWebhooks = rows
                .iter()
                .map(|row| from_row(row, &self.sealer).map(std::sync::Arc::new))
                .collect::<Result<_>>()?;
            Ok::<_, StoreError>(Some(hooks))
        };
        // The load always finds a list (possibly empty), so the default never applies.
        Ok(self
            .webhook_cache
            .get_or_load(site_id, load)
            .await?
            .unwrap_or_default())
    }
}
