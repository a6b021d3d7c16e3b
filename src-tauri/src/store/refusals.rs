//! Refused requests past the budget: counted per remote address, minute and reason rather than
//! kept one by one (see `ingest::RefusalBudget`), so that a stranger holding the webhook URL
//! cannot grow the database at will.

use rusqlite::params;
use serde::Serialize;

use super::{Reader, StoreError, Writer};

/// How long the counts are kept.
const KEPT_FOR_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;

/// How many of the latest refused deliveries the refused-signature count looks at.
const RECENT_REFUSALS: i64 = 1000;

/// The reason refused requests past the budget are counted under when their signature was
/// refused (401); the others are `over-budget`.
pub const SIGNATURE_OVER_BUDGET: &str = "signature-over-budget";

/// Refused requests counted, not kept: one address, one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct CountedRefusals {
    pub remote_addr: String,
    /// `signature-over-budget` (deliveries refused for their signature past the budget),
    /// `over-budget` (other refusals past it), `checks-over-budget` (reachability checks past
    /// it) or `headers-too-large` (answered 431 before anything could be read).
    pub reason: String,
    pub requests: i64,
    /// The start of the first and of the last minute counted (Unix ms).
    pub first_minute: i64,
    pub last_minute: i64,
}

/// Counts to add: (remote address, minute's start in Unix ms, reason) and how many.
pub type RefusalTally = Vec<((String, i64, &'static str), i64)>;

impl Writer {
    /// Adds counted refusals; forgets those older than a week.
    pub async fn count_refusals(&self, tally: RefusalTally, now: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            let mut add = tx.prepare_cached(
                "INSERT INTO refused_counts (remote_addr, minute, reason, requests)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (remote_addr, minute, reason)
                 DO UPDATE SET requests = requests + excluded.requests",
            )?;
            for ((addr, minute, reason), requests) in &tally {
                add.execute(params![addr, minute, reason, requests])?;
            }
            tx.prepare_cached("DELETE FROM refused_counts WHERE minute < ?1")?
                .execute([now - KEPT_FOR_MILLIS])?;
            Ok(())
        })
        .await
    }
}

impl Reader {
    /// Deliveries refused for their signature (401) received since `since` (Unix ms): those
    /// kept, among the last [`RECENT_REFUSALS`] refused ones (the alert rule needs to know
    /// whether there were ten, not to count a flood), and those past the budget, counted rather
    /// than kept ([`SIGNATURE_OVER_BUDGET`]; counted per minute, so a minute that overlaps the
    /// window counts whole).
    pub fn refused_signatures_since(&self, since: i64) -> Result<i64, StoreError> {
        let kept: i64 = self
            .connection()
            .prepare_cached(
                "SELECT count(*) FROM (SELECT http_status, received_at FROM deliveries
                  WHERE outcome = 'rejected' ORDER BY id DESC LIMIT ?2)
                 WHERE http_status = 401 AND received_at >= ?1",
            )?
            .query_row(params![since, RECENT_REFUSALS], |row| row.get(0))?;
        let counted: i64 = self
            .connection()
            .prepare_cached(
                "SELECT COALESCE(sum(requests), 0) FROM refused_counts
                  WHERE minute > ?1 - 60000 AND reason = ?2",
            )?
            .query_row(params![since, SIGNATURE_OVER_BUDGET], |row| row.get(0))?;
        Ok(kept.saturating_add(counted))
    }

    /// Refusals counted since `since` (Unix ms), per address and reason, most first.
    pub fn counted_refusals(&self, since: i64) -> Result<Vec<CountedRefusals>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT remote_addr, reason, sum(requests), min(minute), max(minute)
                   FROM refused_counts WHERE minute >= ?1
                  GROUP BY remote_addr, reason ORDER BY sum(requests) DESC LIMIT 20",
            )?
            .query_map([since], |row| {
                Ok(CountedRefusals {
                    remote_addr: row.get(0)?,
                    reason: row.get(1)?,
                    requests: row.get(2)?,
                    first_minute: row.get(3)?,
                    last_minute: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }
}
