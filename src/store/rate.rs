//! Per-webhook rate limits, shared by every process of a cluster: each webhook's next free
//! send slot lives in one row, and taking a slot is one atomic upsert (a generic cell rate
//! algorithm). A call whose slot is in the future is put back in the queue, due at its
//! slot, and keeps the slot: taken again, it goes without asking for another.

use std::sync::Arc;

use super::sql::Sql;
use super::tx::{Tx, WriteJob};
use super::{Result, Store};
use crate::domain::time::UnixMillis;

/// The spacing and burst allowance of a limit of `per_s` calls a second, in microseconds.
/// A twentieth of a second's calls may go at once after a quiet spell, so a receiver that
/// allows 200 a second sees at most 210 in any second (within 5 %), and the long-run rate
/// is the limit.
pub fn slot_spacing(per_s: u32) -> (i64, i64) {
    let per_s = i64::from(per_s.max(1));
    let spacing = 1_000_000 / per_s;
    let burst = (per_s / 20).max(1);
    (spacing, spacing * (burst - 1))
}

/// When the call with the slot that `next_slot_us` ended may go (ms), at `now_us`.
pub fn slot_start(next_slot_us: i64, spacing_us: i64, now_us: i64) -> UnixMillis {
    (next_slot_us - spacing_us).max(now_us).div_euclid(1000)
}

struct TakeSlot {
    webhook_id: String,
    spacing_us: i64,
    /// Now minus the burst allowance: slots left unused before it are gone.
    earliest_us: i64,
}

impl WriteJob for TakeSlot {
    type Output = i64;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<i64> {
        let mut sql = Sql::new(
            tx.dialect(),
            "INSERT INTO webhook_rate_slots (webhook_id, next_slot_us) VALUES (",
        );
        sql.bind(self.webhook_id.as_str())
            .push(", ")
            .bind(self.earliest_us + self.spacing_us)
            .push(
                ") ON CONFLICT (webhook_id) DO UPDATE SET next_slot_us = \
                 CASE WHEN webhook_rate_slots.next_slot_us < ",
            )
            .bind(self.earliest_us)
            .push(" THEN ")
            .bind(self.earliest_us)
            .push(" ELSE webhook_rate_slots.next_slot_us END + ")
            .bind(self.spacing_us)
            .push(" RETURNING next_slot_us");
        let rows = tx.fetch_all(sql).await?;
        rows.first()
            .map(|row| row.int("next_slot_us"))
            .unwrap_or_else(|| Err(super::corrupt("rate slot", "no row returned")))
    }
}

impl Store {
    /// Takes the webhook's next send slot under a limit of `per_s` a second; returns when
    /// the call may go (ms, `now_us` or later).
    pub async fn take_rate_slot(
        &self,
        webhook_id: &str,
        per_s: u32,
        now_us: i64,
    ) -> Result<UnixMillis> {
        let (spacing_us, burst_us) = slot_spacing(per_s);
        let next = self
            .writer
            .run(Arc::new(TakeSlot {
                webhook_id: webhook_id.to_owned(),
                spacing_us,
                earliest_us: now_us - burst_us,
            }))
            .await?;
        Ok(slot_start(next, spacing_us, now_us))
    }

    /// Puts a claimed call back in the queue, due at `at`, if its claim still holds.
    /// `holds_rate_slot`: it waits for a rate-limit slot it has taken. (Through the writer:
    /// on SQLite a second writer would wait on the first's lock.)
    pub async fn defer_call(
        &self,
        call_id: &str,
        claim_token: &str,
        at: UnixMillis,
        holds_rate_slot: bool,
    ) -> Result<()> {
        let claims = vec![(call_id.to_owned(), claim_token.to_owned())];
        self.requeue(claims, at, holds_rate_slot).await
    }

    /// Hands claimed calls back so any worker can take them at once (graceful shutdown);
    /// a rate-limit slot they held is given up with them.
    pub async fn release_claims(&self, claims: &[(String, String)], now: UnixMillis) -> Result<()> {
        self.requeue(claims.to_vec(), now, false).await
    }

    async fn requeue(
        &self,
        claims: Vec<(String, String)>,
        at: UnixMillis,
        holds_rate_slot: bool,
    ) -> Result<()> {
        self.writer
            .run(Arc::new(Requeue {
                claims,
                at,
                holds_rate_slot,
            }))
            .await
    }
}

/// Claimed calls back in the queue, due at `at`, where their claims still hold.
struct Requeue {
    /// Call id and claim token.
    claims: Vec<(String, String)>,
    at: UnixMillis,
    holds_rate_slot: bool,
}

impl WriteJob for Requeue {
    type Output = ();

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        for (call_id, claim_token) in &self.claims {
            let mut sql = Sql::new(tx.dialect(), "UPDATE webhook_calls SET next_attempt_at = ");
            sql.bind(self.at)
                .push(", rate_slot_at = ")
                .bind(self.holds_rate_slot.then_some(self.at))
                .push(", claim_token = NULL WHERE id = ")
                .bind(call_id.as_str())
                .push(" AND claim_token = ")
                .bind(claim_token.as_str());
            tx.execute(sql).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_spaces_calls_and_allows_a_twentieth_of_a_second_at_once() {
        assert_eq!(slot_spacing(100), (10_000, 40_000));
        assert_eq!(slot_spacing(5), (200_000, 0));
        assert_eq!(slot_spacing(0), (1_000_000, 0));
    }

    #[test]
    fn a_slot_in_the_past_goes_now() {
        // The slot ended at 1.010 s with 10 ms spacing: it began at 1.000 s.
        assert_eq!(slot_start(1_010_000, 10_000, 900_000), 1_000);
        assert_eq!(slot_start(1_010_000, 10_000, 2_000_000), 2_000);
    }
}
