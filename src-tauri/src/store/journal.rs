//! The acknowledgement's side of the writer: append deliveries to the journal (the
//! `deliveries` table) with their verdict, and nothing else. Whether an event is a duplicate is
//! decided here, from a point read of the user's projected state and from what is journaled but
//! not yet projected (kept in memory, see [`Unprojected`]); no derived table is written. A
//! watched user is journaled here only when unknown, by the same check.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use crate::kyc::{KycEvent, Payload, UserState};

use super::projection::{self, Tables};
use super::writer::{NewDelivery, Recorded, Verdict};

/// What the journal holds that the projection does not have yet: each user's newest journaled
/// state and the envelope event ids, with the delivery that brought them.
#[derive(Debug, Default)]
pub(super) struct Unprojected {
    users: HashMap<String, (i64, UserState)>,
    event_ids: HashMap<String, i64>,
}

impl Unprojected {
    /// Forgets what the projection now has (every delivery up to `through`).
    pub fn projected_through(&mut self, through: i64) {
        self.users.retain(|_, (id, _)| *id > through);
        self.event_ids.retain(|_, id| *id > through);
    }

    fn absorb(&mut self, batch: Unprojected) {
        self.users.extend(batch.users);
        self.event_ids.extend(batch.event_ids);
    }
}

/// Appends a batch in the caller's transaction and returns each delivery's verdict. What the
/// batch adds to `unprojected` is kept aside until `commit` says the transaction held.
pub(super) struct Append<'a> {
    unprojected: &'a mut Unprojected,
    batch: Unprojected,
}

impl<'a> Append<'a> {
    pub fn new(unprojected: &'a mut Unprojected) -> Append<'a> {
        Append {
            unprojected,
            batch: Unprojected::default(),
        }
    }

    /// Writes one delivery row with its outcome.
    pub fn delivery(
        &mut self,
        tx: &Connection,
        delivery: &NewDelivery,
    ) -> rusqlite::Result<Recorded> {
        let replayed_id = match &delivery.verified_webhook_id {
            Some(id) => webhook_id_seen(tx, id)?,
            None => false,
        };
        let mut known_event = None;
        let (outcome, http_status, error) = match &delivery.verdict {
            Verdict::Payload(Payload::Event(event)) => {
                let known = self.latest_state(tx, &event.external_id)?;
                let duplicate = replayed_id
                    || known.as_ref() == Some(&event.state)
                    || self.event_id_seen(tx, event)?;
                known_event = Some((event, known.is_some()));
                let outcome = if duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                };
                (outcome, 200, None)
            }
            Verdict::Watch(event) => {
                if self.latest_state(tx, &event.external_id)?.is_some() {
                    // Never moves a known user back (an OPEN user to NOT_STARTED): no row.
                    return Ok(Recorded {
                        delivery_id: 0,
                        outcome: Outcome::Duplicate,
                        http_status: 200,
                        error: None,
                    });
                }
                known_event = Some((event, false));
                (Outcome::Accepted, 200, None)
            }
            _ if replayed_id => (Outcome::Duplicate, 200, None),
            Verdict::CameBack => (Outcome::Duplicate, 200, None),
            Verdict::Payload(Payload::Ping) | Verdict::Reachability => (Outcome::Ping, 200, None),
            Verdict::Refused { http_status, error } => {
                (Outcome::Rejected, *http_status, Some(error.clone()))
            }
        };
        tx.prepare_cached(
            "INSERT INTO deliveries
               (received_at, remote_addr, method, headers, body, body_size, webhook_id, outcome, http_status, error,
                replay_of, source, watched)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            delivery.received_at,
            delivery.remote_addr,
            delivery.method,
            delivery.headers,
            delivery.body,
            delivery.body_size,
            delivery.verified_webhook_id,
            outcome.as_str(),
            http_status,
            error,
            delivery.replay_of,
            if delivery.polled { "poll" } else { "webhook" },
            matches!(delivery.verdict, Verdict::Watch(_)),
        ])?;
        let delivery_id = tx.last_insert_rowid();
        if let Some((event, user_known)) = known_event {
            let accepted = outcome == Outcome::Accepted;
            if accepted {
                let state = (delivery_id, event.state.clone());
                self.batch.users.insert(event.external_id.clone(), state);
            }
            // The projector writes an event (and so its id) for a duplicate of a known user too.
            if let (Some(event_id), true) = (&event.event_id, accepted || user_known) {
                self.batch.event_ids.insert(event_id.clone(), delivery_id);
            }
        }
        Ok(Recorded {
            delivery_id,
            outcome,
            http_status,
            error,
        })
    }

    /// The transaction committed: what it journaled counts from now on.
    pub fn commit(self) {
        self.unprojected.absorb(self.batch);
    }

    fn latest_state(
        &self,
        tx: &Connection,
        external_id: &str,
    ) -> rusqlite::Result<Option<UserState>> {
        let journaled = self
            .batch
            .users
            .get(external_id)
            .or_else(|| self.unprojected.users.get(external_id));
        match journaled {
            Some((_, state)) => Ok(Some(state.clone())),
            None => projection::user_state(tx, Tables::Live, external_id),
        }
    }

    fn event_id_seen(&self, tx: &Connection, event: &KycEvent) -> rusqlite::Result<bool> {
        let Some(event_id) = &event.event_id else {
            return Ok(false);
        };
        if self.batch.event_ids.contains_key(event_id)
            || self.unprojected.event_ids.contains_key(event_id)
        {
            return Ok(true);
        }
        projection::event_id_seen(tx, event_id)
    }
}

/// True when an answered (2xx) delivery already carried this verified `webhook-id`.
fn webhook_id_seen(conn: &Connection, webhook_id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM deliveries
                         WHERE webhook_id = ?1 AND outcome IN ('accepted', 'duplicate', 'ping'))",
    )?
    .query_row([webhook_id], |row| row.get(0))
}

/// What the store made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Duplicate,
    Ping,
    Rejected,
}

impl Outcome {
    /// Reads the value of the `outcome` column (its CHECK constraint allows only these).
    pub fn from_stored(text: &str) -> Outcome {
        match text {
            "accepted" => Outcome::Accepted,
            "duplicate" => Outcome::Duplicate,
            "ping" => Outcome::Ping,
            _ => Outcome::Rejected,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ping => "ping",
            Outcome::Rejected => "rejected",
        }
    }
}
