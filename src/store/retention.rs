//! Retention: bodies and attempts older than the retention period are pruned in small
//! batches, each its own short transaction, so the hot path never waits long behind
//! them. A call's summary row stays (status, times, attempt count) and says it was
//! pruned. Ids begin with their creation time, so "older than" is a primary-key range.

use super::{Result, Store};
use crate::domain::ids;
use crate::domain::time::{now_millis, UnixMillis};

/// Rows per statement: small enough that a batch holds SQLite's write lock for a few
/// milliseconds.
const PRUNE_BATCH: i64 = 500;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub attempts: u64,
    pub calls: u64,
    pub events: u64,
    /// Lines of the build hooks' request logs.
    pub hook_requests: u64,
}

impl Store {
    /// Prunes what was created before `cutoff`: attempts are deleted; the bodies of
    /// finished calls, and of events none of whose calls is pending, are emptied.
    pub async fn prune_before(&self, cutoff: UnixMillis) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        // Each statement takes the id floor and the batch size; `stamps` also the time.
        let statements = [
            (
                "DELETE FROM webhook_attempts WHERE id IN \
                 (SELECT id FROM webhook_attempts WHERE id < $1 LIMIT $2)",
                ids::floor_at(ids::ATTEMPT, cutoff),
                false,
            ),
            (
                "UPDATE webhook_calls SET body = NULL, pruned_at = $3 WHERE id IN \
                 (SELECT id FROM webhook_calls WHERE id < $1 AND status <> 'pending' \
                  AND pruned_at IS NULL LIMIT $2)",
                ids::floor_at(ids::CALL, cutoff),
                true,
            ),
            (
                "UPDATE events SET body = '{}', pruned_at = $3 WHERE id IN \
                 (SELECT e.id FROM events e WHERE e.id < $1 AND e.pruned_at IS NULL \
                  AND NOT EXISTS (SELECT 1 FROM webhook_calls c \
                                  WHERE c.event_id = e.id AND c.status = 'pending') LIMIT $2)",
                ids::floor_at(ids::EVENT, cutoff),
                true,
            ),
            (
                "DELETE FROM hook_requests WHERE id IN \
                 (SELECT id FROM hook_requests WHERE id < $1 LIMIT $2)",
                ids::floor_at(super::hooks::HOOK_REQUEST_PREFIX, cutoff),
                false,
            ),
        ];
        for (i, (sql, floor, stamps)) in statements.into_iter().enumerate() {
            loop {
                let mut query = sqlx::query(sql).bind(floor.clone()).bind(PRUNE_BATCH);
                if stamps {
                    query = query.bind(now_millis());
                }
                let done = query.execute(&self.write).await?.rows_affected();
                match i {
                    0 => pruned.attempts += done,
                    1 => pruned.calls += done,
                    2 => pruned.events += done,
                    _ => pruned.hook_requests += done,
                }
                if done < PRUNE_BATCH as u64 {
                    break;
                }
                // Let the hot path's writes in between batches.
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }
}
