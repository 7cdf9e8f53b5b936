//! Ordered delivery in the database (see `docs/ORDERING.md`).
//!
//! Each ordered call has a key and a sequence, given out per webhook and key in the
//! transaction that accepts the call. Only a key's *head* (its pending call with the
//! lowest sequence) has a due time; the calls behind it wait with none, so a held-back key
//! costs the claim query nothing. Whoever finishes a head (the recorder, a resend, a
//! recovery) promotes the next one in the same transaction.
//!
//! On PostgreSQL a transaction that gives out sequences, or finishes a head, first locks
//! its keys' rows in `ordering_keys` (in key order, so two never deadlock). That makes
//! sequences follow commit order, and it means a publisher that finds a head still
//! pending and parks its call can be sure the head's finisher will see that call. SQLite
//! has one writer at a time, which gives both for free.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;

use super::sql::{Rows, Sql};
use super::tx::Tx;
use super::{Dialect, Result, Store};
use crate::domain::time::UnixMillis;

/// One order: a webhook's calls with one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey {
    pub webhook_id: String,
    pub key: String,
}

/// Whether the `webhook_calls` row in scope is the first pending call of its key (or not
/// ordered at all). Claims and resumes check it, so that no call ever overtakes an
/// earlier one of its key, whatever made it due.
pub(super) const IS_HEAD: &str = "(webhook_calls.ordering_key IS NULL OR NOT EXISTS (\
     SELECT 1 FROM webhook_calls earlier WHERE earlier.webhook_id = webhook_calls.webhook_id \
     AND earlier.ordering_key = webhook_calls.ordering_key AND earlier.status = 'pending' \
     AND earlier.sequence < webhook_calls.sequence))";

/// Keys per statement (two parameters each).
const KEYS_PER_STATEMENT: usize = 256;

/// `(VALUES (?, ?), …)` for `keys`, padded to a power of two (repeating the last) so that
/// few distinct statements reach the engines' statement caches.
fn bind_keys<'a>(sql: &mut Sql<'a>, keys: &'a [OrderKey]) {
    sql.push("(VALUES ");
    let padding = keys.len().next_power_of_two() - keys.len();
    let padded = keys.iter().chain(std::iter::repeat_n(
        keys.last().expect("callers pass at least one key"),
        padding,
    ));
    for (i, k) in padded.enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(k.webhook_id.as_str()).push(", ");
        sql.bind(k.key.as_str()).push(")");
    }
    sql.push(")");
}

/// Runs `statement(chunk)` for `keys` in chunks; returns the rows changed in all.
async fn per_chunk<'a, T: Tx>(
    tx: &mut T,
    keys: &'a [OrderKey],
    statement: impl Fn(&'a [OrderKey]) -> Sql<'a>,
) -> Result<u64> {
    let mut changed = 0;
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        changed += tx.execute(statement(chunk)).await?;
    }
    Ok(changed)
}

/// Each key once, sorted: the order [`lock_keys`] takes locks in.
pub(super) fn sorted_keys<'a>(keys: impl IntoIterator<Item = &'a OrderKey>) -> Vec<OrderKey> {
    let mut keys: Vec<OrderKey> = keys.into_iter().cloned().collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Locks the keys' rows until commit (PostgreSQL; see the module's comment). `keys` must
/// be sorted; keys without a row yet need none (their first sequence creates it, locked).
pub(super) async fn lock_keys<T: Tx>(tx: &mut T, keys: &[OrderKey]) -> Result<()> {
    let dialect = tx.dialect();
    if dialect == Dialect::Sqlite || keys.is_empty() {
        return Ok(());
    }
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut sql = Sql::new(
            dialect,
            "SELECT key FROM ordering_keys WHERE (webhook_id, key) IN ",
        );
        bind_keys(&mut sql, chunk);
        sql.push(" ORDER BY webhook_id, key FOR UPDATE");
        tx.fetch_all(sql).await?;
    }
    Ok(())
}

/// Gives out `count` sequences for each key (sorted, so locks are taken in key order);
/// returns the first of each key's new sequences.
pub(super) async fn allocate<T: Tx>(
    tx: &mut T,
    counts: &BTreeMap<OrderKey, i64>,
) -> Result<HashMap<OrderKey, i64>> {
    let mut rows = Rows::new(
        "INSERT INTO ordering_keys (webhook_id, key, last_sequence) VALUES ",
        KEYS_PER_STATEMENT,
    )
    .tail(
        " ON CONFLICT (webhook_id, key) DO UPDATE \
         SET last_sequence = ordering_keys.last_sequence + excluded.last_sequence \
         RETURNING webhook_id, key, last_sequence",
    );
    for (k, count) in counts {
        rows.push([
            k.webhook_id.as_str().into(),
            k.key.as_str().into(),
            (*count).into(),
        ]);
    }
    let mut first = HashMap::with_capacity(counts.len());
    for row in tx.fetch_rows(rows).await? {
        let k = OrderKey {
            webhook_id: row.text("webhook_id")?,
            key: row.text("key")?,
        };
        let last = row.int("last_sequence")?;
        let count = counts.get(&k).copied().unwrap_or(1);
        first.insert(k, last - count + 1);
    }
    Ok(first)
}

/// The keys that have a pending call. Each key is looked up in the pending calls' key
/// index (driving from the key list: a filter over the index would read every pending
/// call of every key, which a backlog makes slow).
pub(super) async fn busy_keys<T: Tx>(tx: &mut T, keys: &[OrderKey]) -> Result<HashSet<OrderKey>> {
    let dialect = tx.dialect();
    let mut busy = HashSet::new();
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut sql = Sql::new(
            dialect,
            "SELECT v.column1 AS webhook_id, v.column2 AS ordering_key FROM ",
        );
        bind_keys(&mut sql, chunk);
        sql.push(&format!(" AS v WHERE EXISTS ({PENDING_OF_KEY})"));
        for row in tx.fetch_all(sql).await? {
            busy.insert(OrderKey {
                webhook_id: row.text("webhook_id")?,
                key: row.text("ordering_key")?,
            });
        }
    }
    Ok(busy)
}

/// The pending calls of the key `v.column1`, `v.column2` (a row of [`bind_keys`]' list).
const PENDING_OF_KEY: &str = "SELECT c.id FROM webhook_calls c WHERE c.webhook_id = v.column1 \
     AND c.ordering_key = v.column2 AND c.status = 'pending' AND c.ordering_key IS NOT NULL";

/// Supersedes every waiting call of each key (nobody holds it) by the newest call about
/// to join the key: a publish to a `latest` webhook.
pub(super) async fn supersede_by<T: Tx>(
    tx: &mut T,
    newest: &[(OrderKey, String)],
    now: UnixMillis,
) -> Result<u64> {
    let mut rows = Rows::new(
        "UPDATE webhook_calls SET status = 'superseded', superseded_by = v.column3, \
           next_attempt_at = NULL, rate_slot_at = NULL, updated_at = v.column4 \
         FROM (VALUES ",
        KEYS_PER_STATEMENT,
    )
    .tail(
        ") AS v WHERE webhook_calls.webhook_id = v.column1 \
         AND webhook_calls.ordering_key = v.column2 AND webhook_calls.status = 'pending' \
         AND webhook_calls.claim_token IS NULL",
    )
    .one_row(
        "UPDATE webhook_calls SET status = 'superseded', superseded_by = ?3, \
           next_attempt_at = NULL, rate_slot_at = NULL, updated_at = ?4 \
         WHERE webhook_id = ?1 AND ordering_key = ?2 AND status = 'pending' \
           AND claim_token IS NULL",
    );
    for (k, call_id) in newest {
        rows.push([
            k.webhook_id.as_str().into(),
            k.key.as_str().into(),
            call_id.as_str().into(),
            now.into(),
        ]);
    }
    tx.execute_rows(rows).await
}

/// Supersedes the waiting calls of each key that a newer pending call follows, by the
/// newest: a `latest` head that failed and would be retried goes no further once a newer
/// state waits behind it.
pub(super) async fn supersede_stale<T: Tx>(
    tx: &mut T,
    keys: &[OrderKey],
    now: UnixMillis,
) -> Result<u64> {
    let dialect = tx.dialect();
    per_chunk(tx, keys, |chunk| {
        let mut sql = Sql::new(
            dialect,
            "UPDATE webhook_calls SET status = 'superseded', next_attempt_at = NULL, \
               rate_slot_at = NULL, updated_at = ",
        );
        sql.bind(now).push(
            ", superseded_by = (SELECT newer.id FROM webhook_calls newer \
               WHERE newer.webhook_id = webhook_calls.webhook_id \
               AND newer.ordering_key = webhook_calls.ordering_key \
               AND newer.status = 'pending' ORDER BY newer.sequence DESC LIMIT 1) \
             WHERE claim_token IS NULL \
               AND EXISTS (SELECT 1 FROM webhook_calls newer \
                 WHERE newer.webhook_id = webhook_calls.webhook_id \
                 AND newer.ordering_key = webhook_calls.ordering_key \
                 AND newer.status = 'pending' AND newer.sequence > webhook_calls.sequence) \
               AND id IN (SELECT c.id FROM ",
        );
        bind_keys(&mut sql, chunk);
        sql.push(
            " AS v JOIN webhook_calls c ON c.webhook_id = v.column1 \
             AND c.ordering_key = v.column2 AND c.status = 'pending' \
             AND c.ordering_key IS NOT NULL)",
        );
        sql
    })
    .await
}

/// Makes each key's head due now if it waits without a due time (its webhook enabled);
/// returns how many were. Each key's head is found through the key index.
pub(super) async fn promote_heads<T: Tx>(
    tx: &mut T,
    keys: &[OrderKey],
    now: UnixMillis,
) -> Result<u64> {
    let dialect = tx.dialect();
    per_chunk(tx, keys, |chunk| {
        // `+next_attempt_at`: not through the due-time index (SQLite would read every
        // call waiting without a due time), but by id, from each key's head.
        let mut sql = promotion(dialect, now, "+next_attempt_at");
        sql.push(&format!(
            " AND id IN (SELECT ({PENDING_OF_KEY} ORDER BY c.sequence LIMIT 1) FROM "
        ));
        bind_keys(&mut sql, chunk);
        sql.push(" AS v)");
        sql
    })
    .await
}

/// The heads of every key that wait without a due time, made due: a sweep that mends a
/// key whatever left it stalled (run with the maintenance, once a minute: it reads every
/// call waiting without a due time).
fn promote_all_heads(dialect: Dialect, now: UnixMillis) -> Sql<'static> {
    let mut sql = promotion(dialect, now, "next_attempt_at");
    sql.push(&format!(" AND {IS_HEAD}"));
    sql
}

/// Due now: the calls in scope that wait without a due time, of enabled webhooks.
fn promotion<'a>(dialect: Dialect, now: UnixMillis, due_column: &str) -> Sql<'a> {
    let mut sql = Sql::new(dialect, "UPDATE webhook_calls SET next_attempt_at = ");
    sql.bind(now).push(", updated_at = ").bind(now);
    sql.push(&format!(
        " WHERE status = 'pending' AND {due_column} IS NULL AND ordering_key IS NOT NULL \
          AND webhook_id IN (SELECT id FROM webhooks WHERE enabled = 1)"
    ));
    sql
}

/// An ordered call about to be accepted, in acceptance order.
pub(super) struct Joining<'a> {
    pub call_id: &'a str,
    pub key: &'a OrderKey,
    pub latest: bool,
}

/// Where each ordered call of a publish goes (see [`place_calls`]).
#[derive(Debug, Default)]
pub(super) struct Placement {
    pub sequence: HashMap<String, i64>,
    /// Calls that wait behind an earlier one of their key: no due time yet.
    pub parked: HashSet<String>,
    /// Calls replaced, before they were ever due, by a newer one of the same publish.
    pub superseded_by: HashMap<String, String>,
}

impl Placement {
    /// Whether the call goes now (a head), so it may be handed to this process's
    /// dispatcher.
    pub fn goes_now(&self, call_id: &str) -> bool {
        !self.parked.contains(call_id) && !self.superseded_by.contains_key(call_id)
    }
}

/// Gives the joining calls their sequences and decides which go now: a key's first call
/// when nothing of its key is pending, the rest waiting behind it. For `latest` keys the
/// newest joining call supersedes the key's waiting calls and the publish's older ones.
pub(super) async fn place_calls<T: Tx>(
    tx: &mut T,
    joining: &[Joining<'_>],
    now: UnixMillis,
) -> Result<Placement> {
    let mut placement = Placement::default();
    if joining.is_empty() {
        return Ok(placement);
    }
    let mut groups: BTreeMap<&OrderKey, (bool, Vec<&str>)> = BTreeMap::new();
    for call in joining {
        let group = groups.entry(call.key).or_insert((call.latest, Vec::new()));
        group.1.push(call.call_id);
    }
    let counts: BTreeMap<OrderKey, i64> = groups
        .iter()
        .map(|(k, (_, calls))| ((*k).clone(), calls.len() as i64))
        .collect();
    let first = allocate(tx, &counts).await?;
    let newest: Vec<(OrderKey, String)> = groups
        .iter()
        .filter(|(_, (latest, _))| *latest)
        .filter_map(|(k, (_, calls))| Some(((*k).clone(), (*calls.last()?).to_owned())))
        .collect();
    if !newest.is_empty() {
        supersede_by(tx, &newest, now).await?;
    }
    let keys: Vec<OrderKey> = counts.keys().cloned().collect();
    let busy = busy_keys(tx, &keys).await?;
    for (k, (latest, calls)) in groups {
        let start = first.get(k).copied().unwrap_or(1);
        for (i, call_id) in calls.iter().enumerate() {
            placement
                .sequence
                .insert((*call_id).to_owned(), start + i as i64);
        }
        let Some((last, older)) = calls.split_last() else {
            continue;
        };
        if latest {
            for call_id in older {
                placement
                    .superseded_by
                    .insert((*call_id).to_owned(), (*last).to_owned());
            }
            if busy.contains(k) {
                placement.parked.insert((*last).to_owned());
            }
        } else {
            let waiting = if busy.contains(k) {
                &calls[..]
            } else {
                &calls[1..]
            };
            placement
                .parked
                .extend(waiting.iter().map(|id| (*id).to_owned()));
        }
    }
    Ok(placement)
}

/// Sends one call of an ordered key again (a resend, a recovery): a finished call joins
/// the back of its key with a new sequence, one attempt, no schedule after it; a pending
/// one is brought forward only if it is its key's head (else it keeps its place). The
/// caller has locked the key ([`lock_keys`]), once for all the calls it requeues.
pub(super) async fn requeue<T: Tx>(
    tx: &mut T,
    call_id: &str,
    key: &OrderKey,
    pending: bool,
    now: UnixMillis,
) -> Result<()> {
    let dialect = tx.dialect();
    if pending {
        let mut sql = Sql::new(dialect, "UPDATE webhook_calls SET next_attempt_at = ");
        sql.bind(now)
            .push(", claim_token = NULL, resend_requested = 1, updated_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(call_id)
            .push(&format!(" AND {IS_HEAD}"));
        tx.execute(sql).await?;
        return Ok(());
    }
    let counts = BTreeMap::from([(key.clone(), 1)]);
    let sequence = allocate(tx, &counts).await?.get(key).copied().unwrap_or(1);
    let mut sql = Sql::new(
        dialect,
        "UPDATE webhook_calls SET status = 'pending', one_shot = 1, resend_requested = 1, \
           next_attempt_at = NULL, claim_token = NULL, rate_slot_at = NULL, \
           superseded_by = NULL, sequence = ",
    );
    sql.bind(sequence)
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(call_id);
    tx.execute(sql).await?;
    promote_heads(tx, std::slice::from_ref(key), now).await?;
    Ok(())
}

/// A key of an ordered webhook whose calls wait behind its head.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HeldKey {
    pub key: String,
    /// The call everything else of the key waits for.
    pub head_call_id: String,
    /// Calls waiting behind it.
    pub waiting: i64,
    /// The head's attempts so far, and how the last one went.
    pub attempt_count: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// When the head is tried next (`null`: its webhook is disabled).
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub next_attempt_at: Option<UnixMillis>,
}

/// The keys held back most, at most this many.
const HELD_KEYS_SHOWN: i64 = 20;

impl Store {
    /// Makes due every ordered head left waiting without a due time (see
    /// [`promote_all_heads`]); returns how many there were. Nothing should ever leave one
    /// so: a non-zero count is logged.
    pub async fn mend_ordering_keys(&self, now: UnixMillis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let promoted = promote_all_heads(self.dialect, now)
            .query()
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if promoted > 0 {
            super::announce_due_work(self.dialect, &mut tx).await?;
        }
        tx.commit().await?;
        if promoted > 0 {
            if let Some(handoff) = self.handoff.get() {
                handoff.wake.notify_one();
            }
        }
        Ok(promoted)
    }

    /// The webhook's keys with calls waiting behind their head, those holding back most
    /// first (at most 20), and how many keys are held in all.
    pub async fn held_keys(&self, webhook_id: &str) -> Result<(Vec<HeldKey>, i64)> {
        let held = "SELECT ordering_key, COUNT(*) - 1 AS waiting, MIN(sequence) AS head \
             FROM webhook_calls WHERE webhook_id = $1 AND status = 'pending' \
             AND ordering_key IS NOT NULL GROUP BY ordering_key HAVING COUNT(*) > 1";
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM ({held}) AS k"
        )))
        .bind(webhook_id.to_owned())
        .fetch_one(&self.read)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT k.ordering_key, k.waiting, h.id, h.attempt_count, h.last_status_code, \
               h.last_error, h.next_attempt_at \
             FROM ({held}) AS k JOIN webhook_calls h ON h.webhook_id = $1 \
               AND h.ordering_key = k.ordering_key AND h.sequence = k.head \
             ORDER BY k.waiting DESC, k.ordering_key LIMIT {HELD_KEYS_SHOWN}"
        )))
        .bind(webhook_id.to_owned())
        .fetch_all(&self.read)
        .await?;
        let keys = rows
            .iter()
            .map(|r| {
                Ok(HeldKey {
                    key: r.try_get("ordering_key")?,
                    head_call_id: r.try_get("id")?,
                    waiting: r.try_get("waiting")?,
                    attempt_count: r.try_get("attempt_count")?,
                    last_status_code: r.try_get("last_status_code")?,
                    last_error: r.try_get("last_error")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((keys, total))
    }
}
