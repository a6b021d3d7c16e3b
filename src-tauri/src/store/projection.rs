//! Events and the per-user projection, derived from deliveries. The live writer and `rebuild`
//! run the same functions in the same order, so a rebuild reproduces the live tables exactly.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::kyc::{parse_payload, KycEvent, Payload, UserState};

/// True when an earlier answered (2xx) delivery carried this verified `webhook-id`.
pub(super) fn webhook_id_seen(
    conn: &Connection,
    webhook_id: &str,
    before_delivery: i64,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM deliveries
                         WHERE webhook_id = ?1 AND id < ?2 AND outcome IN ('accepted', 'duplicate', 'ping'))",
    )?
    .query_row(params![webhook_id, before_delivery], |row| row.get(0))
}

/// Where an event stands against what is stored: a redelivery or not, a known user or not.
#[derive(Debug, Clone)]
pub(super) struct Placement {
    pub duplicate: bool,
    /// The user's state before this event; `None` for a user never seen.
    previous: Option<Previous>,
}

#[derive(Debug, Clone)]
struct Previous {
    state: UserState,
    first_seen_at: i64,
    status_since: i64,
}

/// A redelivery repeats a verified `webhook-id` (`replayed_id`), an `event_id` seen before, or
/// the user's latest state.
pub(super) fn place_event(
    conn: &Connection,
    event: &KycEvent,
    replayed_id: bool,
) -> rusqlite::Result<Placement> {
    let latest = latest_state(conn, &event.external_id)?;
    let mut duplicate = replayed_id || latest.as_ref().map(|p| &p.state) == Some(&event.state);
    if let (false, Some(event_id)) = (duplicate, &event.event_id) {
        duplicate = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE event_id = ?1)")?
            .query_row([event_id], |row| row.get(0))?;
    }
    Ok(Placement {
        duplicate,
        previous: latest,
    })
}

fn latest_state(conn: &Connection, external_id: &str) -> rusqlite::Result<Option<Previous>> {
    conn.prepare_cached(
        "SELECT decision, status, sub_status, participant_id, account, first_seen_at, status_since
           FROM users WHERE external_id = ?1",
    )?
    .query_row([external_id], |row| {
        Ok(Previous {
            state: UserState {
                decision: row.get(0)?,
                status: row.get(1)?,
                sub_status: row.get(2)?,
                participant_id: row.get(3)?,
                account: row.get(4)?,
            },
            first_seen_at: row.get(5)?,
            status_since: row.get(6)?,
        })
    })
    .optional()
}

/// The bucket of a time to close in `close_times`: its number of digits and its first three
/// digits (in milliseconds), so buckets sort like the times, are exact below a second and within
/// 0.5% above. The migration that fills close_times computes the same in SQL.
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

fn count_close(conn: &Connection, millis: i64, change: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO close_times (bucket, users) VALUES (?1, ?2)
         ON CONFLICT (bucket) DO UPDATE SET users = users + excluded.users",
    )?
    .execute(params![close_bucket(millis), change])?;
    Ok(())
}

/// Adds the event row and moves the user: a duplicate only counts as seen, it is no transition.
/// A duplicate naming a user never seen makes no event and no user (the delivery alone keeps
/// it): a replayed `webhook-id` or `event_id` must not create users. Returns whether an event
/// was written.
pub(super) fn apply_event(
    conn: &Connection,
    delivery_id: i64,
    received_at: i64,
    event: &KycEvent,
    placement: &Placement,
) -> rusqlite::Result<bool> {
    if placement.duplicate && placement.previous.is_none() {
        return Ok(false);
    }
    let s = &event.state;
    conn.prepare_cached(
        "INSERT INTO events (delivery_id, received_at, external_id, decision, status, sub_status,
                             participant_id, account, event_id, duplicate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        delivery_id,
        received_at,
        event.external_id,
        s.decision,
        s.status,
        s.sub_status,
        s.participant_id,
        s.account,
        event.event_id,
        placement.duplicate,
    ])?;
    const CLOSED: &str = "CLOSED";
    match &placement.previous {
        None => {
            count_user(conn, &s.status, &s.decision, 1)?;
            if s.status == CLOSED {
                count_close(conn, 0, 1)?;
            }
        }
        Some(previous) if !placement.duplicate => {
            let before = &previous.state;
            if (&before.status, &before.decision) != (&s.status, &s.decision) {
                count_user(conn, &before.status, &before.decision, -1)?;
                count_user(conn, &s.status, &s.decision, 1)?;
            }
            if before.status == CLOSED && s.status != CLOSED {
                count_close(conn, previous.status_since - previous.first_seen_at, -1)?;
            } else if before.status != CLOSED && s.status == CLOSED {
                count_close(conn, received_at - previous.first_seen_at, 1)?;
            }
        }
        Some(_) => {}
    }
    if placement.previous.is_none() {
        conn.prepare_cached(
            "INSERT INTO users (external_id, decision, status, sub_status, participant_id, account,
                                first_seen_at, last_seen_at, status_since, event_count, last_event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, 1, ?8)",
        )?
        .execute(params![
            event.external_id,
            s.decision,
            s.status,
            s.sub_status,
            s.participant_id,
            s.account,
            received_at,
            delivery_id
        ])?;
    } else if placement.duplicate {
        conn.prepare_cached(
            "UPDATE users SET last_seen_at = ?2, event_count = event_count + 1 WHERE external_id = ?1",
        )?
        .execute(params![event.external_id, received_at])?;
    } else {
        conn.prepare_cached(
            "UPDATE users SET decision = ?2, sub_status = ?4, participant_id = ?5, account = ?6,
                              status_since = CASE WHEN status = ?3 THEN status_since ELSE ?7 END,
                              status = ?3, last_seen_at = ?7, event_count = event_count + 1,
                              last_event_id = ?8
              WHERE external_id = ?1",
        )?
        .execute(params![
            event.external_id,
            s.decision,
            s.status,
            s.sub_status,
            s.participant_id,
            s.account,
            received_at,
            delivery_id
        ])?;
    }
    Ok(true)
}

/// Keeps `user_counts` (users per status and decision) in step with `users`.
fn count_user(
    conn: &Connection,
    status: &str,
    decision: &str,
    change: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO user_counts (status, decision, users) VALUES (?1, ?2, ?3)
         ON CONFLICT (status, decision) DO UPDATE SET users = users + excluded.users",
    )?
    .execute(params![status, decision, change])?;
    Ok(())
}

/// Empties events and users and derives them again from every answered delivery, oldest first.
pub(super) fn rebuild(conn: &mut Connection) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "DELETE FROM close_times; DELETE FROM user_counts; DELETE FROM users; DELETE FROM events;",
    )?;
    let mut replayed = 0;
    {
        let mut deliveries = tx.prepare(
            "SELECT id, received_at, webhook_id, body FROM deliveries
              WHERE outcome IN ('accepted', 'duplicate') AND body IS NOT NULL ORDER BY id",
        )?;
        let mut rows = deliveries.query([])?;
        while let Some(row) = rows.next()? {
            let (id, received_at): (i64, i64) = (row.get(0)?, row.get(1)?);
            let webhook_id: Option<String> = row.get(2)?;
            let body: Vec<u8> = row.get(3)?;
            let Ok(Payload::Event(event)) = parse_payload(&body) else {
                continue;
            };
            let replayed_id = match &webhook_id {
                Some(webhook_id) => webhook_id_seen(&tx, webhook_id, id)?,
                None => false,
            };
            let placement = place_event(&tx, &event, replayed_id)?;
            if apply_event(&tx, id, received_at, &event, &placement)? {
                replayed += 1;
            }
        }
    }
    tx.commit()?;
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::{bucket_middle, close_bucket};

    #[test]
    fn close_buckets_sort_like_the_times_and_stay_close_to_them() {
        let times = [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1_000,
            1_005,
            9_999,
            10_000,
            123_456,
            3_600_000,
            2_592_000_000,
        ];
        let buckets: Vec<i64> = times.iter().map(|t| close_bucket(*t)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(close_bucket(-5), close_bucket(0));
        for t in times {
            let middle = bucket_middle(close_bucket(t));
            if t < 1_000 {
                assert_eq!(middle, t, "exact below a second");
            } else {
                assert!(
                    (middle - t).abs() as f64 <= t as f64 * 0.005 + 1.0,
                    "{t} -> {middle}"
                );
            }
        }
    }
}
