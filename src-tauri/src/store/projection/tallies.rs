//! What a projected batch adds to the aggregates, kept in memory and written once a key.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::super::writer::Outcome;
use super::{close_bucket, reached_bit, utc_day, Tables};

/// What a projected batch changes in the aggregates, written once per key at the batch's end:
/// a thousand deliveries touch a few rows of them, not thousands of times.
///
/// Only events that move a user count: a duplicate delivery (and a refused one, which names
/// no user) changes none of them. The compliance stats count:
/// - `decision_days`: a decision on the UTC day a user's decision became it (its first event's
///   decision, or a later one that differs from the user's); "" (no decision) is not counted,
///   and a user whose decision changes twice counts twice;
/// - `status_reached`: users who were ever in a documented status, each user once a status
///   (the funnel; other statuses are left out);
/// - `status_stays`: finished stays in a status, from the event that entered it to the event
///   that left it (each at the provider's `status_set_at` where given, else its arrival), by
///   `close_bucket`; a user still in a status has no stay counted for it.
///
/// A replay sent from the inspector counts in none of these three (see `apply_event`).
#[derive(Debug, Default)]
pub(super) struct Tallies {
    users: HashMap<(String, String), i64>,
    closes: HashMap<i64, i64>,
    minutes: HashMap<i64, (i64, i64)>,
    decisions: HashMap<(i64, String), i64>,
    reached: HashMap<&'static str, i64>,
    stays: HashMap<(String, i64), i64>,
}

impl Tallies {
    /// Users per status and decision, kept in step with `users`.
    pub(super) fn user(&mut self, status: &str, decision: &str, change: i64) {
        *self
            .users
            .entry((status.to_owned(), decision.to_owned()))
            .or_default() += change;
    }

    /// Closed users by how long they took to close.
    pub(super) fn close(&mut self, millis: i64, change: i64) {
        *self.closes.entry(close_bucket(millis)).or_default() += change;
    }

    /// A user's decision became `decision` at `at`.
    pub(super) fn decided(&mut self, at: i64, decision: &str) {
        if !decision.is_empty() {
            *self
                .decisions
                .entry((utc_day(at), decision.to_owned()))
                .or_default() += 1;
        }
    }

    /// A user entered `status`, having been in the documented statuses of `before` (bits).
    /// Returns the bits with this status's.
    pub(super) fn entered(&mut self, status: &str, before: i64) -> i64 {
        let bit = reached_bit(status);
        if bit != 0 && before & bit == 0 {
            let known = crate::kyc::KNOWN_STATUSES[bit.trailing_zeros() as usize];
            *self.reached.entry(known).or_default() += 1;
        }
        before | bit
    }

    /// A user left `status` after `millis` in it.
    pub(super) fn stayed(&mut self, status: &str, millis: i64) {
        *self
            .stays
            .entry((status.to_owned(), close_bucket(millis)))
            .or_default() += 1;
    }

    pub(super) fn minute(&mut self, received_at: i64, outcome: Outcome) {
        let minute = self.minutes.entry(received_at / 60_000).or_default();
        minute.0 += 1;
        minute.1 += i64::from(outcome == Outcome::Rejected);
    }

    pub(super) fn write(self, conn: &Connection, tables: Tables) -> rusqlite::Result<()> {
        let mut users = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "user_counts",
            " (status, decision, users) VALUES (?1, ?2, ?3)
             ON CONFLICT (status, decision) DO UPDATE SET users = users + excluded.users"
        ))?;
        for ((status, decision), change) in self.users.into_iter().filter(|(_, c)| *c != 0) {
            users.execute(params![status, decision, change])?;
        }
        let mut closes = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "close_times",
            " (bucket, users) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET users = users + excluded.users"
        ))?;
        for (bucket, change) in self.closes.into_iter().filter(|(_, c)| *c != 0) {
            closes.execute(params![bucket, change])?;
        }
        let mut minutes = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "delivery_minutes",
            " (minute, deliveries, rejected) VALUES (?1, ?2, ?3)
             ON CONFLICT (minute) DO UPDATE SET deliveries = deliveries + excluded.deliveries,
                                                rejected = rejected + excluded.rejected"
        ))?;
        for (minute, (deliveries, rejected)) in self.minutes {
            minutes.execute(params![minute, deliveries, rejected])?;
        }
        let mut decisions = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "decision_days",
            " (day, decision, users) VALUES (?1, ?2, ?3)
             ON CONFLICT (day, decision) DO UPDATE SET users = users + excluded.users"
        ))?;
        for ((day, decision), users) in self.decisions {
            decisions.execute(params![day, decision, users])?;
        }
        let mut reached = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "status_reached",
            " (status, users) VALUES (?1, ?2)
             ON CONFLICT (status) DO UPDATE SET users = users + excluded.users"
        ))?;
        for (status, users) in self.reached {
            reached.execute(params![status, users])?;
        }
        let mut stays = conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "status_stays",
            " (status, bucket, users) VALUES (?1, ?2, ?3)
             ON CONFLICT (status, bucket) DO UPDATE SET users = users + excluded.users"
        ))?;
        for ((status, bucket), users) in self.stays {
            stays.execute(params![status, bucket, users])?;
        }
        Ok(())
    }
}
