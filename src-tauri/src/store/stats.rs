//! The compliance stats' reads: time to CLOSED, decisions per day, how many reached each
//! status, how long stays lasted, deliveries per minute. Read from the aggregates the projector
//! keeps (`decision_days`, `status_reached`, `status_stays`, `close_times`): nothing is scanned
//! at query time.

use rusqlite::OptionalExtension;

use super::{Reader, StoreError};

/// Deliveries received in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCount {
    /// Unix milliseconds at the start of the minute.
    pub minute_start: i64,
    pub deliveries: i64,
    pub rejected: i64,
}

/// Users whose decision became one decision on one UTC day (see `decision_days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionDayCount {
    /// Days since 1970-01-01, UTC.
    pub day: i64,
    pub decision: String,
    pub users: i64,
}

/// The finished stays in one status and how long they lasted, read from the `status_stays`
/// histogram: exact below a second, within 0.5% above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusStays {
    pub status: String,
    pub stays: i64,
    pub median_ms: i64,
    pub p90_ms: i64,
}

/// The middle of the bucket holding the floor((total - 1) * share)-th duration, counting from
/// 0, of a histogram in bucket order (as `time_to_close_within` reads `close_times`).
fn within(buckets: &[(i64, i64)], total: i64, share: f64) -> i64 {
    let rank = ((total - 1) as f64 * share) as i64;
    let mut running = 0;
    for (bucket, users) in buckets {
        running += users;
        if running > rank {
            return super::projection::bucket_middle(*bucket);
        }
    }
    buckets
        .last()
        .map_or(0, |(bucket, _)| super::projection::bucket_middle(*bucket))
}

impl Reader {
    /// The median time from first seen to CLOSED over closed users, in milliseconds: exact
    /// below a second, within 0.5% above (see `close_times`).
    pub fn median_time_to_close(&self) -> Result<Option<i64>, StoreError> {
        self.time_to_close_within(0.5)
    }

    /// The time from first seen to CLOSED within which `share` of the closed users closed
    /// (0.5: the median, 0.9: the 90th percentile), from the maintained histogram.
    pub fn time_to_close_within(&self, share: f64) -> Result<Option<i64>, StoreError> {
        let closed: i64 = self
            .connection()
            .prepare_cached("SELECT coalesce(sum(users), 0) FROM close_times")?
            .query_row([], |row| row.get(0))?;
        if closed == 0 {
            return Ok(None);
        }
        // The bucket holding the floor((closed - 1) * share)-th time, counting from 0 (for the
        // median, the lower one).
        self.connection()
            .prepare_cached(
                "SELECT bucket FROM (SELECT bucket, sum(users) OVER (ORDER BY bucket) AS running
                                      FROM close_times WHERE users > 0)
                  WHERE running > ?1 ORDER BY bucket LIMIT 1",
            )?
            .query_row([((closed - 1) as f64 * share) as i64], |row| row.get(0))
            .optional()
            .map(|bucket| bucket.map(super::projection::bucket_middle))
            .map_err(StoreError::from)
    }

    /// Users per decision and UTC day from the day of `since` (Unix milliseconds) on, oldest
    /// first; days and decisions without any are absent.
    pub fn decisions_per_day(&self, since: i64) -> Result<Vec<DecisionDayCount>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT day, decision, users FROM decision_days
                  WHERE day >= ?1 AND users > 0 ORDER BY day, decision",
            )?
            .query_map([super::projection::utc_day(since)], |row| {
                Ok(DecisionDayCount {
                    day: row.get(0)?,
                    decision: row.get(1)?,
                    users: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// How many users were ever in each documented status they were seen in.
    pub fn statuses_reached(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.connection()
            .prepare_cached("SELECT status, users FROM status_reached")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Per status with finished stays, how many and their median and 90th percentile, from the
    /// histogram's few rows a status (never from the events).
    pub fn status_stays(&self) -> Result<Vec<StatusStays>, StoreError> {
        let mut histograms: Vec<(String, Vec<(i64, i64)>)> = Vec::new();
        let mut rows = self.connection().prepare_cached(
            "SELECT status, bucket, users FROM status_stays WHERE users > 0 ORDER BY status, bucket",
        )?;
        let mut rows = rows.query([])?;
        while let Some(row) = rows.next()? {
            let (status, bucket, users): (String, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            match histograms.last_mut() {
                Some((last, buckets)) if *last == status => buckets.push((bucket, users)),
                _ => histograms.push((status, vec![(bucket, users)])),
            }
        }
        Ok(histograms
            .into_iter()
            .map(|(status, buckets)| {
                let stays = buckets.iter().map(|(_, users)| users).sum();
                StatusStays {
                    status,
                    stays,
                    median_ms: within(&buckets, stays, 0.5),
                    p90_ms: within(&buckets, stays, 0.9),
                }
            })
            .collect())
    }

    /// Deliveries per minute from `since` (Unix milliseconds) on; minutes without any are absent.
    pub fn deliveries_per_minute(&self, since: i64) -> Result<Vec<MinuteCount>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT minute * 60000, deliveries, rejected FROM delivery_minutes WHERE minute >= ?1 / 60000 ORDER BY minute",
            )?
            .query_map([since], |row| {
                Ok(MinuteCount { minute_start: row.get(0)?, deliveries: row.get(1)?, rejected: row.get(2)? })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }
}
