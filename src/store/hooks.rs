use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Actor};
use super::sql::Sql;
use super::{corrupt, json_text, parse_json, Page, Result, Store, StoreError, MAX_HOOKS_PER_SITE};
use crate::domain::hook::HookVerify;
use crate::domain::ids;
use crate::domain::job::JobKind;
use crate::domain::sealed::Sealer;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};

#[derive(Debug, Clone)]
pub struct HookRecord {
    /// A name for the hook in the API, the logs and jobs; no secret.
    pub id: String,
    /// The secret part of the hook's URL (`/hooks/{url_token}`): the credential.
    pub url_token: String,
    pub site_id: String,
    pub title: String,
    pub kind: JobKind,
    pub verify: Option<HookVerify>,
    pub created_at: UnixMillis,
}

/// One request a hook received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HookRequest {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub received_at: UnixMillis,
    pub accepted: bool,
    /// Why it was refused.
    pub reason: Option<String>,
    pub job_id: Option<String>,
}

const COLUMNS: &str = "id, url_token, site_id, title, kind, verify, created_at";
const HOOK_PREFIX: &str = "hook";
pub(super) const HOOK_REQUEST_PREFIX: &str = "hreq";

fn from_row(row: &AnyRow, sealer: &Sealer) -> Result<HookRecord> {
    let kind: String = row.try_get("kind")?;
    let verify = row
        .try_get::<Option<String>, _>("verify")?
        .map(|stored| sealer.open(&stored).map_err(|e| corrupt("hook verify", e)))
        .transpose()?;
    Ok(HookRecord {
        id: row.try_get("id")?,
        url_token: row.try_get("url_token")?,
        site_id: row.try_get("site_id")?,
        title: row.try_get("title")?,
        kind: JobKind::parse(&kind).ok_or_else(|| corrupt("hook kind", kind))?,
        verify: verify
            .as_deref()
            .map(|v| parse_json("hook verify", v))
            .transpose()?,
        created_at: row.try_get("created_at")?,
    })
}

/// URL tokens carry 160 random bits: the URL is the credential.
fn new_url_token() -> String {
    format!("bh_{}", ids::random_urlsafe(20))
}

/// Migration 7: hooks made before it had their URL's secret as their id, so everyone
/// who could read a hook's id (viewers, job and audit logs) could trigger it. Each such
/// hook keeps its URL (the old id becomes its token) and gets a new id, everywhere.
pub(super) async fn separate_ids_from_url_tokens(conn: &mut sqlx::AnyConnection) -> Result<()> {
    let old_ids: Vec<String> = sqlx::query("SELECT id FROM build_hooks WHERE url_token IS NULL")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
    for old in old_ids {
        let new = ids::new_id(HOOK_PREFIX);
        for sql in [
            "UPDATE build_hooks SET url_token = id, id = $1 WHERE id = $2",
            "UPDATE jobs SET hook_id = $1 WHERE hook_id = $2",
            "UPDATE hook_requests SET hook_id = $1 WHERE hook_id = $2",
            "UPDATE audit_log SET target_id = $1 WHERE target_type = 'build_hook' AND target_id = $2",
        ] {
            sqlx::query(sql)
                .bind(new.clone())
                .bind(old.clone())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

impl Store {
    pub async fn create_hook(
        &self,
        site_id: &str,
        title: &str,
        kind: JobKind,
        verify: Option<&HookVerify>,
        actor: &Actor,
    ) -> Result<HookRecord> {
        self.site(site_id).await?;
        let hook = HookRecord {
            id: ids::new_id(HOOK_PREFIX),
            url_token: new_url_token(),
            site_id: site_id.to_owned(),
            title: title.to_owned(),
            kind,
            verify: verify.cloned(),
            created_at: now_millis(),
        };
        let mut tx = self.begin_write().await?;
        Self::within_site_limit(
            &mut tx,
            "build_hooks",
            site_id,
            MAX_HOOKS_PER_SITE,
            "build hooks",
        )
        .await?;
        sqlx::query("INSERT INTO build_hooks (id, url_token, site_id, title, kind, verify, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(hook.id.clone())
            .bind(hook.url_token.clone())
            .bind(site_id.to_owned())
            .bind(hook.title.clone())
            .bind(kind.as_str())
            .bind(verify.map(|v| self.sealer.seal(&json_text(v))))
            .bind(hook.created_at)
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({"title": title, "kind": kind.as_str()});
        audit::record(
            &mut tx,
            Some(site_id),
            actor,
            "build_hook.created",
            ("build_hook", &hook.id),
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// A page of the site's hooks, oldest first.
    pub async fn list_hooks(
        &self,
        site_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HookRecord>> {
        self.site(site_id).await?;
        let select = format!("SELECT {COLUMNS} FROM build_hooks WHERE site_id = ");
        let read = |row: &AnyRow| from_row(row, &self.sealer);
        self.page_by_id(&select, Some(site_id), cursor, limit, read, |h| {
            h.id.clone()
        })
        .await
    }

    pub async fn hook(&self, site_id: &str, id: &str) -> Result<HookRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM build_hooks WHERE site_id = $1 AND id = $2"
        )))
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row, &self.sealer)
    }

    /// For the public endpoint, where the URL's token alone identifies the hook.
    pub async fn hook_by_url_token(&self, token: &str) -> Result<Option<HookRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM build_hooks WHERE url_token = $1"
        )))
        .bind(token.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref()
            .map(|row| from_row(row, &self.sealer))
            .transpose()
    }

    pub async fn count_hooks(&self, site_id: &str) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM build_hooks WHERE site_id = $1")
                .bind(site_id.to_owned())
                .fetch_one(&self.read)
                .await?
                .try_get("n")?,
        )
    }

    pub async fn delete_hook(&self, site_id: &str, id: &str, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM build_hooks WHERE site_id = $1 AND id = $2 RETURNING title, kind",
        )
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let title: String = row.try_get("title")?;
        let kind: String = row.try_get("kind")?;
        let details = serde_json::json!({"title": title, "kind": kind});
        audit::record(
            &mut tx,
            Some(site_id),
            actor,
            "build_hook.deleted",
            ("build_hook", id),
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn record_hook_request(
        &self,
        site_id: &str,
        hook_id: Option<&str>,
        outcome: Result<&str, &str>,
    ) -> Result<()> {
        let (accepted, reason, job_id) = match outcome {
            Ok(job_id) => (1i64, None, Some(job_id.to_owned())),
            Err(reason) => (0, Some(reason.to_owned()), None),
        };
        sqlx::query(
            "INSERT INTO hook_requests (id, site_id, hook_id, received_at, accepted, reason, job_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ids::new_id(HOOK_REQUEST_PREFIX))
        .bind(site_id.to_owned())
        .bind(hook_id.map(str::to_owned))
        .bind(now_millis())
        .bind(accepted)
        .bind(reason)
        .bind(job_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn list_hook_requests(
        &self,
        site_id: &str,
        hook_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HookRequest>> {
        self.hook(site_id, hook_id).await?;
        let mut sql = Sql::new(
            self.dialect,
            "SELECT id, received_at, accepted, reason, job_id FROM hook_requests WHERE hook_id = ",
        );
        sql.bind(hook_id.to_owned());
        if let Some(cursor) = cursor {
            sql.push(" AND id < ").bind(cursor.to_owned());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(limit) + 1);
        let mut data = sql
            .query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| {
                Ok(HookRequest {
                    id: row.try_get("id")?,
                    received_at: row.try_get("received_at")?,
                    accepted: row.try_get::<i64, _>("accepted")? != 0,
                    reason: row.try_get("reason")?,
                    job_id: row.try_get("job_id")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, limit, |r| r.id.clone()))
    }
}
