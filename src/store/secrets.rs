//! Which key seals this database's secrets. A check value sealed with the key is kept in
//! `server_settings`: a process started with another key (a second node given a fresh key
//! file, say) refuses to start instead of failing on every secret it reads. Secrets
//! stored in plain text before sealing existed are sealed at the first start with a key.

use std::sync::Arc;

use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::domain::sealed::Sealer;

const KEY_CHECK: &str = "secret_key_check";
const KEY_CHECK_TEXT: &str = "hookrelay secret key check";

/// The webhook columns that hold secrets, all text.
const WEBHOOK_SECRETS: [&str; 6] = [
    "headers",
    "basic_auth_password",
    "jws_secret",
    "target_config",
    "secret",
    "previous_secret",
];

impl Store {
    /// Seals every secret written from now on with `sealer`'s key, after checking it is
    /// the key this database's secrets were sealed with; then seals those stored before.
    pub async fn use_secret_key(&mut self, sealer: Sealer) -> Result<()> {
        let stored: Option<String> =
            sqlx::query("SELECT value FROM server_settings WHERE name = $1")
                .bind(KEY_CHECK)
                .fetch_optional(&self.read)
                .await?
                .map(|row| row.try_get("value"))
                .transpose()?;
        match stored {
            Some(check) => {
                if sealer.open(&check).ok().as_deref() != Some(KEY_CHECK_TEXT) {
                    return Err(StoreError::Conflict(
                        "the secret key is not the one this database's secrets were sealed \
                         with: give every process the same key (--secret-key-file or \
                         HOOKRELAY_SECRET_KEY; the first start wrote it to \
                         <data dir>/secret.key)"
                            .into(),
                    ));
                }
            }
            None => {
                // Several processes may start together: the first one's check stays.
                sqlx::query(
                    "INSERT INTO server_settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(KEY_CHECK)
                .bind(sealer.seal(KEY_CHECK_TEXT))
                .execute(&self.write)
                .await?;
                return Box::pin(self.use_secret_key(sealer)).await;
            }
        }
        self.sealer = Arc::new(sealer);
        self.seal_plaintext_secrets().await
    }

    /// Seals secrets stored in plain text (by a version before sealing, or a store opened
    /// without a key). Each row is its own small write; rows sealed already are skipped.
    async fn seal_plaintext_secrets(&self) -> Result<()> {
        let columns = WEBHOOK_SECRETS.join(", ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, {columns} FROM webhooks"
        )))
        .fetch_all(&self.read)
        .await?;
        let mut sealed = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            for column in WEBHOOK_SECRETS {
                let value: Option<String> = row.try_get(column)?;
                let Some(plain) = value.filter(|v| !Sealer::is_sealed(v)) else {
                    continue;
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE webhooks SET {column} = $1 WHERE id = $2 AND {column} = $3"
                )))
                .bind(self.sealer.seal(&plain))
                .bind(id.clone())
                .bind(plain)
                .execute(&self.write)
                .await?;
                sealed += 1;
            }
        }
        let hooks = sqlx::query("SELECT id, verify FROM build_hooks WHERE verify IS NOT NULL")
            .fetch_all(&self.read)
            .await?;
        for row in hooks {
            let plain: String = row.try_get("verify")?;
            if Sealer::is_sealed(&plain) {
                continue;
            }
            let id: String = row.try_get("id")?;
            sqlx::query("UPDATE build_hooks SET verify = $1 WHERE id = $2 AND verify = $3")
                .bind(self.sealer.seal(&plain))
                .bind(id)
                .bind(plain)
                .execute(&self.write)
                .await?;
            sealed += 1;
        }
        if sealed > 0 {
            tracing::info!(sealed, "sealed secrets that were stored in plain text");
            self.webhook_cache.forget_all();
        }
        Ok(())
    }
}
