use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::sql::Sql;
use super::{json_text, parse_json, Page, Result, Store};
use crate::domain::ids;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};

/// Who did something: the API token's name (and id), for the audit log and "Triggered by".
#[derive(Debug, Clone)]
pub struct Actor {
    pub token_id: Option<String>,
    pub name: String,
}

impl Actor {
    /// hookrelay itself (the owner token made at the first start).
    pub fn system() -> Actor {
        Actor {
            token_id: None,
            name: "hookrelay".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// `None` for server-wide entries (API tokens).
    pub site_id: Option<String>,
    pub actor: String,
    pub token_id: Option<String>,
    /// e.g. `webhook.created`, `build_hook.deleted`, `site.locked`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: Value,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
}

pub(super) const AUDIT_PREFIX: &str = "aud";

/// Writes an entry inside the caller's transaction, so the change and its record commit
/// together.
pub(super) async fn record(
    conn: &mut sqlx::AnyConnection,
    site_id: Option<&str>,
    actor: &Actor,
    action: &str,
    target: (&str, &str),
    details: Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, site_id, actor, token_id, action, target_type, target_id, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ids::new_id(AUDIT_PREFIX))
    .bind(site_id.map(str::to_owned))
    .bind(actor.name.clone())
    .bind(actor.token_id.clone())
    .bind(action.to_owned())
    .bind(target.0.to_owned())
    .bind(target.1.to_owned())
    .bind(json_text(&details))
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// A site's entries (`Some`), or the server-wide ones (`None`: API tokens), newest first.
    pub async fn list_audit(
        &self,
        site_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEntry>> {
        let columns = "SELECT id, site_id, actor, token_id, action, target_type, target_id, \
             details, created_at FROM audit_log WHERE ";
        let mut sql = match site_id {
            Some(site_id) => {
                self.site(site_id).await?;
                let mut sql = Sql::new(self.dialect, &format!("{columns}site_id = "));
                sql.bind(site_id.to_owned());
                sql
            }
            None => Sql::new(self.dialect, &format!("{columns}site_id IS NULL")),
        };
        if let Some(cursor) = cursor {
            sql.push(" AND id < ").bind(cursor.to_owned());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(limit) + 1);
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut data = rows
            .iter()
            .map(|row| {
                let details: String = row.try_get("details")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    site_id: row.try_get("site_id")?,
                    actor: row.try_get("actor")?,
                    token_id: row.try_get("token_id")?,
                    action: row.try_get("action")?,
                    target_type: row.try_get("target_type")?,
                    target_id: row.try_get("target_id")?,
                    details: parse_json("audit details", &details)?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, limit, |e| e.id.clone()))
    }
}
