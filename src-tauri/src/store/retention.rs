//! Retention (`serve --keep-deliveries DAYS`): the raw body and headers of deliveries older than
//! that are removed in small batches through the writer, between acknowledgements. The row stays
//! as a record that something arrived (time, outcome, status), and the user's timeline stays:
//! an event keeps its own fields, and `rebuild` reads them there for a trimmed delivery.
//! Deliveries still waiting to be forwarded keep their body until they are: the pass remembers
//! them and trims each once it no longer waits, however long a backend was down.

use std::time::Duration;

use rusqlite::{params, Transaction};
use tokio::sync::watch;

use super::{StoreError, Writer};

/// Deliveries trimmed per transaction: a few milliseconds of the writer's time.
const BATCH: i64 = 500;
/// How often retention looks for deliveries that have come of age: a tenth of the time they
/// are kept, between a second and a minute.
fn every(keep: Duration) -> Duration {
    (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}
/// Free pages handed back to the file system after a pass (where the file allows it).
const VACUUM_PAGES: i64 = 4096;

/// Trims deliveries older than `keep`, looking again and again, until `stopping` turns true.
pub async fn keep_deliveries(
    writer: std::sync::Arc<Writer>,
    keep: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut walk = RetentionWalk::default();
    while !*stopping.borrow() {
        let cutoff = crate::time::now_millis() - keep.as_millis() as i64;
        match trim_pass(&writer, cutoff, &mut walk).await {
            Ok(0) => {}
            Ok(trimmed) => tracing::info!(
                trimmed,
                "removed the raw parts of deliveries older than --keep-deliveries"
            ),
            Err(error) => {
                tracing::warn!(%error, "retention could not trim deliveries; it tries again in a minute")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every(keep)) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// How far retention has walked the deliveries. A restart starts again from the oldest.
#[derive(Debug, Default)]
pub struct RetentionWalk {
    /// Every id up to this is trimmed, too young, or in `waiting`.
    cursor: i64,
    /// Old enough, but still waiting to be forwarded when last looked at (ascending ids).
    waiting: Vec<i64>,
}

/// Trims every delivery received before `cutoff` that no longer waits to be forwarded, a batch
/// at a time; returns how many.
pub async fn trim_pass(
    writer: &Writer,
    cutoff: i64,
    walk: &mut RetentionWalk,
) -> Result<i64, StoreError> {
    let mut total = 0;
    // First those that waited last time: a backend that came back lets them go.
    let mut still_waiting = Vec::with_capacity(walk.waiting.len());
    for ids in walk.waiting.chunks(BATCH as usize) {
        let ids = ids.to_vec();
        let (trimmed, waiting) = writer.write(move |tx| trim_listed(tx, &ids)).await?;
        total += trimmed;
        still_waiting.extend(waiting);
    }
    walk.waiting = still_waiting;
    loop {
        let from = walk.cursor;
        let (trimmed, reached, waiting) =
            writer.write(move |tx| trim_batch(tx, cutoff, from)).await?;
        total += trimmed;
        walk.waiting.extend(waiting);
        if reached == from {
            break;
        }
        walk.cursor = reached;
    }
    if total > 0 {
        writer
            .write(|tx| {
                // A no-op on files made before auto_vacuum was set: their free pages are
                // reused by new deliveries instead of given back.
                tx.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))
            })
            .await?;
    }
    Ok(total)
}

/// Trims the next batch after `cursor` of projected deliveries received before `cutoff`;
/// returns how many it trimmed, how far it got, and which it left because they wait to be
/// forwarded. Ids follow arrival, so the walk stops at the first delivery that is too young.
fn trim_batch(
    tx: &Transaction,
    cutoff: i64,
    cursor: i64,
) -> rusqlite::Result<(i64, i64, Vec<i64>)> {
    let candidates: Vec<(i64, i64, bool)> = tx
        .prepare_cached(
            "SELECT id, received_at, trimmed FROM deliveries
              WHERE id > ?1 AND id <= (SELECT through FROM projection WHERE id = 1)
              ORDER BY id LIMIT ?2",
        )?
        .query_map(params![cursor, BATCH], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut reached = cursor;
    let mut trimmed = 0;
    let mut waiting = Vec::new();
    for (id, received_at, already) in candidates {
        if received_at >= cutoff {
            break;
        }
        reached = id;
        if !already {
            match trim_one(tx, id)? {
                true => trimmed += 1,
                false => waiting.push(id),
            }
        }
    }
    Ok((trimmed, reached, waiting))
}

/// Trims the listed deliveries that no longer wait; returns how many, and those that still do.
fn trim_listed(tx: &Transaction, ids: &[i64]) -> rusqlite::Result<(i64, Vec<i64>)> {
    let mut trimmed = 0;
    let mut waiting = Vec::new();
    for &id in ids {
        match trim_one(tx, id)? {
            true => trimmed += 1,
            false => waiting.push(id),
        }
    }
    Ok((trimmed, waiting))
}

/// Removes a delivery's raw parts unless it waits to be forwarded; false when it waits. A
/// destination no longer given (`--forward-to` removed) holds nothing back: nothing goes there.
fn trim_one(tx: &Transaction, id: i64) -> rusqlite::Result<bool> {
    let trimmed = tx
        .prepare_cached(
            "UPDATE deliveries SET body = NULL, headers = '[]', trimmed = 1
              WHERE id = ?1 AND NOT EXISTS (
                    SELECT 1 FROM forwards f JOIN destinations d ON d.id = f.destination_id
                     WHERE f.delivery_id = ?1 AND f.state = 'pending' AND d.active = 1)",
        )?
        .execute([id])?;
    Ok(trimmed == 1)
}
