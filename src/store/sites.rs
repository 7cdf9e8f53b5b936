use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::domain::ids;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};

#[derive(Debug, Clone, Serialize)]
pub struct SiteRecord {
    pub id: String,
    pub name: String,
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
    #[serde(with = "rfc3339")]
    pub updated_at: UnixMillis,
}

fn from_row(row: &AnyRow) -> Result<SiteRecord> {
    Ok(SiteRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_site(&self, name: &str) -> Result<SiteRecord> {
        let now = now_millis();
        let site = SiteRecord {
            id: ids::new_id(ids::SITE),
            name: name.to_owned(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query("INSERT INTO sites (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(site.id.clone())
            .bind(site.name.clone())
            .bind(now)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(site)
    }

    pub async fn list_sites(&self) -> Result<Vec<SiteRecord>> {
        let rows = sqlx::query("SELECT id, name, created_at, updated_at FROM sites ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn site(&self, id: &str) -> Result<SiteRecord> {
        let row = sqlx::query("SELECT id, name, created_at, updated_at FROM sites WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    pub async fn rename_site(&self, id: &str, name: &str) -> Result<SiteRecord> {
        let row = sqlx::query(
            "UPDATE sites SET name = $1, updated_at = $2 WHERE id = $3 \
             RETURNING id, name, created_at, updated_at",
        )
        .bind(name.to_owned())
        .bind(now_millis())
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Deletes the site and, by cascade, its webhooks, events, calls and attempts.
    pub async fn delete_site(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
