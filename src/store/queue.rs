//! The durable queue: claiming due calls with a lease, writing attempts' results back in
//! batches, and handing claims back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use sqlx::Row;

use super::health::{record_health, HealthChanges};
use super::ordering::{self, IS_HEAD};
use super::results::AttemptResult;
use super::sql::{distinct, prev_power_of_two, Rows, Sql, SqlRow};
use super::tx::{Tx, WriteJob};
use super::webhooks::{self, WebhookRecord};
use super::{corrupt, Dialect, Result, Store};
use crate::domain::call::{CallStatus, NextStep};
use crate::domain::ids;
use crate::domain::operator::Notice;
use crate::domain::time::UnixMillis;

/// A call claimed for delivery, with everything needed to make the attempt.
#[derive(Debug, Clone)]
pub struct ClaimedCall {
    pub call_id: String,
    pub claim_token: String,
    /// Shared by the calls of one event.
    pub environment: Arc<str>,
    /// Shared by the calls of one event (and cheap to hand to the HTTP client).
    pub body: Bytes,
    /// `None` for the default, [`DEFAULT_CONTENT_TYPE`].
    pub content_type: Option<String>,
    pub previous_attempts: u32,
    pub one_shot: bool,
    pub manual: bool,
    /// `None` when the webhook was deleted after the claim.
    pub webhook: Option<Arc<WebhookRecord>>,
    /// The rate-limit slot it waited for (and holds): taken on time, it goes without
    /// asking for another.
    pub rate_slot: Option<UnixMillis>,
    /// Its ordering key and place in it, when its webhook orders its calls.
    pub order: Option<(String, i64)>,
}

impl ClaimedCall {
    /// A call about to get its first attempt, unclaimed; the rest is set by the caller.
    pub fn fresh(
        call_id: String,
        webhook: Arc<WebhookRecord>,
        environment: Arc<str>,
        body: Bytes,
    ) -> Self {
        ClaimedCall {
            call_id,
            claim_token: String::new(),
            environment,
            body,
            content_type: None,
            previous_attempts: 0,
            one_shot: false,
            manual: false,
            webhook: Some(webhook),
            rate_slot: None,
            order: None,
        }
    }
}

impl Store {
    /// Claims up to `limit` due calls until `lease_until`. Claimed calls are invisible to
    /// other workers until the lease ends or the result is recorded.
    pub async fn claim_due(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<ClaimedCall>> {
        let claim_token = ids::random_urlsafe(12);
        let claim = ClaimDue {
            now,
            lease_until,
            limit,
            claim_token: claim_token.clone(),
        };
        let (rows, events) = self.writer.run(Arc::new(claim)).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let events: HashMap<String, (Arc<str>, Bytes)> = events
            .iter()
            .map(|r| {
                let shared = (r.text("environment")?.into(), r.text("body")?.into());
                Ok((r.text("id")?, shared))
            })
            .collect::<Result<_>>()?;
        let column =
            |name: &str| -> Result<Vec<String>> { rows.iter().map(|r| r.text(name)).collect() };
        let hooks = match self.dialect {
            // Only this process changes a SQLite file's webhooks, so the cache is exact.
            Dialect::Sqlite => self.cached_webhooks(&column("site_id")?).await?,
            // Other processes may have just changed one: read them fresh.
            Dialect::Postgres => self.webhooks_by_id(&column("webhook_id")?).await?,
        };
        rows.iter()
            .map(|row| {
                let event_id = row.text("event_id")?;
                let (environment, event_body) = events
                    .get(&event_id)
                    .cloned()
                    .ok_or_else(|| corrupt("call without its event", &event_id))?;
                Ok(ClaimedCall {
                    call_id: row.text("id")?,
                    claim_token: claim_token.clone(),
                    environment,
                    body: row.opt_text("body")?.map_or(event_body, Bytes::from),
                    content_type: row.opt_text("content_type")?,
                    previous_attempts: row.int("attempt_count")?.max(0) as u32,
                    one_shot: row.int("one_shot")? != 0,
                    manual: row.int("resend_requested")? != 0,
                    webhook: hooks.get(&row.text("webhook_id")?).cloned(),
                    rate_slot: row.opt_int("rate_slot_at")?,
                    order: match (row.opt_text("ordering_key")?, row.opt_int("sequence")?) {
                        (Some(key), Some(sequence)) => Some((key, sequence)),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    async fn cached_webhooks(
        &self,
        site_ids: &[String],
    ) -> Result<HashMap<String, Arc<WebhookRecord>>> {
        let mut hooks = HashMap::new();
        for site_id in distinct(site_ids.iter().cloned()) {
            for hook in self.site_webhooks(&site_id).await?.iter() {
                hooks.insert(hook.id.clone(), hook.clone());
            }
        }
        Ok(hooks)
    }

    async fn webhooks_by_id(&self, ids: &[String]) -> Result<HashMap<String, Arc<WebhookRecord>>> {
        let mut sql = Sql::new(
            self.dialect,
            &format!("SELECT {} FROM webhooks WHERE id IN ", webhooks::COLUMNS),
        );
        let ids = distinct(ids.iter().cloned());
        sql.bind_list(&ids);
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| webhooks::from_row(r, &self.sealer).map(|w| (w.id.clone(), Arc::new(w))))
            .collect()
    }

    /// Writes a batch of results in one transaction (group commit). A result whose claim
    /// was superseded (lease expired, or a resend) is logged and counted but no longer
    /// moves the call's status. A result whose call was deleted meanwhile (with its
    /// webhook or site) has nothing left to record: it is dropped, so that it cannot keep
    /// the rest of its batch unrecorded (their calls would be sent again once their leases
    /// ran out).
    /// Returns what operators should hear about (see `domain/operator.rs`), and whether
    /// calls that waited behind the finished ones are due now.
    pub async fn record_results(
        &self,
        results: impl Into<Arc<[AttemptResult]>>,
    ) -> Result<(Vec<Notice>, bool)> {
        let results: Arc<[AttemptResult]> = results.into();
        if results.is_empty() {
            return Ok((Vec::new(), false));
        }
        let recorded = match self
            .writer
            .run(Arc::new(RecordResults(results.clone())))
            .await
        {
            Err(e) if e.is_foreign_key_violation() => {
                // Rare, so the check costs nothing on the hot path: only a failed batch
                // looks up which of its calls are left, and is written again without the
                // others (still in one transaction, so retrying it stays safe).
                let ids = distinct(results.iter().map(|r| r.call_id.clone()));
                let mut existing =
                    Sql::new(self.dialect, "SELECT id FROM webhook_calls WHERE id IN ");
                existing.bind_list(&ids);
                let existing: HashSet<String> = existing
                    .query()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|row| row.try_get("id"))
                    .collect::<Result<_, _>>()?;
                let left: Arc<[AttemptResult]> = results
                    .iter()
                    .filter(|r| existing.contains(&r.call_id))
                    .cloned()
                    .collect();
                tracing::info!(
                    dropped = results.len() - left.len(),
                    "results for calls deleted meanwhile were dropped"
                );
                if left.is_empty() {
                    return Ok((Vec::new(), false));
                }
                self.writer.run(Arc::new(RecordResults(left))).await
            }
            written => written,
        }?;
        let changes = recorded.health;
        for site_id in distinct(changes.sites) {
            self.forget_webhooks(&site_id);
        }
        for notice in &changes.notices {
            if let Notice::WebhookDisabled {
                webhook, reason, ..
            } = notice
            {
                tracing::warn!(webhook = %webhook.id, %reason, "disabled a webhook");
            }
        }
        Ok((changes.notices, recorded.promoted > 0))
    }

    /// When the earliest pending call is due, so an idle worker knows how long it may sleep.
    pub async fn next_due_at(&self) -> Result<Option<UnixMillis>> {
        Ok(sqlx::query(
            "SELECT MIN(next_attempt_at) AS due FROM webhook_calls WHERE status = 'pending'",
        )
        .fetch_one(&self.read)
        .await?
        .try_get("due")?)
    }

    /// Calls due at `now` and not claimed (a claim moves the due time to the lease's end),
    /// and when the oldest of them fell due. For metrics: reads the due index only.
    pub async fn due_calls(&self, now: UnixMillis) -> Result<(i64, Option<UnixMillis>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(next_attempt_at) AS oldest FROM webhook_calls \
             WHERE status = 'pending' AND next_attempt_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.read)
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }
}

/// How many calls to claim for `room` free places: at most `batch`, rounded down to a power
/// of two, because each distinct limit is a statement of its own in the database's cache
/// (see `ClaimDue`).
pub fn claim_size(room: usize, batch: u32) -> u32 {
    match room.min(batch as usize) {
        0 => 0,
        wanted => prev_power_of_two(wanted) as u32,
    }
}

/// Takes due calls for one worker and reads their events' bodies, in one transaction.
struct ClaimDue {
    now: UnixMillis,
    lease_until: UnixMillis,
    limit: u32,
    claim_token: String,
}

impl WriteJob for ClaimDue {
    /// The claimed calls, and their events.
    type Output = (Vec<SqlRow>, Vec<SqlRow>);

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output> {
        let dialect = tx.dialect();
        if dialect == Dialect::Postgres {
            // Every claim and result leaves a dead entry in the due index until vacuum
            // runs. A bitmap scan (which the planner picks when it expects few due rows)
            // reads all of them and never marks them dead; an index scan in due order
            // stops at the limit and marks each dead entry it passes, so the next claims
            // skip it: 700 index entries read per claim instead of 32 000 under load.
            tx.execute(Sql::new(dialect, "SET LOCAL enable_bitmapscan = off"))
                .await?;
        }
        let mut claim = Sql::new(dialect, "UPDATE webhook_calls SET next_attempt_at = ");
        claim.bind(self.lease_until).push(", claim_token = ");
        claim.bind(self.claim_token.as_str());
        claim.push(
            " WHERE id IN (SELECT id FROM webhook_calls \
             WHERE status = 'pending' AND next_attempt_at <= ",
        );
        // The limit is written out, not bound: SQLite re-plans a statement whenever its
        // LIMIT parameter is bound again, so a bound limit made every claim a fresh parse.
        // (Each limit is a statement of its own; the dispatcher asks only a few.)
        claim.bind(self.now).push(&format!(
            " AND {IS_HEAD} ORDER BY next_attempt_at LIMIT {}",
            self.limit
        ));
        claim.push(&dialect.skip_locked("webhook_calls"));
        claim.push(
            ") RETURNING id, site_id, event_id, webhook_id, body, content_type, \
             attempt_count, one_shot, resend_requested, rate_slot_at, ordering_key, sequence",
        );
        let calls = tx.fetch_all(claim).await?;
        if calls.is_empty() {
            return Ok((calls, Vec::new()));
        }
        let event_ids = calls
            .iter()
            .map(|c| c.text("event_id"))
            .collect::<Result<Vec<_>>>()?;
        let mut events = Sql::new(
            dialect,
            "SELECT id, environment, body FROM events WHERE id IN ",
        );
        let event_ids = distinct(event_ids);
        events.bind_list(&event_ids);
        let events = tx.fetch_all(events).await?;
        Ok((calls, events))
    }
}

/// Rows per multi-row statement when recording results (PostgreSQL).
const ATTEMPTS_PER_INSERT: usize = 256;
const RESULTS_PER_UPDATE: usize = 128;

struct RecordResults(Arc<[AttemptResult]>);

/// What a batch of results changed besides its calls.
struct Recorded {
    health: HealthChanges,
    /// Calls that were waiting behind the finished ones and are due now.
    promoted: u64,
}

impl WriteJob for RecordResults {
    type Output = Recorded;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Recorded> {
        // Ordered calls' keys: locked first (see `ordering.rs`), the next call of each
        // promoted once the results are in.
        let keys = ordering::sorted_keys(self.0.iter().filter_map(|r| Some(&r.order.as_ref()?.0)));
        ordering::lock_keys(tx, &keys).await?;
        let attempts = self
            .0
            .iter()
            .filter_map(|r| r.attempt.as_ref().map(|a| (&r.call_id, a)));
        let mut attempt_rows = Rows::new(
            "INSERT INTO webhook_attempts (id, call_id, manual, started_at, duration_ms, \
             request_url, request_headers, request_body, response_status, response_headers, response_body, error) VALUES ",
            ATTEMPTS_PER_INSERT,
        );
        for (call_id, a) in attempts {
            attempt_rows.push([
                ids::new_id(ids::ATTEMPT).into(),
                call_id.as_str().into(),
                i64::from(a.manual).into(),
                a.started_at.into(),
                a.duration_ms.into(),
                a.request_url.as_str().into(),
                a.request_headers.get().into(),
                a.request_body.as_deref().into(),
                a.response_status.into(),
                a.response_headers.as_deref().map(RawValue::get).into(),
                a.response_body.as_deref().into(),
                a.error.as_deref().into(),
            ]);
        }
        tx.execute_rows(attempt_rows).await?;
        // Every attempt counts; only the holder of the current claim moves the call on (a
        // resend or an expired lease may have handed it to someone else meanwhile). The
        // multi-row form joins a VALUES list, in which a call must not appear twice (only
        // one of its rows would apply).
        for group in chunks_of_distinct_calls(&self.0, RESULTS_PER_UPDATE) {
            let mut rows = Rows::new(
                "UPDATE webhook_calls SET \
                   status = CASE WHEN webhook_calls.claim_token = v.column8 THEN v.column1 ELSE webhook_calls.status END, \
                   next_attempt_at = CASE WHEN webhook_calls.claim_token = v.column8 THEN v.column2 ELSE webhook_calls.next_attempt_at END, \
                   resend_requested = CASE WHEN webhook_calls.claim_token = v.column8 THEN 0 ELSE webhook_calls.resend_requested END, \
                   claim_token = CASE WHEN webhook_calls.claim_token = v.column8 THEN NULL ELSE webhook_calls.claim_token END, \
                   rate_slot_at = CASE WHEN webhook_calls.claim_token = v.column8 THEN NULL ELSE webhook_calls.rate_slot_at END, \
                   attempt_count = webhook_calls.attempt_count + v.column3, \
                   last_status_code = v.column4, last_error = v.column5, \
                   last_attempt_at = v.column6, updated_at = v.column6 \
                 FROM (VALUES ",
                RESULTS_PER_UPDATE,
            )
            .tail(") AS v WHERE webhook_calls.id = v.column7")
            .one_row(
                "UPDATE webhook_calls SET \
                   status = CASE WHEN claim_token = ?8 THEN ?1 ELSE status END, \
                   next_attempt_at = CASE WHEN claim_token = ?8 THEN ?2 ELSE next_attempt_at END, \
                   resend_requested = CASE WHEN claim_token = ?8 THEN 0 ELSE resend_requested END, \
                   rate_slot_at = CASE WHEN claim_token = ?8 THEN NULL ELSE rate_slot_at END, \
                   claim_token = CASE WHEN claim_token = ?8 THEN NULL ELSE claim_token END, \
                   attempt_count = attempt_count + ?3, \
                   last_status_code = ?4, last_error = ?5, \
                   last_attempt_at = ?6, updated_at = ?6 \
                 WHERE id = ?7",
            );
            for r in group {
                let (status, next_attempt_at) = match r.next {
                    NextStep::Done(status) => (status, None),
                    NextStep::RetryAt(at) => (CallStatus::Pending, Some(at)),
                    NextStep::Paused => (CallStatus::Pending, None),
                };
                rows.push([
                    status.as_str().into(),
                    next_attempt_at.into(),
                    i64::from(r.attempt.is_some()).into(),
                    r.status_code.into(),
                    r.error.as_deref().into(),
                    r.finished_at.into(),
                    r.call_id.as_str().into(),
                    r.claim_token.as_str().into(),
                ]);
            }
            tx.execute_rows(rows).await?;
        }
        let health = record_health(tx, &self.0).await?;
        let mut promoted = 0;
        if !keys.is_empty() {
            let latest = ordering::sorted_keys(
                self.0
                    .iter()
                    .filter_map(|r| r.order.as_ref().filter(|(_, latest)| *latest))
                    .map(|(k, _)| k),
            );
            let now = self.0.iter().map(|r| r.finished_at).max().unwrap_or(0);
            if !latest.is_empty() {
                ordering::supersede_stale(tx, &latest, now).await?;
            }
            promoted = ordering::promote_heads(tx, &keys, now).await?;
            if promoted > 0 {
                tx.announce_due_work().await?;
            }
        }
        Ok(Recorded { health, promoted })
    }
}

/// Splits results into chunks of at most `size` in which no call appears twice (an
/// `UPDATE … FROM` would apply only one of two rows for the same call).
fn chunks_of_distinct_calls(results: &[AttemptResult], size: usize) -> Vec<&[AttemptResult]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut seen = std::collections::HashSet::new();
    for (i, r) in results.iter().enumerate() {
        if i - start == size || !seen.insert(r.call_id.as_str()) {
            chunks.push(&results[start..i]);
            start = i;
            seen.clear();
            seen.insert(r.call_id.as_str());
        }
    }
    if start < results.len() {
        chunks.push(&results[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(call_id: &str) -> AttemptResult {
        AttemptResult {
            call_id: call_id.into(),
            claim_token: "t".into(),
            attempt: None,
            error: None,
            status_code: None,
            finished_at: 0,
            next: NextStep::Done(CallStatus::Success),
            watch: None,
            order: None,
        }
    }

    #[test]
    fn claims_are_powers_of_two_within_the_batch() {
        assert_eq!(claim_size(0, 100), 0);
        assert_eq!(claim_size(1, 100), 1);
        assert_eq!(claim_size(7, 100), 4);
        assert_eq!(claim_size(64, 100), 64);
        assert_eq!(claim_size(300, 100), 64);
        assert_eq!(claim_size(300, 256), 256);
    }

    #[test]
    fn batches_never_hold_one_call_twice_and_respect_the_size() {
        let results: Vec<_> = ["a", "b", "a", "c", "d", "e"]
            .into_iter()
            .map(result)
            .collect();
        let chunks = chunks_of_distinct_calls(&results, 3);
        let ids: Vec<Vec<&str>> = chunks
            .iter()
            .map(|c| c.iter().map(|r| r.call_id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["a", "b"], vec!["a", "c", "d"], vec!["e"]]);
        assert!(chunks_of_distinct_calls(&[], 3).is_empty());
    }
}
