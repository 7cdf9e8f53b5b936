//! Dashboard sessions: a random cookie secret stands for an API token for a while. Only the
//! secret's hash is stored, and a session lives no longer than its token (the row is
//! deleted with it, and every lookup joins the token).

use sqlx::Row;

use super::tokens::{self, TokenRecord};
use super::{Result, Store};
use crate::domain::time::UnixMillis;
use crate::domain::token;

#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The API token the session acts as: its name and role decide what the pages offer.
    pub token: TokenRecord,
    /// Every form of this session carries it; a POST without it is refused.
    pub csrf_token: String,
    pub expires_at: UnixMillis,
}

impl Store {
    pub async fn create_session(
        &self,
        token_id: &str,
        secret: &str,
        csrf_token: &str,
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, token_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token::hash(secret))
        .bind(token_id.to_owned())
        .bind(csrf_token.to_owned())
        .bind(now)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The live session behind a cookie secret, if any.
    pub async fn session(&self, secret: &str, now: UnixMillis) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.role, t.created_at, s.csrf_token, s.expires_at \
             FROM web_sessions s JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(token::hash(secret))
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                token: tokens::from_row(&row)?,
                csrf_token: row.try_get("csrf_token")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, secret: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(token::hash(secret))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Removes expired sessions; run by the janitor.
    pub async fn prune_sessions(&self, now: UnixMillis) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&self.write)
                .await?
                .rows_affected(),
        )
    }
}
