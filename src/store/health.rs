//! A webhook's health: its failing streak, disabling it (410 Gone, or failing for longer
//! than `disable_after`), and pausing and resuming the calls of a disabled webhook.
//!
//! A paused call is `pending` with no due time: the due index never offers it, and
//! enabling the webhook makes it due again. Calls claimed when the webhook is disabled
//! finish their attempt; the next claim finds the webhook disabled and pauses them.

use std::collections::HashMap;

use sqlx::Row;

use super::results::{AttemptResult, Watch};
use super::sql::{Sql, SqlRow};
use super::tx::Tx;
use super::webhooks::{pause_calls, WebhookRecord};
use super::{Dialect, Result, Store};
use crate::domain::call::Verdict;
use crate::domain::operator::{self, Notice, WebhookRef};
use crate::domain::time::{to_rfc3339, UnixMillis};

const GONE_REASON: &str = "the receiver answered 410 Gone: the endpoint is gone for good; \
     re-enable the webhook once it is back";

fn webhook_ref(webhook: &WebhookRecord) -> WebhookRef {
    WebhookRef {
        site_id: webhook.site_id.clone(),
        id: webhook.id.clone(),
        name: webhook.settings.name.clone(),
    }
}

/// What recording a batch of results changed beyond the calls.
#[derive(Debug, Default)]
pub struct HealthChanges {
    pub notices: Vec<Notice>,
    /// Sites whose cached webhooks are stale now.
    pub sites: Vec<String>,
}

fn disable_webhook<'a>(
    dialect: Dialect,
    webhook_id: &'a str,
    reason: &'a str,
    now: UnixMillis,
) -> Sql<'a> {
    let mut sql = Sql::new(
        dialect,
        "UPDATE webhooks SET enabled = 0, disabled_reason = ",
    );
    sql.bind(reason)
        .push(", disabled_at = ")
        .bind(now)
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(webhook_id)
        .push(" AND enabled = 1");
    sql
}

/// Within the transaction that records `results`: starts and ends failing streaks,
/// disables webhooks that answered 410, and says what operators should hear. Each change
/// is made only where the row still needs it, so in a cluster exactly one process reports
/// it. Only transitions touch the webhooks table: a healthy hot path writes nothing here.
pub(super) async fn record_health<T: Tx>(
    tx: &mut T,
    results: &[AttemptResult],
) -> Result<HealthChanges> {
    let mut changes = HealthChanges::default();
    // Calls to report on, as exhausted or as recovered (since when it was failing).
    let mut reports: Vec<(&AttemptResult, &Watch, Option<UnixMillis>)> = Vec::new();
    // The last telling result of each webhook in the batch decides its state.
    let mut last: HashMap<&str, (&AttemptResult, &Watch)> = HashMap::new();
    for r in results {
        let Some(watch) = &r.watch else { continue };
        if watch.verdict != Verdict::FailedOnce {
            last.insert(watch.webhook.id.as_str(), (r, watch));
        }
        if watch.verdict == Verdict::Exhausted {
            reports.push((r, watch, None));
        }
    }
    let dialect = tx.dialect();
    for (webhook_id, (r, watch)) in last {
        match (watch.verdict.is_failing(), watch.webhook.failing_since) {
            (true, None) => {
                let mut start = Sql::new(dialect, "UPDATE webhooks SET failing_since = ");
                start
                    .bind(r.finished_at)
                    .push(" WHERE id = ")
                    .bind(webhook_id)
                    .push(" AND failing_since IS NULL");
                tx.execute(start).await?;
            }
            (false, Some(since)) => {
                let mut end = Sql::new(
                    dialect,
                    "UPDATE webhooks SET failing_since = NULL WHERE id = ",
                );
                end.bind(webhook_id).push(" AND failing_since IS NOT NULL");
                if tx.execute(end).await? > 0 {
                    reports.push((r, watch, Some(since)));
                }
            }
            _ => continue,
        }
        changes.sites.push(watch.webhook.site_id.clone());
    }
    changes.notices = reports_worth_sending(tx, &reports).await?;
    for (r, watch) in results
        .iter()
        .filter_map(|r| r.watch.as_ref().filter(|w| w.gone).map(|w| (r, w)))
    {
        let id = watch.webhook.id.as_str();
        if tx
            .execute(disable_webhook(dialect, id, GONE_REASON, r.finished_at))
            .await?
            > 0
        {
            tx.execute(pause_calls(dialect, id, r.finished_at)).await?;
            changes.sites.push(watch.webhook.site_id.clone());
            changes.notices.push(Notice::WebhookDisabled {
                webhook: webhook_ref(&watch.webhook),
                reason: GONE_REASON.to_owned(),
                at: r.finished_at,
            });
        }
    }
    Ok(changes)
}

/// The notices for `reports` (exhausted, or recovered since when), reading what they
/// tell from the calls' rows. Calls that carry operator events are left out: reporting on
/// them could feed a loop (a failing webhook subscribed to `call_exhausted` would report
/// its own failures forever).
async fn reports_worth_sending<T: Tx>(
    tx: &mut T,
    reports: &[(&AttemptResult, &Watch, Option<UnixMillis>)],
) -> Result<Vec<Notice>> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = reports.iter().map(|(r, ..)| r.call_id.clone()).collect();
    let mut sql = Sql::new(
        tx.dialect(),
        "SELECT id, event_id, entity_type, attempt_count FROM webhook_calls WHERE id IN ",
    );
    sql.bind_list(&ids);
    let rows: HashMap<String, SqlRow> = tx
        .fetch_all(sql)
        .await?
        .into_iter()
        .map(|row| Ok((row.text("id")?, row)))
        .collect::<Result<_>>()?;
    let mut notices = Vec::new();
    for (r, watch, recovered) in reports {
        let Some(row) = rows.get(&r.call_id) else {
            continue;
        };
        if row.text("entity_type")? == operator::ENTITY_TYPE {
            continue;
        }
        let webhook = webhook_ref(&watch.webhook);
        notices.push(match recovered {
            Some(failing_since) => Notice::CallRecovered {
                webhook,
                call_id: r.call_id.clone(),
                failing_since: *failing_since,
                at: r.finished_at,
            },
            None => Notice::CallExhausted {
                webhook,
                call_id: r.call_id.clone(),
                event_id: row.text("event_id")?,
                attempts: row.int("attempt_count")?.max(0) as u32,
                last_status_code: r.status_code,
                last_error: r.error.clone(),
            },
        });
    }
    Ok(notices)
}

impl Store {
    /// Disables every enabled webhook that has failed without a success for longer than
    /// its `disable_after` (or `default_after_ms`; 0 is never), pausing its calls.
    pub async fn disable_failing_webhooks(
        &self,
        now: UnixMillis,
        default_after_ms: u64,
    ) -> Result<Vec<Notice>> {
        let failing = sqlx::query(
            "SELECT id, site_id, name, failing_since, disable_after_ms FROM webhooks \
             WHERE enabled = 1 AND failing_since IS NOT NULL",
        )
        .fetch_all(&self.read)
        .await?;
        let mut notices = Vec::new();
        for row in failing {
            let webhook = WebhookRef {
                site_id: row.try_get("site_id")?,
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            };
            let since: UnixMillis = row.try_get("failing_since")?;
            let own: Option<i64> = row.try_get("disable_after_ms")?;
            let after = own.map_or(default_after_ms, |ms| ms.max(0) as u64);
            if after == 0 || now - since < after as i64 {
                continue;
            }
            if self.delivered_since(&webhook.id, since).await? {
                // A success the streak missed (read from a stale cache): not failing.
                self.end_streak(&webhook.id, since).await?;
                continue;
            }
            let reason = format!(
                "every call failed for {} (since {}), longer than its disable_after of {}; \
                 re-enable the webhook once its receiver works again",
                humantime::format_duration(std::time::Duration::from_secs(
                    ((now - since) / 1000).max(0) as u64
                )),
                to_rfc3339(since),
                humantime::format_duration(std::time::Duration::from_millis(after)),
            );
            let mut tx = self.begin_write().await?;
            let mut disable = disable_webhook(self.dialect, &webhook.id, &reason, now);
            disable.push(" AND failing_since = ").bind(since);
            let changed = disable.query().execute(&mut *tx).await?.rows_affected();
            if changed > 0 {
                pause_calls(self.dialect, &webhook.id, now)
                    .query()
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if changed > 0 {
                self.forget_webhooks(&webhook.site_id);
                tracing::warn!(webhook = %webhook.id, %reason, "disabled a failing webhook");
                notices.push(Notice::WebhookDisabled {
                    webhook,
                    reason,
                    at: now,
                });
            }
        }
        Ok(notices)
    }

    async fn delivered_since(&self, webhook_id: &str, since: UnixMillis) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT id FROM webhook_calls WHERE webhook_id = $1 AND status = 'success' \
             AND last_attempt_at >= $2 LIMIT 1",
        )
        .bind(webhook_id.to_owned())
        .bind(since)
        .fetch_optional(&self.read)
        .await?
        .is_some())
    }

    async fn end_streak(&self, webhook_id: &str, since: UnixMillis) -> Result<()> {
        sqlx::query(
            "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since = $2",
        )
        .bind(webhook_id.to_owned())
        .bind(since)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
