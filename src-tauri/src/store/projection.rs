//! The projector: follows the journal (the `deliveries` table) by id from its watermark and
//! derives events, users and the aggregates from it. The live writer runs it between
//! acknowledgement batches; `rebuild` runs the very same code from zero into fresh tables and
//! swaps them in, so live and rebuilt state cannot disagree by construction.
//!
//! Whether a delivery is a duplicate was decided when it was journaled (its `outcome`); the
//! projector applies that verdict, it never decides again.

use rusqlite::{params, Connection, OptionalExtension};

use crate::kyc::{parse_payload, EventDetails, KycEvent, Payload};

use super::queries::state_from_row;
use super::writer::{Change, Outcome};

/// A statement on one derived table of `tables`, spelled out at compile time for both sets (the
/// projector runs these for every delivery: no formatting on that path).
macro_rules! table_sql {
    ($tables:expr, $before:literal, $table:literal, $after:literal) => {
        match $tables {
            Tables::Live => concat!($before, $table, $after),
            Tables::Rebuild => concat!($before, "rebuild_", $table, $after),
        }
    };
}

/// The derived tables: the live ones, or a fresh set that a rebuild fills before swapping it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tables {
    Live,
    Rebuild,
}

impl Tables {
    fn prefix(self) -> &'static str {
        match self {
            Tables::Live => "",
            Tables::Rebuild => "rebuild_",
        }
    }

    /// `sql` with `{p}` replaced by this set's table prefix (for the rebuild's DDL).
    fn sql(self, sql: &str) -> String {
        sql.replace("{p}", self.prefix())
    }
}

/// The derived tables as the migrations leave them, without their secondary indexes; `{p}` is
/// the prefix. `rebuild` makes a fresh set from this, so it must match the live tables column
/// for column (a test compares them).
pub(super) const DERIVED_TABLES: &str = r#"
    CREATE TABLE {p}events (
        delivery_id    INTEGER PRIMARY KEY REFERENCES deliveries (id),
        received_at    INTEGER NOT NULL,
        external_id    TEXT NOT NULL,
        decision       TEXT NOT NULL,
        status         TEXT NOT NULL,
        sub_status     TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        account        TEXT NOT NULL,
        event_id       TEXT,
        duplicate      INTEGER NOT NULL CHECK (duplicate IN (0, 1)),
        rejection_reason TEXT,
        status_set_at  INTEGER
    ) STRICT;
    CREATE TABLE {p}users (
        external_id    TEXT PRIMARY KEY,
        decision       TEXT NOT NULL,
        status         TEXT NOT NULL,
        sub_status     TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        account        TEXT NOT NULL,
        first_seen_at  INTEGER NOT NULL,
        last_seen_at   INTEGER NOT NULL,
        status_since   INTEGER NOT NULL,
        event_count    INTEGER NOT NULL,
        last_event_id  INTEGER NOT NULL REFERENCES {p}events (delivery_id),
        statuses_reached INTEGER NOT NULL DEFAULT 0,
        rejection_reason TEXT,
        status_set_at  INTEGER,
        stay_from      INTEGER
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE {p}user_counts (
        status   TEXT NOT NULL,
        decision TEXT NOT NULL,
        users    INTEGER NOT NULL,
        PRIMARY KEY (status, decision)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE {p}delivery_minutes (
        minute     INTEGER PRIMARY KEY,
        deliveries INTEGER NOT NULL,
        rejected   INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE {p}close_times (
        bucket INTEGER PRIMARY KEY,
        users  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE {p}decision_days (
        day      INTEGER NOT NULL,
        decision TEXT NOT NULL,
        users    INTEGER NOT NULL,
        PRIMARY KEY (day, decision)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE {p}status_reached (
        status TEXT PRIMARY KEY,
        users  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE {p}status_stays (
        status TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        users  INTEGER NOT NULL,
        PRIMARY KEY (status, bucket)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE {p}projection (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        through INTEGER NOT NULL
    ) STRICT;
    INSERT INTO {p}projection (id, through) VALUES (1, 0);
"#;

/// The derived tables' secondary indexes; a rebuild makes them once its tables are full.
pub(super) const DERIVED_INDEXES: &str = r#"
    CREATE INDEX events_by_user ON events (external_id, delivery_id);
    CREATE INDEX events_by_event_id ON events (event_id) WHERE event_id IS NOT NULL;
    CREATE INDEX users_by_status ON users (status, status_since DESC, external_id);
"#;

/// The derived tables' names, for a rebuild's swap.
pub(super) const DERIVED_NAMES: [&str; 9] = [
    "users",
    "events",
    "user_counts",
    "delivery_minutes",
    "close_times",
    "decision_days",
    "status_reached",
    "status_stays",
    "projection",
];

/// The journal row the projector reads: the body only where it names a user.
struct Journaled {
    id: i64,
    received_at: i64,
    outcome: Outcome,
    body: Option<Vec<u8>>,
    trimmed: bool,
    /// Named by the partner (`watch`), not sent by the provider: never forwarded.
    watched: bool,
    /// Sent again by a person from the inspector: moves the user, never counts in the stats.
    replay: bool,
    /// Learned by asking the provider (poll, reconcile): not a request to the webhook.
    polled: bool,
}

/// The event a trimmed delivery gave, as the live events table keeps it (a rebuild reads it
/// there before swapping the tables).
fn kept_event(conn: &Connection, delivery_id: i64) -> rusqlite::Result<Option<KycEvent>> {
    conn.prepare_cached(
        "SELECT external_id, decision, status, sub_status, participant_id, account, event_id,
                rejection_reason, status_set_at
           FROM events WHERE delivery_id = ?1",
    )?
    .query_row([delivery_id], |row| {
        Ok(KycEvent {
            external_id: row.get(0)?,
            state: state_from_row(row, 1)?,
            event_id: row.get(6)?,
            details: EventDetails {
                rejection_reason: row.get(7)?,
                status_set_at: row.get(8)?,
            },
        })
    })
    .optional()
}

/// Where the projection stands: every delivery up to this id is in the derived tables.
pub(super) fn watermark(conn: &Connection, tables: Tables) -> rusqlite::Result<i64> {
    conn.prepare_cached(table_sql!(
        tables,
        "SELECT through FROM ",
        "projection",
        " WHERE id = 1"
    ))?
    .query_row([], |row| row.get(0))
}

/// Projects up to `limit` journaled deliveries after the watermark, and moves the watermark in
/// the same transaction (the caller's). Returns what was projected, in order, and the
/// watermark after it.
pub(super) fn project(
    conn: &Connection,
    tables: Tables,
    limit: usize,
) -> rusqlite::Result<(Vec<Change>, i64)> {
    let from = watermark(conn, tables)?;
    let rows = conn
        .prepare_cached(
            "SELECT id, received_at, outcome,
                    CASE WHEN outcome IN ('accepted', 'duplicate') THEN body END, trimmed, watched,
                    replay_of IS NOT NULL, source = 'poll'
               FROM deliveries WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![from, limit as i64], |row| {
            Ok(Journaled {
                id: row.get(0)?,
                received_at: row.get(1)?,
                outcome: Outcome::from_stored(&row.get::<_, String>(2)?),
                body: row.get(3)?,
                trimmed: row.get(4)?,
                watched: row.get(5)?,
                replay: row.get(6)?,
                polled: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = rows.last().map(|row| row.id) else {
        return Ok((Vec::new(), from));
    };
    let mut changes = Vec::with_capacity(rows.len());
    let mut tallies = Tallies::default();
    let mut users = Users::default();
    // Looked up once a batch: most monitors forward nowhere.
    let forwarding = tables == Tables::Live && super::outbox::forwarding(conn)?;
    for row in rows {
        let event = match row.body.as_deref().map(parse_payload) {
            Some(Ok(Payload::Event(event))) => Some(event),
            // Retention removed the raw body: the event kept its own fields.
            _ if row.trimmed => kept_event(conn, row.id)?,
            _ => None,
        };
        let duplicate = row.outcome == Outcome::Duplicate;
        if let Some(event) = &event {
            let journaled = Arrival {
                delivery_id: row.id,
                received_at: row.received_at,
                duplicate,
                replay: row.replay,
            };
            apply_event(conn, tables, (&mut tallies, &mut users), &journaled, event)?;
            if forwarding && !duplicate && !row.watched {
                super::outbox::enqueue(conn, row.id, &event.external_id, row.received_at)?;
            }
        }
        // The deliveries per minute are the webhook's traffic: a watch import or a poll's
        // answers are not requests to it.
        if !row.watched && !row.polled {
            tallies.minute(row.received_at, row.outcome);
        }
        changes.push(Change {
            delivery_id: row.id,
            outcome: row.outcome,
            external_id: event.map(|event| event.external_id),
        });
    }
    users.write(conn, tables)?;
    tallies.write(conn, tables)?;
    conn.prepare_cached(table_sql!(
        tables,
        "UPDATE ",
        "projection",
        " SET through = ?1 WHERE id = 1"
    ))?
    .execute([last])?;
    Ok((changes, last))
}

/// How a delivery that named a user arrived.
struct Arrival {
    delivery_id: i64,
    received_at: i64,
    duplicate: bool,
    replay: bool,
}

/// True when a projected event carried this envelope `event_id`.
pub(super) fn event_id_seen(conn: &Connection, event_id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE event_id = ?1)")?
        .query_row([event_id], |row| row.get(0))
}

/// The bucket of a duration in `close_times` and `status_stays`: its number of digits and its
/// first three digits (in milliseconds), so buckets sort like the times, are exact below a
/// second and within 0.5% above. The migrations that fill those tables compute the same in SQL.
pub(super) fn close_bucket(millis: i64) -> i64 {
    let text = millis.max(0).to_string();
    let lead: i64 = text[..text.len().min(3)].parse().expect("digits");
    text.len() as i64 * 1000 + lead
}

/// The middle of a bucket, in milliseconds.
pub(super) fn bucket_middle(bucket: i64) -> i64 {
    let (digits, lead) = (bucket / 1000, bucket % 1000);
    let unit = 10i64.pow((digits - 3).max(0) as u32);
    lead * unit + unit / 2
}

/// The bit of a documented status in `users.statuses_reached` (the funnel's memory of which
/// statuses a user has been in); none for other statuses, which the funnel leaves out.
fn reached_bit(status: &str) -> i64 {
    crate::kyc::KNOWN_STATUSES
        .iter()
        .position(|known| *known == status)
        .map_or(0, |n| 1 << n)
}

/// The UTC day (days since 1970-01-01) of a time in Unix milliseconds.
pub(super) fn utc_day(millis: i64) -> i64 {
    millis / 86_400_000
}

/// Adds the event row and moves the user: a duplicate only counts as seen, it is no transition
/// (one that repeats the user's state exactly may complete the provider's time and reason the
/// state lacked). A duplicate naming a user never seen makes no event and no user (the delivery
/// alone keeps it): a replayed `webhook-id` or `event_id` must not create users. A replay from
/// the inspector moves the user like any delivery but counts in none of the stats, nor does the
/// stay it begins. A stay runs from when the provider set the status to when it set the next
/// one, each the arrival time where the provider gave none.
fn apply_event(
    conn: &Connection,
    tables: Tables,
    (tallies, users): (&mut Tallies, &mut Users),
    arrival: &Arrival,
    event: &KycEvent,
) -> rusqlite::Result<()> {
    let previous = users.get(conn, tables, &event.external_id)?;
    if arrival.duplicate && previous.is_none() {
        return Ok(());
    }
    let (s, details) = (&event.state, &event.details);
    let received_at = arrival.received_at;
    conn.prepare_cached(table_sql!(
        tables,
        "INSERT INTO ",
        "events",
        " (delivery_id, received_at, external_id, decision, status, sub_status,
                                participant_id, account, event_id, duplicate, rejection_reason,
                                status_set_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        arrival.delivery_id,
        received_at,
        event.external_id,
        s.decision,
        s.status,
        s.sub_status,
        s.participant_id,
        s.account,
        event.event_id,
        arrival.duplicate,
        details.rejection_reason,
        details.status_set_at,
    ])?;
    const CLOSED: &str = "CLOSED";
    let set_at = details.status_set_at.unwrap_or(received_at);
    let counted = !arrival.replay;
    match previous {
        None => {
            tallies.user(&s.status, &s.decision, 1);
            if s.status == CLOSED {
                tallies.close(0, 1);
            }
            let mut reached = 0;
            if counted {
                tallies.decided(received_at, &s.decision);
                reached = tallies.entered(&s.status, 0);
            }
            users.insert(
                &event.external_id,
                UserRow {
                    state: s.clone(),
                    first_seen_at: received_at,
                    last_seen_at: received_at,
                    status_since: received_at,
                    event_count: 1,
                    last_event_id: arrival.delivery_id,
                    statuses_reached: reached,
                    rejection_reason: details.rejection_reason.clone(),
                    status_set_at: details.status_set_at,
                    stay_from: counted.then_some(set_at),
                },
            );
        }
        // A duplicate only counts as seen: its event is not the user's last one. One that
        // repeats the state exactly may fill in the provider's time and reason it lacked.
        Some(user) if arrival.duplicate => {
            user.last_seen_at = received_at;
            user.event_count += 1;
            if user.state == *s {
                if user.rejection_reason.is_none() {
                    user.rejection_reason = details.rejection_reason.clone();
                }
                if user.status_set_at.is_none() {
                    if user.stay_from.is_some() {
                        user.stay_from = details.status_set_at.or(user.stay_from);
                    }
                    user.status_set_at = details.status_set_at;
                }
            }
        }
        Some(user) => {
            let before = &user.state;
            let moved = s.status != before.status;
            if (&before.status, &before.decision) != (&s.status, &s.decision) {
                tallies.user(&before.status, &before.decision, -1);
                tallies.user(&s.status, &s.decision, 1);
            }
            if before.status == CLOSED && s.status != CLOSED {
                tallies.close(user.status_since - user.first_seen_at, -1);
            } else if before.status != CLOSED && s.status == CLOSED {
                tallies.close(received_at - user.first_seen_at, 1);
            }
            if counted && s.decision != before.decision {
                tallies.decided(received_at, &s.decision);
            }
            if moved {
                if counted {
                    if let Some(from) = user.stay_from {
                        tallies.stayed(&before.status, set_at - from);
                    }
                    user.statuses_reached = tallies.entered(&s.status, user.statuses_reached);
                }
                user.stay_from = counted.then_some(set_at);
                user.status_since = received_at;
                user.status_set_at = details.status_set_at;
            } else {
                user.status_set_at = user.status_set_at.or(details.status_set_at);
            }
            user.rejection_reason = details.rejection_reason.clone();
            user.state = s.clone();
            user.last_seen_at = received_at;
            user.event_count += 1;
            user.last_event_id = arrival.delivery_id;
        }
    }
    Ok(())
}

mod rebuild;
mod tallies;
mod users;
pub use rebuild::RebuildStep;
pub(super) use rebuild::{drop_rebuild_tables, rebuild, rebuild_tables};
use tallies::Tallies;
pub(super) use users::user_state;
use users::{UserRow, Users};

#[cfg(test)]
mod tests;
