use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Actor};
use super::{corrupt, Page, Result, Store, StoreError};
use crate::domain::ids;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};
use crate::domain::token::{self, Role};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
}

pub(super) fn from_row(row: &AnyRow) -> Result<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("token role", role))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores the hash of `secret` under a new token record; `actor` (who made it) is
    /// audited in the same transaction.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        secret: &str,
        actor: &Actor,
    ) -> Result<TokenRecord> {
        let mut tx = self.begin_write().await?;
        let record = TokenRecord {
            id: ids::new_id(ids::TOKEN),
            name: name.to_owned(),
            role,
            created_at: now_millis(),
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.id.clone())
        .bind(record.name.clone())
        .bind(role.as_str())
        .bind(token::hash(secret))
        .bind(record.created_at)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({"name": name, "role": role.as_str()});
        audit::record(
            &mut tx,
            None,
            actor,
            "token.created",
            ("api_token", &record.id),
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Makes sure a token with this secret exists; safe when several processes start at
    /// once with the same configured token.
    pub async fn ensure_token(&self, name: &str, role: Role, secret: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(ids::new_id(ids::TOKEN))
        .bind(name.to_owned())
        .bind(role.as_str())
        .bind(token::hash(secret))
        .bind(now_millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<TokenRecord>> {
        let hash = token::hash(secret);
        let load = async {
            let row = sqlx::query(
                "SELECT id, name, role, created_at FROM api_tokens WHERE token_hash = $1",
            )
            .bind(hash.clone())
            .fetch_optional(&self.read)
            .await?;
            row.as_ref().map(from_row).transpose()
        };
        self.token_cache.get_or_load(&hash, load).await
    }

    /// A page of tokens, oldest first.
    pub async fn list_tokens(&self, cursor: Option<&str>, limit: u32) -> Result<Page<TokenRecord>> {
        let select = "SELECT id, name, role, created_at FROM api_tokens WHERE 1 = 1";
        self.page_by_id(select, None, cursor, limit, from_row, |t| t.id.clone())
            .await
    }

    pub async fn count_tokens(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(&self.read)
            .await?
            .try_get("n")?)
    }

    /// Revokes a token (its dashboard sessions go with it); audited with `actor`.
    pub async fn delete_token(&self, id: &str, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query("DELETE FROM api_tokens WHERE id = $1 RETURNING name, role")
            .bind(id.to_owned())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let name: String = gone.try_get("name")?;
        let role: String = gone.try_get("role")?;
        let details = serde_json::json!({"name": name, "role": role});
        audit::record(
            &mut tx,
            None,
            actor,
            "token.revoked",
            ("api_token", id),
            details,
        )
        .await?;
        tx.commit().await?;
        // Keyed by hash, not id: forget them all (revocations are rare).
        self.token_cache.forget_all();
        Ok(())
    }
}
