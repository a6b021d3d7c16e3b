//! The users a projected batch moves: read once, folded in memory event by event, and written
//! once each at the batch's end, in one statement.
//!
//! One statement matters for the search index (`search.rs`), which triggers on `users` keep in
//! an FTS5 table: FTS5 holds a transaction's index changes in memory, and writes them out as a
//! new segment whenever a statement that needs a savepoint begins (every write to `users` does:
//! it has triggers and a foreign key) or a row comes with a lower rowid than the one before.
//! Written one statement per event, every event made a segment of its own and the merges that
//! follow (two thirds of the writer's CPU with users moving). In one statement, its rows in the
//! index's key order, a batch makes one segment.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use super::Tables;
use crate::kyc::UserState;
use crate::store::queries::state_from_row;

/// A user's row in `users`, as the batch leaves it.
#[derive(Debug, Clone)]
pub(super) struct UserRow {
    pub state: UserState,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub status_since: i64,
    pub event_count: i64,
    pub last_event_id: i64,
    pub statuses_reached: i64,
    /// The newer API's reason for a rejection, as the state's delivery gave it.
    pub rejection_reason: Option<String>,
    /// When the provider set the status (Unix ms), where it said.
    pub status_set_at: Option<i64>,
    /// When the counted stay in the status began; `None`: a replay set it (not counted).
    pub stay_from: Option<i64>,
}

/// The users a batch has touched, in the order it first touched them.
#[derive(Debug, Default)]
pub(super) struct Users {
    rows: HashMap<String, UserRow>,
    order: Vec<String>,
}

impl Users {
    /// The user as the batch has left it so far (read from `tables` on its first touch), or
    /// `None` for a user not known yet.
    pub fn get(
        &mut self,
        conn: &Connection,
        tables: Tables,
        external_id: &str,
    ) -> rusqlite::Result<Option<&mut UserRow>> {
        if !self.rows.contains_key(external_id) {
            let Some(row) = read(conn, tables, external_id)? else {
                return Ok(None);
            };
            self.insert(external_id, row);
        }
        Ok(self.rows.get_mut(external_id))
    }

    /// A user the batch makes.
    pub fn insert(&mut self, external_id: &str, row: UserRow) {
        if self.rows.insert(external_id.to_owned(), row).is_none() {
            self.order.push(external_id.to_owned());
        }
    }

    /// Writes every touched user, in one statement: the known ones in the order of their key
    /// in the search index (FTS5 keeps a batch in memory only while rowids ascend), then the
    /// new ones in the order they came (so they get the index's keys in that order, as they
    /// did one statement at a time).
    pub fn write(self, conn: &Connection, tables: Tables) -> rusqlite::Result<()> {
        if self.order.is_empty() {
            return Ok(());
        }
        let mut rows = self.rows;
        let batch: Vec<_> = self
            .order
            .into_iter()
            .map(|external_id| {
                let row = rows
                    .remove(&external_id)
                    .expect("every touched user has a row");
                let s = row.state;
                (
                    external_id,
                    s.decision,
                    s.status,
                    s.sub_status,
                    s.participant_id,
                    s.account,
                    row.first_seen_at,
                    row.last_seen_at,
                    row.status_since,
                    row.event_count,
                    row.last_event_id,
                    row.statuses_reached,
                    row.rejection_reason,
                    row.status_set_at,
                    row.stay_from,
                )
            })
            .collect();
        let batch = serde_json::to_string(&batch).expect("users serialise");
        conn.prepare_cached(table_sql!(
            tables,
            "INSERT INTO ",
            "users",
            " (external_id, decision, status, sub_status, participant_id, account,
               first_seen_at, last_seen_at, status_since, event_count, last_event_id,
               statuses_reached, rejection_reason, status_set_at, stay_from)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
                    value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11,
                    value ->> 12, value ->> 13, value ->> 14
               FROM json_each(?1)
              ORDER BY (SELECT id FROM user_search_ids WHERE external_id = value ->> 0) NULLS LAST,
                       key
             ON CONFLICT (external_id) DO UPDATE SET
               decision = excluded.decision, status = excluded.status,
               sub_status = excluded.sub_status, participant_id = excluded.participant_id,
               account = excluded.account, first_seen_at = excluded.first_seen_at,
               last_seen_at = excluded.last_seen_at, status_since = excluded.status_since,
               event_count = excluded.event_count, last_event_id = excluded.last_event_id,
               statuses_reached = excluded.statuses_reached,
               rejection_reason = excluded.rejection_reason,
               status_set_at = excluded.status_set_at, stay_from = excluded.stay_from"
        ))?
        .execute([batch])?;
        Ok(())
    }
}

/// The user's projected state, if the user is known.
pub(in crate::store) fn user_state(
    conn: &Connection,
    tables: Tables,
    external_id: &str,
) -> rusqlite::Result<Option<UserState>> {
    conn.prepare_cached(table_sql!(
        tables,
        "SELECT decision, status, sub_status, participant_id, account FROM ",
        "users",
        " WHERE external_id = ?1"
    ))?
    .query_row([external_id], |row| state_from_row(row, 0))
    .optional()
}

fn read(conn: &Connection, tables: Tables, external_id: &str) -> rusqlite::Result<Option<UserRow>> {
    conn.prepare_cached(table_sql!(
        tables,
        "SELECT decision, status, sub_status, participant_id, account, first_seen_at,
                last_seen_at, status_since, event_count, last_event_id, statuses_reached,
                rejection_reason, status_set_at, stay_from
           FROM ",
        "users",
        " WHERE external_id = ?1"
    ))?
    .query_row([external_id], |row| {
        Ok(UserRow {
            state: state_from_row(row, 0)?,
            first_seen_at: row.get(5)?,
            last_seen_at: row.get(6)?,
            status_since: row.get(7)?,
            event_count: row.get(8)?,
            last_event_id: row.get(9)?,
            statuses_reached: row.get(10)?,
            rejection_reason: row.get(11)?,
            status_set_at: row.get(12)?,
            stay_from: row.get(13)?,
        })
    })
    .optional()
}
