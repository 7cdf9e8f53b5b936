use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::sql::Sql;
use super::{json_text, parse_json, Page, Result, Store, StoreError};
use crate::domain::time::{rfc3339, UnixMillis};

pub const SUBMISSION_PREFIX: &str = "sub";

/// One form submission, as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: String,
    pub site_id: String,
    pub form_name: String,
    /// The fields as sent (honeypot and redirect fields left out).
    pub data: Value,
    /// The `submission_created` event that announced it.
    pub event_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
}

const COLUMNS: &str = "id, site_id, form_name, data, event_id, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Submission> {
    let data: String = row.try_get("data")?;
    Ok(Submission {
        id: row.try_get("id")?,
        site_id: row.try_get("site_id")?,
        form_name: row.try_get("form_name")?,
        data: parse_json("submission data", &data)?,
        event_id: row.try_get("event_id")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_submission(&self, s: &Submission) -> Result<()> {
        let data = json_text(&s.data);
        sqlx::query(
            "INSERT INTO form_submissions (id, site_id, form_name, data, event_id, created_at, bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id.clone())
        .bind(s.site_id.clone())
        .bind(s.form_name.clone())
        .bind(data.clone())
        .bind(s.event_id.clone())
        .bind(s.created_at)
        .bind(data.len() as i64)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// What a site's stored submissions take: how many, and their bytes.
    pub async fn form_usage(&self, site_id: &str) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes FROM form_submissions \
             WHERE site_id = $1",
        )
        .bind(site_id.to_owned())
        .fetch_one(&self.read)
        .await?;
        let count: i64 = row.try_get("n")?;
        let bytes: i64 = row.try_get("bytes")?;
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    }

    pub async fn set_submission_event(&self, id: &str, event_id: &str) -> Result<()> {
        sqlx::query("UPDATE form_submissions SET event_id = $1 WHERE id = $2")
            .bind(event_id.to_owned())
            .bind(id.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Newest first, optionally of one form.
    pub async fn list_submissions(
        &self,
        site_id: &str,
        form_name: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Submission>> {
        self.site(site_id).await?;
        let mut sql = Sql::new(
            self.dialect,
            &format!("SELECT {COLUMNS} FROM form_submissions WHERE site_id = "),
        );
        sql.bind(site_id.to_owned());
        if let Some(form) = form_name {
            sql.push(" AND form_name = ").bind(form.to_owned());
        }
        if let Some(cursor) = cursor {
            sql.push(" AND id < ").bind(cursor.to_owned());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(limit) + 1);
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut data = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, limit, |s| s.id.clone()))
    }

    pub async fn delete_submission(&self, site_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM form_submissions WHERE site_id = $1 AND id = $2")
            .bind(site_id.to_owned())
            .bind(id.to_owned())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
