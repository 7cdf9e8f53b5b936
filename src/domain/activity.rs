//! A site's recent activity: its calls counted by time bucket and status, and by webhook,
//! for the dashboard's overview (and the API's `activity` endpoint).

use serde::Serialize;

use super::call::CallStatus;
use super::time::{rfc3339, UnixMillis};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub success: i64,
    pub failed: i64,
    pub pending: i64,
    /// Never sent, and final: superseded by a newer call of their ordering key, or
    /// skipped (their target had nothing to do for the event).
    pub not_sent: i64,
}

impl Tally {
    fn add(&mut self, status: CallStatus, n: i64) {
        match status {
            CallStatus::Success => self.success += n,
            CallStatus::Failed => self.failed += n,
            CallStatus::Pending => self.pending += n,
            CallStatus::Superseded | CallStatus::Skipped => self.not_sent += n,
        }
    }

    pub fn total(&self) -> i64 {
        self.success + self.failed + self.pending + self.not_sent
    }

    /// Share of finished calls that succeeded, in percent; `None` when none finished.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.success + self.failed;
        (finished > 0).then(|| 100.0 * self.success as f64 / finished as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub start: UnixMillis,
    #[serde(flatten)]
    pub calls: Tally,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookTally {
    pub webhook_id: String,
    #[serde(flatten)]
    pub calls: Tally,
    pub success_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SiteActivity {
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub since: UnixMillis,
    pub bucket_ms: i64,
    pub buckets: Vec<Bucket>,
    /// Failing webhooks first: most failed calls, then lowest success rate.
    pub webhooks: Vec<WebhookTally>,
}

/// One counted group of calls, as the store reads it.
pub struct CountRow {
    pub webhook_id: String,
    pub status: CallStatus,
    pub created_at: UnixMillis,
    pub count: i64,
}

/// Folds counted rows into `buckets` buckets of `bucket_ms` from `since`. Rows outside
/// the window are ignored.
pub fn tally(
    rows: impl IntoIterator<Item = CountRow>,
    since: UnixMillis,
    bucket_ms: i64,
    buckets: usize,
) -> SiteActivity {
    let mut series: Vec<Bucket> = (0..buckets)
        .map(|i| Bucket {
            start: since + i as i64 * bucket_ms,
            calls: Tally::default(),
        })
        .collect();
    let mut by_webhook: Vec<WebhookTally> = Vec::new();
    for row in rows {
        let offset = row.created_at - since;
        if offset < 0 || offset / bucket_ms >= buckets as i64 {
            continue;
        }
        series[(offset / bucket_ms) as usize]
            .calls
            .add(row.status, row.count);
        let index = match by_webhook
            .iter()
            .position(|w| w.webhook_id == row.webhook_id)
        {
            Some(index) => index,
            None => {
                by_webhook.push(WebhookTally {
                    webhook_id: row.webhook_id,
                    calls: Tally::default(),
                    success_rate: None,
                });
                by_webhook.len() - 1
            }
        };
        by_webhook[index].calls.add(row.status, row.count);
    }
    for w in &mut by_webhook {
        w.success_rate = w.calls.success_rate();
    }
    by_webhook.sort_by(|a, b| {
        b.calls.failed.cmp(&a.calls.failed).then(
            a.success_rate
                .unwrap_or(100.0)
                .total_cmp(&b.success_rate.unwrap_or(100.0)),
        )
    });
    SiteActivity {
        since,
        bucket_ms,
        buckets: series,
        webhooks: by_webhook,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(webhook: &str, status: CallStatus, at: i64, count: i64) -> CountRow {
        CountRow {
            webhook_id: webhook.into(),
            status,
            created_at: at,
            count,
        }
    }

    #[test]
    fn counts_land_in_their_bucket_and_outsiders_are_ignored() {
        let a = tally(
            [
                row("wh_a", CallStatus::Success, 1000, 3),
                row("wh_a", CallStatus::Failed, 1999, 1),
                row("wh_a", CallStatus::Pending, 2500, 2),
                row("wh_a", CallStatus::Success, 999, 50),
                row("wh_a", CallStatus::Success, 4000, 50),
            ],
            1000,
            1000,
            3,
        );
        assert_eq!(a.buckets.len(), 3);
        assert_eq!(a.buckets[0].start, 1000);
        assert_eq!(
            a.buckets[0].calls,
            Tally {
                success: 3,
                failed: 1,
                pending: 0,
                not_sent: 0,
            }
        );
        assert_eq!(a.buckets[1].calls.pending, 2);
        assert_eq!(a.buckets[2].calls.total(), 0);
        assert_eq!(a.webhooks[0].calls.total(), 6);
        assert_eq!(a.webhooks[0].success_rate, Some(75.0));
    }

    #[test]
    fn failing_webhooks_come_first() {
        let a = tally(
            [
                row("wh_ok", CallStatus::Success, 0, 10),
                row("wh_bad", CallStatus::Failed, 0, 4),
                row("wh_bad", CallStatus::Success, 0, 1),
                row("wh_worse", CallStatus::Failed, 0, 9),
                row("wh_quiet", CallStatus::Pending, 0, 1),
            ],
            0,
            10,
            1,
        );
        let order: Vec<_> = a.webhooks.iter().map(|w| w.webhook_id.as_str()).collect();
        assert_eq!(order, ["wh_worse", "wh_bad", "wh_ok", "wh_quiet"]);
        assert_eq!(a.webhooks[3].success_rate, None);
    }
}
