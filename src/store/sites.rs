use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Actor};
use super::{corrupt, json_text, parse_json, Page, Result, Store, StoreError};
use crate::domain::ids;
use crate::domain::job::JobKind;
use crate::domain::site::SiteSettings;
use crate::domain::site_hooks::{SiteHookRule, SiteHooks};
use crate::domain::time::{now_millis, rfc3339, UnixMillis};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteRecord {
    pub id: String,
    #[serde(flatten)]
    pub settings: SiteSettings,
    /// While locked, triggers queue (coalesced) but no job starts.
    pub locked: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub updated_at: UnixMillis,
}

const COLUMNS: &str = "id, name, build_command, preview_command, sync_command, working_dir, \
     cache_dir, job_timeout_s, job_env, site_hooks, site_hooks_kind, locked, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<SiteRecord> {
    let env: String = row.try_get("job_env")?;
    let rule: String = row.try_get("site_hooks")?;
    let kind: String = row.try_get("site_hooks_kind")?;
    Ok(SiteRecord {
        id: row.try_get("id")?,
        settings: SiteSettings {
            name: row.try_get("name")?,
            build_command: row.try_get("build_command")?,
            preview_command: row.try_get("preview_command")?,
            sync_command: row.try_get("sync_command")?,
            working_dir: row.try_get("working_dir")?,
            cache_dir: row.try_get("cache_dir")?,
            job_timeout_s: row.try_get::<i64, _>("job_timeout_s")?.max(1) as u64,
            env: parse_json("site job env", &env)?,
            site_hooks: SiteHooks {
                rule: SiteHookRule::parse(&rule)
                    .ok_or_else(|| corrupt("site_hooks", rule.clone()))?,
                kind: JobKind::parse(&kind)
                    .ok_or_else(|| corrupt("site_hooks_kind", kind.clone()))?,
            },
        },
        locked: row.try_get::<i64, _>("locked")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_site(&self, name: &str) -> Result<SiteRecord> {
        let now = now_millis();
        let id = ids::new_id(ids::SITE);
        sqlx::query("INSERT INTO sites (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(id.clone())
            .bind(name.to_owned())
            .bind(now)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(SiteRecord {
            id,
            settings: SiteSettings::named(name),
            locked: false,
            created_at: now,
            updated_at: now,
        })
    }

    /// A page of sites, oldest first.
    pub async fn list_sites(&self, cursor: Option<&str>, limit: u32) -> Result<Page<SiteRecord>> {
        let select = format!("SELECT {COLUMNS} FROM sites WHERE 1 = 1");
        self.page_by_id(&select, None, cursor, limit, from_row, |s| s.id.clone())
            .await
    }

    pub async fn site(&self, id: &str) -> Result<SiteRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sites WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Saves new settings; what changed is audited in the same transaction.
    pub async fn update_site(
        &self,
        id: &str,
        s: &SiteSettings,
        previous: &SiteSettings,
        actor: &Actor,
    ) -> Result<SiteRecord> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sites SET name = $1, build_command = $2, preview_command = $3, sync_command = $4, \
               working_dir = $5, cache_dir = $6, job_timeout_s = $7, job_env = $8, updated_at = $9, \
               site_hooks = $10, site_hooks_kind = $11 \
             WHERE id = $12 RETURNING {COLUMNS}"
        )))
        .bind(s.name.clone())
        .bind(s.build_command.clone())
        .bind(s.preview_command.clone())
        .bind(s.sync_command.clone())
        .bind(s.working_dir.clone())
        .bind(s.cache_dir.clone())
        .bind(s.job_timeout_s as i64)
        .bind(json_text(&s.env))
        .bind(now_millis())
        .bind(s.site_hooks.rule.as_str())
        .bind(s.site_hooks.kind.as_str())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let changed = s.changes_from(previous);
        if !changed.is_empty() {
            let details = serde_json::Value::Object(changed);
            audit::record(
                &mut tx,
                Some(id),
                actor,
                "site.updated",
                ("site", id),
                details,
            )
            .await?;
        }
        tx.commit().await?;
        from_row(&row)
    }

    /// Locks or unlocks the site; returns whether that changed anything.
    /// A change is audited in the same transaction.
    pub async fn set_site_lock(&self, id: &str, locked: bool, actor: &Actor) -> Result<bool> {
        self.site(id).await?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE sites SET locked = $1, updated_at = $2 WHERE id = $3 AND locked <> $1",
        )
        .bind(i64::from(locked))
        .bind(now_millis())
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        let changed = done.rows_affected() > 0;
        if changed {
            let action = if locked {
                "site.locked"
            } else {
                "site.unlocked"
            };
            audit::record(
                &mut tx,
                Some(id),
                actor,
                action,
                ("site", id),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Deletes the site and, by cascade, everything that belongs to it.
    pub async fn delete_site(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook_cache.forget(id);
        Ok(())
    }
}
