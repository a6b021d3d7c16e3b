//! `rebuild`: the projection made again from the journal alone, into fresh tables swapped in
//! for the live ones at the end; and the fresh tables a killed rebuild left behind.

use rusqlite::Connection;

use super::{project, Tables, DERIVED_INDEXES, DERIVED_NAMES, DERIVED_TABLES};

/// How many deliveries a rebuild projects per transaction before its last step: small enough
/// that a monitor running on the same file keeps acknowledging in between.
const REBUILD_STEP: usize = 20_000;

/// Where a rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildStep {
    /// Deliveries projected into the fresh tables so far.
    Projected(i64),
    /// The last step: what arrived meanwhile is projected, the indexes are built and the fresh
    /// tables take the live ones' place, in one transaction (deliveries wait for it to end).
    Swapping,
}

/// Derives events, users and aggregates again from the journal alone: the projector from zero
/// into fresh tables, in steps, then swapped in for the live ones in one transaction (which also
/// projects what arrived meanwhile and builds the indexes). `progress` hears each step.
/// Returns how many events the journal gave.
pub(in crate::store) fn rebuild(
    conn: &mut Connection,
    mut progress: impl FnMut(RebuildStep),
) -> rusqlite::Result<i64> {
    let mut fresh = String::new();
    for name in DERIVED_NAMES {
        fresh.push_str(&format!("DROP TABLE IF EXISTS rebuild_{name};"));
    }
    fresh.push_str(&Tables::Rebuild.sql(DERIVED_TABLES));
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(&fresh)?;
    tx.commit()?;
    let mut projected = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (changes, _) = project(&tx, Tables::Rebuild, REBUILD_STEP)?;
        tx.commit()?;
        if changes.is_empty() {
            break;
        }
        projected += changes.len() as i64;
        progress(RebuildStep::Projected(projected));
    }
    progress(RebuildStep::Swapping);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    while !project(&tx, Tables::Rebuild, REBUILD_STEP)?.0.is_empty() {}
    for name in DERIVED_NAMES {
        tx.execute_batch(&format!(
            "DROP TABLE {name}; ALTER TABLE rebuild_{name} RENAME TO {name};"
        ))?;
    }
    tx.execute_batch(DERIVED_INDEXES)?;
    // Dropping the live users table dropped the search index's triggers with it.
    tx.execute_batch(crate::store::SEARCH_TRIGGERS)?;
    let events = tx.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    tx.commit()?;
    Ok(events)
}

/// The tables a rebuild made and has not swapped in yet (left by one that was killed, or being
/// filled by one running now).
pub(in crate::store) fn rebuild_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        r"SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'rebuild\_%' ESCAPE '\'
           ORDER BY name",
    )?
    .query_map([], |row| row.get(0))?
    .collect()
}

/// Drops every table [`rebuild_tables`] finds, in the caller's transaction; returns their names.
pub(in crate::store) fn drop_rebuild_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let names = rebuild_tables(conn)?;
    // rebuild_users refers to rebuild_events: checked at commit, when both are gone.
    conn.pragma_update(None, "defer_foreign_keys", "ON")?;
    for name in &names {
        conn.execute_batch(&format!("DROP TABLE \"{}\";", name.replace('"', "\"\"")))?;
    }
    Ok(names)
}
