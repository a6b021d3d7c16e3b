//! The audit log's SQL: appending entries to the hash chain (on the writer's connection), and
//! reading it back page by page or whole for an export. The chain is checked in `verify`.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash (32 zero bytes before the first)
//! and [`canonical`], the entry's content with its seq and time in an encoding that cannot be
//! read two ways: fixed-width numbers and length-prefixed texts.

mod verify;

use rusqlite::{params, Row, Transaction};
use sha2::{Digest, Sha256};

pub use verify::{AuditBreak, AuditVerdict, BreakKind};

use super::{Reader, StoreError};
use crate::access::AuditEntry;

/// What the first entry chains from.
pub const GENESIS: [u8; 32] = [0; 32];
/// Names the encoding, so a hash of this log cannot be taken for a hash of anything else.
const DOMAIN: &[u8] = b"kyc-monitor audit entry v1\0";

/// One entry of the audit log, as stored: every field as text, so that an entry someone
/// changed by hand still reads (and fails its hash) instead of failing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: String,
    /// Empty where nobody was signed in.
    pub role: String,
    pub action: String,
    pub target: String,
    pub remote_addr: String,
    pub outcome: String,
    pub detail: String,
    pub hash: Vec<u8>,
}

impl AuditRecord {
    /// The entry `entry`, written as `seq` at `at` after the entry whose hash is `previous`.
    fn chained(previous: &[u8], seq: i64, at: i64, entry: &AuditEntry) -> AuditRecord {
        let mut record = AuditRecord {
            seq,
            at,
            actor: entry.actor.clone(),
            role: entry
                .role
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            action: entry.action.as_str().to_owned(),
            target: entry.target.clone(),
            remote_addr: entry.remote_addr.clone(),
            outcome: entry.outcome.as_str().to_owned(),
            detail: entry.detail.clone(),
            hash: Vec::new(),
        };
        record.hash = record.expected_hash(previous, seq).to_vec();
        record
    }

    /// The hash this entry's content would have at `seq`, after an entry hashed `previous`.
    pub fn expected_hash(&self, previous: &[u8], seq: i64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(canonical(self, seq));
        hasher.finalize().into()
    }
}

/// The entry's content at `seq`: the domain, seq and time as 8 bytes big-endian, then each text
/// as its length (8 bytes big-endian) and its UTF-8 bytes.
pub fn canonical(record: &AuditRecord, seq: i64) -> Vec<u8> {
    let texts = [
        &record.actor,
        &record.role,
        &record.action,
        &record.target,
        &record.remote_addr,
        &record.outcome,
        &record.detail,
    ];
    let mut bytes =
        Vec::with_capacity(DOMAIN.len() + 16 + texts.iter().map(|t| t.len() + 8).sum::<usize>());
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&record.at.to_be_bytes());
    for text in texts {
        bytes.extend_from_slice(&(text.len() as u64).to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
    }
    bytes
}

/// Appends `entries` (each with the time it happened) after the log's head, and moves the head
/// to the last of them; returns them as written.
pub(super) fn append<'a>(
    tx: &Transaction,
    entries: impl ExactSizeIterator<Item = (i64, &'a AuditEntry)>,
) -> rusqlite::Result<Vec<AuditRecord>> {
    // Chained from the head, not from the last row: entries cut from the end leave a gap that
    // `verify` names, instead of a log that silently goes on from the cut.
    let (mut seq, mut previous) = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok((0, GENESIS.to_vec())),
            other => Err(other),
        })?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor, role, action, target, remote_addr, outcome, detail, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut written = Vec::with_capacity(entries.len());
    for (at, entry) in entries {
        seq += 1;
        let record = AuditRecord::chained(&previous, seq, at, entry);
        insert.execute(params![
            record.seq,
            record.at,
            record.actor,
            record.role,
            record.action,
            record.target,
            record.remote_addr,
            record.outcome,
            record.detail,
            record.hash,
        ])?;
        previous.clone_from(&record.hash);
        written.push(record);
    }
    tx.prepare_cached(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )?
    .execute(params![seq, previous])?;
    Ok(written)
}

/// Which entries a page of the audit log shows; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// Only entries before this seq (the next page).
    pub before: Option<i64>,
}

const COLUMNS: &str = "seq, at, actor, role, action, target, remote_addr, outcome, detail, hash";

fn record(row: &Row) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        role: row.get(3)?,
        action: row.get(4)?,
        target: row.get(5)?,
        remote_addr: row.get(6)?,
        outcome: row.get(7)?,
        detail: row.get(8)?,
        hash: row.get(9)?,
    })
}

impl Reader {
    /// The newest entries that `filter` lets through, newest first, walking back by seq. Only
    /// the filters given are in the query, so that SQLite can walk the index of one of them
    /// (each follows seq) instead of the whole log.
    pub fn audit_page(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut clauses = vec!["seq < ?1".to_owned()];
        let mut values: Vec<rusqlite::types::Value> =
            vec![filter.before.unwrap_or(i64::MAX).into()];
        let texts = [
            ("actor =", &filter.actor),
            ("action =", &filter.action),
            ("target =", &filter.target),
        ];
        for (clause, value) in texts {
            if let Some(value) = value {
                values.push(value.clone().into());
                clauses.push(format!("{clause} ?{}", values.len()));
            }
        }
        for (clause, value) in [("at >=", filter.since), ("at <", filter.until)] {
            if let Some(value) = value {
                values.push(value.into());
                clauses.push(format!("{clause} ?{}", values.len()));
            }
        }
        values.push(i64::from(limit).into());
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE {} ORDER BY seq DESC LIMIT ?{}",
            clauses.join(" AND "),
            values.len()
        );
        self.connection()
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(values), record)?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// Hands every entry at or after `since` (Unix ms) to `each`, oldest first, one at a time.
    pub fn for_each_audit_entry<E: From<StoreError>>(
        &self,
        since: Option<i64>,
        mut each: impl FnMut(AuditRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut statement = self
            .connection()
            .prepare(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE at >= ?1 ORDER BY seq"
            ))
            .map_err(StoreError::from)?;
        let mut rows = statement
            .query([since.unwrap_or(i64::MIN)])
            .map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            each(record(row).map_err(StoreError::from)?)?;
        }
        Ok(())
    }

    /// Entries in the log at or after `since`.
    pub fn audit_total(&self, since: Option<i64>) -> Result<u64, StoreError> {
        Ok(self.connection().query_row(
            "SELECT count(*) FROM audit_log WHERE at >= ?1",
            [since.unwrap_or(i64::MIN)],
            |row| row.get::<_, i64>(0),
        )? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(actor: &str, role: &str) -> AuditRecord {
        AuditRecord {
            seq: 1,
            at: 1_795_687_200_123,
            actor: actor.into(),
            role: role.into(),
            action: "search".into(),
            target: String::new(),
            remote_addr: "local".into(),
            outcome: "ok".into(),
            detail: String::new(),
            hash: Vec::new(),
        }
    }

    #[test]
    fn text_moved_from_one_field_to_the_next_changes_the_hash() {
        let (one, other) = (entry("ab", ""), entry("a", "b"));
        assert_ne!(canonical(&one, 1), canonical(&other, 1));
        assert_ne!(
            one.expected_hash(&GENESIS, 1),
            other.expected_hash(&GENESIS, 1)
        );
    }

    #[test]
    fn the_seq_and_the_previous_hash_are_part_of_the_hash() {
        let one = entry("local", "admin");
        assert_ne!(
            one.expected_hash(&GENESIS, 1),
            one.expected_hash(&GENESIS, 2)
        );
        assert_ne!(
            one.expected_hash(&GENESIS, 1),
            one.expected_hash(&[1; 32], 1)
        );
    }
}
