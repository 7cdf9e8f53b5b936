use sqlx::Row;

use super::{corrupt, Result, Store};
use crate::domain::activity::{tally, CountRow, SiteActivity};
use crate::domain::call::CallStatus;
use crate::domain::ids;
use crate::domain::time::UnixMillis;

impl Store {
    /// The site's calls created in the `buckets × bucket_ms` before `now`, counted by
    /// bucket, status and webhook. Reads a range of the `(site_id, id)` index: ids begin
    /// with their creation time.
    pub async fn site_activity(
        &self,
        site_id: &str,
        now: UnixMillis,
        bucket_ms: i64,
        buckets: usize,
    ) -> Result<SiteActivity> {
        self.site(site_id).await?;
        // Whole buckets, the last one holding `now`.
        let end = (now / bucket_ms + 1) * bucket_ms;
        let since = end - bucket_ms * buckets as i64;
        let rows = sqlx::query(
            "SELECT webhook_id, status, (created_at - $1) / $2 AS bucket, COUNT(*) AS n \
             FROM webhook_calls WHERE site_id = $3 AND id >= $4 AND created_at >= $1 \
             GROUP BY webhook_id, status, bucket",
        )
        .bind(since)
        .bind(bucket_ms)
        .bind(site_id.to_owned())
        .bind(ids::floor_at(ids::CALL, since))
        .fetch_all(&self.read)
        .await?;
        let counted = rows
            .iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let bucket: i64 = row.try_get("bucket")?;
                Ok(CountRow {
                    webhook_id: row.try_get("webhook_id")?,
                    status: CallStatus::parse(&status)
                        .ok_or_else(|| corrupt("call status", status))?,
                    created_at: since + bucket * bucket_ms,
                    count: row.try_get("n")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(tally(counted, since, bucket_ms, buckets))
    }
}
