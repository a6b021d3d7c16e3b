//! The outbox: every accepted delivery, once projected, waits here for each destination it is
//! forwarded to, with its attempts. It is part of the projection's transaction (so a crash loses
//! nothing and repeats at most what was not confirmed) but never rebuilt: it is state, not a
//! derivation.

use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

use super::queries::Reader;
use super::{Store, StoreError, Writer};

/// A backend the monitor forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub id: i64,
    pub url: String,
    pub paused: bool,
}

/// A delivery due at a destination: the first still pending of its user (a user's deliveries
/// go out in order).
#[derive(Debug, Clone)]
pub struct DueForward {
    pub delivery_id: i64,
    pub attempts: i64,
    /// When the first attempt was made (Unix ms), if one was.
    pub first_attempt_at: Option<i64>,
    pub body: Option<Vec<u8>>,
    /// The stored headers (a JSON array of pairs), for the original content type.
    pub headers: String,
}

/// Where one delivery stands at one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardState {
    pub destination_id: i64,
    pub url: String,
    pub paused: bool,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_try_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Tried again at `next_try_at` (Unix ms).
    Retry {
        status: Option<u16>,
        error: String,
        next_try_at: i64,
    },
    /// Given up: refused by the backend (a 4xx other than 408 and 429), or out of time.
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// Puts an accepted delivery in the outbox of every active destination (the projector calls
/// it, in its transaction).
pub(super) fn enqueue(
    conn: &Connection,
    delivery_id: i64,
    external_id: &str,
    at: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO forwards (destination_id, delivery_id, external_id, state, next_try_at)
         SELECT id, ?1, ?2, 'pending', ?3 FROM destinations WHERE active = 1",
    )?
    .execute(params![delivery_id, external_id, at])?;
    Ok(())
}

/// Whether any destination takes new deliveries.
pub(super) fn forwarding(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM destinations WHERE active = 1)")?
        .query_row([], |row| row.get(0))
}

/// Makes `urls` the destinations of this run: new ones are added (forwarding what is
/// accepted from now on), ones no longer given stop receiving new deliveries (their pending
/// ones are still worked off only if given again). Runs on the writer's connection before it
/// projects anything (see `Store::start_writer_forwarding_to`).
///
/// A destination is kept by `kept(url)`, its URL without the credentials in it: a password or
/// token never reaches the database (nor its backups); the whole URL lives in this run's
/// memory, from its configuration, and the destinations returned carry it.
fn set_destinations(
    tx: &Transaction,
    urls: &[String],
    kept: fn(&str) -> String,
    now: i64,
) -> rusqlite::Result<Vec<Destination>> {
    forget_credentials(tx, kept)?;
    tx.execute("UPDATE destinations SET active = 0", [])?;
    for url in urls {
        tx.execute(
            "INSERT INTO destinations (url, active, added_at) VALUES (?1, 1, ?2)
             ON CONFLICT (url) DO UPDATE SET active = 1",
            params![kept(url), now],
        )?;
    }
    let mut destinations = active_destinations(tx)?;
    for destination in &mut destinations {
        if let Some(url) = urls.iter().find(|url| kept(url) == destination.url) {
            destination.url = url.clone();
        }
    }
    Ok(destinations)
}

/// Destinations an earlier version kept whole, credentials and all, are kept as `kept` makes
/// them; one that would then be another's twin gets its id after it (`(#3)`), so both stay.
/// The active one (this run's, given again) is rewritten first, so it keeps the plain name and
/// its pending forwards: a twin left by a credential changed before is the one renamed.
fn forget_credentials(tx: &Transaction, kept: fn(&str) -> String) -> rusqlite::Result<()> {
    let stored: Vec<(i64, String)> = tx
        .prepare("SELECT id, url FROM destinations ORDER BY active DESC, id DESC")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let whole: Vec<(i64, String)> = stored
        .into_iter()
        .filter(|(_, url)| kept(url) != *url)
        .collect();
    if whole.is_empty() {
        return Ok(());
    }
    // The old text overwritten with zeros, not left in the page's free space.
    tx.pragma_update(None, "secure_delete", true)?;
    for (id, url) in whole {
        let without = kept(&url);
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM destinations WHERE url = ?1)",
            [&without],
            |row| row.get(0),
        )?;
        let without = match taken {
            true => format!("{without} (#{id})"),
            false => without,
        };
        tx.execute(
            "UPDATE destinations SET url = ?1 WHERE id = ?2",
            params![without, id],
        )?;
    }
    tx.pragma_update(None, "secure_delete", false)
}

impl Store {
    /// Starts the writer with `urls` as this run's forwarding destinations, set before the
    /// projector puts anything in an outbox; returns them with their ids. The database keeps
    /// each as `kept(url)` makes it (without its credentials; see `set_destinations`).
    pub fn start_writer_forwarding_to(
        &self,
        urls: &[String],
        kept: fn(&str) -> String,
        now: i64,
    ) -> Result<(Writer, Vec<Destination>), StoreError> {
        let urls = urls.to_vec();
        self.start_writer_with(move |tx| set_destinations(tx, &urls, kept, now))
    }
}

fn active_destinations(conn: &Connection) -> rusqlite::Result<Vec<Destination>> {
    conn.prepare_cached("SELECT id, url, paused FROM destinations WHERE active = 1 ORDER BY id")?
        .query_map([], |row| {
            Ok(Destination {
                id: row.get(0)?,
                url: row.get(1)?,
                paused: row.get(2)?,
            })
        })?
        .collect()
}

/// A pending forward `f` that no older pending one of the same user holds back.
const USER_HEAD: &str = "NOT EXISTS (SELECT 1 FROM forwards e
                    WHERE e.destination_id = f.destination_id AND e.state = 'pending'
                      AND e.external_id = f.external_id AND e.delivery_id < f.delivery_id)";

impl Reader {
    /// The destinations deliveries are forwarded to in this run.
    pub fn destinations(&self) -> Result<Vec<Destination>, StoreError> {
        active_destinations(self.connection()).map_err(StoreError::from)
    }

    /// Whether a destination is paused now.
    pub fn destination_paused(&self, destination_id: i64) -> Result<bool, StoreError> {
        self.connection()
            .prepare_cached("SELECT paused FROM destinations WHERE id = ?1")?
            .query_row([destination_id], |row| row.get(0))
            .map_err(StoreError::from)
    }

    /// Up to `limit` deliveries due at `destination_id` by `now`: for each user, the oldest
    /// still pending, if its time has come; first attempts first, then retries by due time.
    pub fn due_forwards(
        &self,
        destination_id: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<DueForward>, StoreError> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT f.delivery_id, f.attempts, f.first_attempt_at, d.body, d.headers
                   FROM forwards f JOIN deliveries d ON d.id = f.delivery_id
                  WHERE f.destination_id = ?1 AND f.state = 'pending' AND f.next_try_at <= ?2
                    AND {USER_HEAD}
                  ORDER BY f.attempts > 0, f.next_try_at, f.delivery_id LIMIT ?3"
            ))?
            .query_map(params![destination_id, now, limit as i64], |row| {
                Ok(DueForward {
                    delivery_id: row.get(0)?,
                    attempts: row.get(1)?,
                    first_attempt_at: row.get(2)?,
                    body: row.get(3)?,
                    headers: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// When the next pending delivery at `destination_id` is due, if any is pending.
    pub fn next_forward_due(&self, destination_id: i64) -> Result<Option<i64>, StoreError> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT min(f.next_try_at) FROM forwards f
                  WHERE f.destination_id = ?1 AND f.state = 'pending' AND {USER_HEAD}"
            ))?
            .query_row([destination_id], |row| row.get(0))
            .map_err(StoreError::from)
    }

    /// Where a delivery stands at every destination it was put out for.
    pub fn forwards_of(&self, delivery_id: i64) -> Result<Vec<ForwardState>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT f.destination_id, d.url, d.paused, f.state, f.attempts,
                        CASE WHEN f.state = 'pending' THEN f.next_try_at END,
                        f.last_attempt_at, f.last_status, f.last_error
                   FROM forwards f JOIN destinations d ON d.id = f.destination_id
                  WHERE f.delivery_id = ?1 ORDER BY f.destination_id",
            )?
            .query_map([delivery_id], |row| {
                Ok(ForwardState {
                    destination_id: row.get(0)?,
                    url: row.get(1)?,
                    paused: row.get(2)?,
                    state: row.get(3)?,
                    attempts: row.get(4)?,
                    next_try_at: row.get(5)?,
                    last_attempt_at: row.get(6)?,
                    last_status: row.get(7)?,
                    last_error: row.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// How many deliveries wait at `destination_id`, and how many failed there.
    pub fn forward_counts(&self, destination_id: i64) -> Result<(i64, i64), StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'failed'), 0)
                   FROM forwards WHERE destination_id = ?1",
            )?
            .query_row([destination_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(StoreError::from)
    }
}

impl Writer {
    /// Keeps what an attempt to forward `delivery_id` to `destination_id` came to.
    pub async fn record_forward(
        &self,
        destination_id: i64,
        delivery_id: i64,
        at: i64,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        self.write(move |tx| record_attempt(tx, destination_id, delivery_id, at, &attempt))
            .await
    }

    /// Pauses or resumes forwarding to a destination.
    pub async fn pause_destination(
        &self,
        destination_id: i64,
        paused: bool,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE destinations SET paused = ?2 WHERE id = ?1",
                params![destination_id, paused],
            )? == 1)
        })
        .await
    }

    /// Makes a delivery due again at once at every destination where it is pending or failed;
    /// returns at how many.
    pub async fn retry_forward(&self, delivery_id: i64, now: i64) -> Result<usize, StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE forwards SET state = 'pending', next_try_at = ?2
                  WHERE delivery_id = ?1 AND state IN ('pending', 'failed')",
                params![delivery_id, now],
            )
        })
        .await
    }
}

fn record_attempt(
    tx: &Transaction,
    destination_id: i64,
    delivery_id: i64,
    at: i64,
    attempt: &Attempt,
) -> rusqlite::Result<()> {
    let (state, status, error, next_try_at) = match attempt {
        Attempt::Delivered { status } => ("delivered", Some(*status), None, None),
        Attempt::Retry {
            status,
            error,
            next_try_at,
        } => ("pending", *status, Some(error.as_str()), Some(*next_try_at)),
        Attempt::Failed { status, error } => ("failed", *status, Some(error.as_str()), None),
    };
    tx.execute(
        "UPDATE forwards SET state = ?3, attempts = attempts + 1, last_attempt_at = ?4,
                             first_attempt_at = coalesce(first_attempt_at, ?4),
                             last_status = ?5, last_error = ?6,
                             next_try_at = coalesce(?7, next_try_at)
          WHERE destination_id = ?1 AND delivery_id = ?2",
        params![
            destination_id,
            delivery_id,
            state,
            at,
            status,
            error,
            next_try_at
        ],
    )?;
    Ok(())
}
