//! Read-only queries. Streaming ones hand each row to a callback, so memory stays flat at any
//! table size.

use rusqlite::{Connection, OptionalExtension, Row};

use super::{Change, Outcome, StoreError};
use crate::kyc::UserState;

/// A user's current state, as the projection holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub external_id: String,
    pub state: UserState,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub status_since: i64,
    pub event_count: i64,
    /// Why the provider rejected the user, as the event that set its state said.
    pub rejection_reason: Option<String>,
    /// When the provider set the user's status (Unix milliseconds), where it said.
    pub status_set_at: Option<i64>,
}

/// One delivery that named a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub delivery_id: i64,
    pub received_at: i64,
    pub external_id: String,
    pub state: UserState,
    pub event_id: Option<String>,
    pub duplicate: bool,
    /// The delivery this one replayed, when it was sent again from the UI.
    pub replay_of: Option<i64>,
    /// A replay whose body was edited before it was sent.
    pub edited: bool,
    /// The newer envelope's `rejection_reason`.
    pub rejection_reason: Option<String>,
    /// The newer envelope's `status_set_at` (Unix milliseconds).
    pub status_set_at: Option<i64>,
    /// How the monitor came to know it.
    pub source: EventSource,
}

/// How the monitor came to know an event: the provider's webhook, asking the provider's status
/// route (the periodic poll or reconcile), or the partner's side naming a user to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    Webhook,
    Poll,
    Watch,
}

impl EventSource {
    fn from_stored(stored: &str) -> EventSource {
        match stored {
            "poll" => EventSource::Poll,
            "watch" => EventSource::Watch,
            _ => EventSource::Webhook,
        }
    }

    /// `webhook`, `poll` or `watch`, as `export deliveries` spells a delivery's source.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Webhook => "webhook",
            EventSource::Poll => "poll",
            EventSource::Watch => "watch",
        }
    }
}

/// One request to the webhook path, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub received_at: i64,
    pub remote_addr: String,
    pub method: String,
    /// JSON array of `[name, value]` pairs.
    pub headers: String,
    pub body: Option<Vec<u8>>,
    pub body_size: Option<i64>,
    pub webhook_id: Option<String>,
    pub outcome: String,
    pub http_status: u16,
    pub error: Option<String>,
    pub replay_of: Option<i64>,
    /// Learned by polling the provider's status API, not delivered by a webhook.
    pub polled: bool,
    /// Named by the partner as a user to watch (`kyc-monitor watch`), not by the provider.
    pub watched: bool,
}

/// A delivery as the inspector lists it, with what its event kept: the user it named, and the
/// status and decision it said (still known once retention has removed the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDelivery {
    pub delivery: DeliveryRecord,
    pub external_id: Option<String>,
    /// `(status, decision)`.
    pub event_state: Option<(String, String)>,
}

/// One attempt to register the webhook with the provider. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationAttempt {
    pub id: i64,
    pub attempted_at: i64,
    pub webhook_url: String,
    /// `webhookUrl` (the documented body) or `webhook_url` (with a signing secret).
    pub form: String,
    pub api_base: String,
    pub client_id: String,
    /// `None` when the provider could not be asked; the message says why.
    pub validated: Option<bool>,
    pub message: String,
    pub http_status: Option<u16>,
}

/// How many users have one status and decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCount {
    pub status: String,
    pub decision: String,
    pub users: i64,
}

/// One event of a user's timeline with the delivery that carried it, exactly as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub event: EventRecord,
    pub headers: String,
    pub body: Option<Vec<u8>>,
    /// Learned by polling the provider's status API, not delivered by a webhook.
    pub polled: bool,
    /// Named by the partner as a user to watch (`kyc-monitor watch`), not by the provider.
    pub watched: bool,
}

/// Which deliveries a deliveries page shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub outcome: Option<String>,
    /// Only deliveries whose raw body contains these bytes.
    pub body_contains: Option<String>,
    /// Only deliveries older than this id (the page before).
    pub before_id: Option<i64>,
}

pub(super) const USER_COLUMNS: &str =
    "external_id, decision, status, sub_status, participant_id, account,
                            first_seen_at, last_seen_at, status_since, event_count,
                            rejection_reason, status_set_at";
/// An event's columns and what its delivery (`d`, joined once, as [`EVENTS`] does) says of it: the
/// replay's original, an edit, and how the monitor came to know it.
const EVENT_COLUMNS: &str = "events.delivery_id, events.received_at, events.external_id,
                             events.decision, events.status, events.sub_status,
                             events.participant_id, events.account, events.event_id,
                             events.duplicate, d.replay_of,
                             coalesce(d.remote_addr = 'edited replay', 0),
                             events.rejection_reason, events.status_set_at,
                             coalesce(CASE WHEN d.watched THEN 'watch' ELSE d.source END, 'webhook')";
/// The events with their deliveries, for [`EVENT_COLUMNS`].
const EVENTS: &str = "events LEFT JOIN deliveries AS d ON d.id = events.delivery_id";
/// How many columns `EVENT_COLUMNS` names (what a query selects after them starts here).
const EVENT_COLUMN_COUNT: usize = 15;
const DELIVERY_COLUMNS: &str = "id, received_at, remote_addr, method, headers, body, body_size,
                                webhook_id, outcome, http_status, error, replay_of,
                                source = 'poll', watched";

/// A read-only connection.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub(super) fn new(conn: Connection) -> Reader {
        Reader { conn }
    }

    /// For the store's other rooms (the outbox) that read through the same connection.
    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn user(&self, external_id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE external_id = ?1"
            ))?
            .query_row([external_id], user_from_row)
            .optional()
            .map_err(StoreError::from)
    }

    /// Every event of one user, oldest first, duplicates included.
    pub fn user_events(&self, external_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM {EVENTS}
                  WHERE events.external_id = ?1 ORDER BY events.delivery_id"
            ))?
            .query_map([external_id], event_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Users per status and decision, kept by the writer (no scan).
    pub fn user_counts(&self) -> Result<Vec<UserCount>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT status, decision, users FROM user_counts WHERE users > 0 ORDER BY status, decision",
            )?
            .query_map([], |row| Ok(UserCount { status: row.get(0)?, decision: row.get(1)?, users: row.get(2)? }))?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Users whose `externalId` starts with `prefix`, in `externalId` order.
    pub fn users_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        // The primary key's order makes a prefix a range: [prefix, prefix + the highest code point).
        let upper = format!("{prefix}\u{10FFFF}");
        self.conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE external_id >= ?1 AND external_id < ?2
                  ORDER BY external_id LIMIT ?3"
            ))?
            .query_map(rusqlite::params![prefix, upper, limit], user_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// A user's events, oldest first, each with its delivery's headers and raw body.
    pub fn user_timeline(&self, external_id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS}, d.headers, d.body, d.source = 'poll', d.watched
                   FROM events JOIN deliveries AS d ON d.id = events.delivery_id
                  WHERE events.external_id = ?1 ORDER BY events.delivery_id"
            ))?
            .query_map([external_id], |row| {
                Ok(TimelineEntry {
                    event: event_from_row(row)?,
                    headers: row.get(EVENT_COLUMN_COUNT)?,
                    body: row.get(EVENT_COLUMN_COUNT + 1)?,
                    polled: row.get(EVENT_COLUMN_COUNT + 2)?,
                    watched: row.get(EVENT_COLUMN_COUNT + 3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// The newest deliveries matching `filter`, newest first, each with the user it named.
    pub fn deliveries_page(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> Result<Vec<ListedDelivery>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS}, (SELECT external_id FROM events WHERE delivery_id = id),
                        (SELECT status FROM events WHERE delivery_id = id),
                        (SELECT decision FROM events WHERE delivery_id = id)
                   FROM deliveries
                  WHERE id < ?1 AND (?2 IS NULL OR outcome = ?2)
                    AND (?3 IS NULL OR (body IS NOT NULL AND instr(body, CAST(?3 AS BLOB)) > 0))
                  ORDER BY id DESC LIMIT ?4"
            ))?
            .query_map(
                rusqlite::params![
                    filter.before_id.unwrap_or(i64::MAX),
                    filter.outcome,
                    filter.body_contains,
                    limit
                ],
                |row| {
                    // After the delivery's own columns (DELIVERY_COLUMNS).
                    let status: Option<String> = row.get(15)?;
                    let decision: Option<String> = row.get(16)?;
                    Ok(ListedDelivery {
                        delivery: delivery_from_row(row)?,
                        external_id: row.get(14)?,
                        event_state: status.zip(decision),
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// The newest registration attempts first.
    pub fn registrations(&self, limit: u32) -> Result<Vec<RegistrationAttempt>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT id, attempted_at, webhook_url, form, api_base, client_id, validated, message, http_status
                   FROM registrations ORDER BY id DESC LIMIT ?1",
            )?
            .query_map([limit], |row| {
                Ok(RegistrationAttempt {
                    id: row.get(0)?,
                    attempted_at: row.get(1)?,
                    webhook_url: row.get(2)?,
                    form: row.get(3)?,
                    api_base: row.get(4)?,
                    client_id: row.get(5)?,
                    validated: row.get(6)?,
                    message: row.get(7)?,
                    http_status: row.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// A setting's value, if it was ever set. Settings never hold secrets.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()
            .map_err(StoreError::from)
    }

    /// Users whose status is not CLOSED, by externalId, after `after`: what reconcile asks about.
    pub fn unclosed_users(&self, after: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                  WHERE external_id > ?1 AND status <> 'CLOSED' ORDER BY external_id LIMIT ?2"
            ))?
            .query_map(rusqlite::params![after, limit], user_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Users not CLOSED last heard of at or before `heard_by` (Unix ms), those unheard of
    /// longest first, after `after` (`(last_seen_at, external_id)` of the previous page).
    pub fn unclosed_users_unheard_longest(
        &self,
        heard_by: i64,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let (since, id) = after.unwrap_or((i64::MIN, String::new()));
        self.conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                  WHERE status <> 'CLOSED' AND last_seen_at <= ?1
                    AND (last_seen_at, external_id) > (?2, ?3)
                  ORDER BY last_seen_at, external_id LIMIT ?4"
            ))?
            .query_map(rusqlite::params![heard_by, since, id, limit], user_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// How many users are not CLOSED: how many reconcile will ask about.
    pub fn unclosed_user_total(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM users WHERE status <> 'CLOSED'")
            .map_err(StoreError::from)
    }

    /// One delivery by id.
    pub fn delivery(&self, id: i64) -> Result<Option<DeliveryRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
            ))?
            .query_row([id], delivery_from_row)
            .optional()
            .map_err(StoreError::from)
    }

    /// The id of the newest delivery (0 when there is none).
    pub fn latest_delivery_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM deliveries", [], |row| {
                row.get(0)
            })
            .map_err(StoreError::from)
    }

    /// When the newest delivery arrived, if any did.
    pub fn latest_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT received_at FROM deliveries ORDER BY id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::from)
    }

    /// How far the projection (users, events, aggregates, the live feed) has followed the
    /// journal: every delivery up to this id is in it.
    pub fn projected_through(&self) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached("SELECT through FROM projection WHERE id = 1")?
            .query_row([], |row| row.get(0))
            .map_err(StoreError::from)
    }

    /// Waits (polling, at most `limit`) until the projection holds every delivery journaled
    /// when called, as a running monitor's writer brings it there within milliseconds. Returns
    /// how many of those deliveries it still lacks (0 when it caught up; more when no monitor
    /// runs on a journal left ahead of its projection by a crash).
    pub fn settle(&self, limit: std::time::Duration) -> Result<i64, StoreError> {
        let journaled = self.latest_delivery_id()?;
        let deadline = std::time::Instant::now() + limit;
        loop {
            let lacking = journaled - self.projected_through()?;
            if lacking <= 0 || std::time::Instant::now() >= deadline {
                return Ok(lacking.max(0));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Deliveries projected after `after_id`, oldest first, as the live feed announces them:
    /// what a follower that reconnects has missed.
    pub fn changes_after(&self, after_id: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT id, outcome, external_id FROM deliveries LEFT JOIN events ON delivery_id = id
                  WHERE id > ?1 AND id <= (SELECT through FROM projection WHERE id = 1)
                  ORDER BY id LIMIT ?2",
            )?
            .query_map(rusqlite::params![after_id, limit], |row| {
                let outcome: String = row.get(1)?;
                Ok(Change {
                    delivery_id: row.get(0)?,
                    outcome: Outcome::from_stored(&outcome),
                    external_id: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Runs `read` in one read transaction: every query in it sees the same snapshot.
    pub fn snapshot<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Reader) -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn.execute_batch("BEGIN").map_err(failed)?;
        let result = read(self);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    /// How many rows [`Reader::for_each_user`] streams.
    pub fn user_total(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM users")
            .map_err(StoreError::from)
    }

    /// How many rows [`Reader::for_each_event`] streams.
    pub fn event_total(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM events")
            .map_err(StoreError::from)
    }

    /// How many rows [`Reader::for_each_delivery`] streams.
    pub fn delivery_total(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM deliveries")
            .map_err(StoreError::from)
    }

    fn count(&self, sql: &str) -> rusqlite::Result<u64> {
        self.conn
            .query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|n| n as u64)
    }

    /// Every user, in the order they were first seen.
    pub fn for_each_user<E: From<StoreError>>(
        &self,
        each: impl FnMut(UserRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        self.stream(
            &format!("SELECT {USER_COLUMNS} FROM users ORDER BY first_seen_at, external_id"),
            user_from_row,
            each,
        )
    }

    /// Every case note, oldest first.
    pub fn for_each_note<E: From<StoreError>>(
        &self,
        each: impl FnMut(super::NoteRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        self.stream(
            "SELECT id, external_id, written_at, author, text FROM case_notes ORDER BY id",
            super::cases::note_from_row,
            each,
        )
    }

    pub fn note_total(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM case_notes")
            .map_err(StoreError::from)
    }

    /// Every event, oldest first.
    pub fn for_each_event<E: From<StoreError>>(
        &self,
        each: impl FnMut(EventRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        self.stream(
            &format!("SELECT {EVENT_COLUMNS} FROM {EVENTS} ORDER BY events.delivery_id"),
            event_from_row,
            each,
        )
    }

    /// Every recorded request, in arrival order.
    pub fn for_each_delivery<E: From<StoreError>>(
        &self,
        each: impl FnMut(DeliveryRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        self.stream(
            &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY id"),
            delivery_from_row,
            each,
        )
    }

    fn stream<T, E: From<StoreError>>(
        &self,
        sql: &str,
        from_row: fn(&Row) -> rusqlite::Result<T>,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rows = |reader: &Reader| {
            let mut statement = reader.conn.prepare(sql).map_err(failed)?;
            let mut rows = statement.query([]).map_err(failed)?;
            while let Some(row) = rows.next().map_err(failed)? {
                each(from_row(row).map_err(failed)?)?;
            }
            Ok(())
        };
        // One read transaction, so the stream is one consistent snapshot while writes go on:
        // the caller's, when it opened one, or its own.
        if self.conn.is_autocommit() {
            self.snapshot(rows)
        } else {
            rows(self)
        }
    }
}

/// A failed SQLite call as the caller's error, by way of the store's own.
fn failed<E: From<StoreError>>(error: rusqlite::Error) -> E {
    E::from(StoreError::from(error))
}

/// The five state columns starting at `first`, in the order the tables keep them.
pub(super) fn state_from_row(row: &Row, first: usize) -> rusqlite::Result<UserState> {
    Ok(UserState {
        decision: row.get(first)?,
        status: row.get(first + 1)?,
        sub_status: row.get(first + 2)?,
        participant_id: row.get(first + 3)?,
        account: row.get(first + 4)?,
    })
}

pub(super) fn user_from_row(row: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        external_id: row.get(0)?,
        state: state_from_row(row, 1)?,
        first_seen_at: row.get(6)?,
        last_seen_at: row.get(7)?,
        status_since: row.get(8)?,
        event_count: row.get(9)?,
        rejection_reason: row.get(10)?,
        status_set_at: row.get(11)?,
    })
}

fn event_from_row(row: &Row) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        delivery_id: row.get(0)?,
        received_at: row.get(1)?,
        external_id: row.get(2)?,
        state: state_from_row(row, 3)?,
        event_id: row.get(8)?,
        duplicate: row.get(9)?,
        replay_of: row.get(10)?,
        edited: row.get(11)?,
        rejection_reason: row.get(12)?,
        status_set_at: row.get(13)?,
        source: EventSource::from_stored(&row.get::<_, String>(14)?),
    })
}

fn delivery_from_row(row: &Row) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: row.get(0)?,
        received_at: row.get(1)?,
        remote_addr: row.get(2)?,
        method: row.get(3)?,
        headers: row.get(4)?,
        body: row.get(5)?,
        body_size: row.get(6)?,
        webhook_id: row.get(7)?,
        outcome: row.get(8)?,
        http_status: row.get(9)?,
        error: row.get(10)?,
        replay_of: row.get(11)?,
        polled: row.get(12)?,
        watched: row.get(13)?,
    })
}
