//! Checks the audit log's chain (`kyc-monitor audit verify`): walks the entries oldest first,
//! recomputing each hash from the one before, and names the first entry that does not fit and
//! what most likely happened to it (changed, removed, reordered, cut from the end).

use std::fmt;

use rusqlite::OptionalExtension;

use super::{record, AuditRecord, COLUMNS, GENESIS};
use crate::store::{Reader, StoreError};
use crate::time::rfc3339_millis;

/// What the check found: how many entries there are, and the first that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerdict {
    pub entries: u64,
    pub broken: Option<AuditBreak>,
}

/// The first place the chain breaks: the entry there (none when the log is empty), and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    pub entry: Option<AuditRecord>,
    pub kind: BreakKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// Its content does not hash to what the chain holds: it was changed, or the entry before
    /// it (`before`, none for the first) was changed with its hash made again.
    Changed { before: Option<i64> },
    /// Entries `from` to `to` (just before it) are missing.
    Removed { from: i64, to: i64 },
    /// It holds, or hashes as, what was written as entry `was`.
    Moved { was: i64 },
    /// The monitor wrote up to entry `head`, past the log's end: entries were cut from the end.
    EndRemoved { head: i64 },
    /// It comes after the last entry the monitor wrote (`head`).
    BeyondHead { head: i64 },
    /// It is the last entry, but not with the hash the monitor wrote last.
    NotTheHead,
    /// The record of the last entry written is missing.
    HeadMissing,
}

impl fmt::Display for AuditBreak {
    /// One sentence naming the entry (seq, time, actor, action) and what happened to it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = match &self.entry {
            Some(e) => format!(
                "entry #{} ({}, {}, {})",
                e.seq,
                rfc3339_millis(e.at),
                e.actor,
                e.action
            ),
            None => "the log".to_owned(),
        };
        let seq = self.entry.as_ref().map_or(0, |e| e.seq);
        match self.kind {
            BreakKind::Changed { before: Some(before) } => write!(f, "{named} does not match its hash: it, or the entry before it (#{before}), was changed"),
            BreakKind::Changed { before: None } => write!(f, "{named} does not match its hash: it was changed"),
            BreakKind::Removed { from, to } if from == to => write!(f, "{named} follows a gap: entry #{from}, just before it, was removed"),
            BreakKind::Removed { from, to } => write!(f, "{named} follows a gap: entries #{from} to #{to}, just before it, were removed"),
            BreakKind::Moved { was } => write!(f, "{named} holds what was written as entry #{was}: the entries were reordered"),
            BreakKind::EndRemoved { head } if self.entry.is_none() => write!(f, "the log is empty, but the monitor wrote {head} entries: they were removed"),
            BreakKind::EndRemoved { head } => write!(f, "the log ends at {named}, but the monitor wrote up to entry #{head}: the entries after #{seq} were removed"),
            BreakKind::BeyondHead { head } => write!(f, "{named} comes after the last entry the monitor wrote (#{head}): it was added by hand, or the record of the log's end was changed"),
            BreakKind::NotTheHead => write!(f, "{named} is not the last entry the monitor wrote (its hash differs): it was changed or replaced"),
            BreakKind::HeadMissing => write!(f, "the record of the log's last entry is missing (the log ends at {named}): entries may have been removed from its end"),
        }
    }
}

impl Reader {
    /// Checks the whole chain in one snapshot (a running monitor may append meanwhile).
    pub fn verify_audit_log(&self) -> Result<AuditVerdict, StoreError> {
        self.snapshot(|reader| {
            let entries = reader.audit_total(None)?;
            let broken = reader.first_break()?;
            Ok(AuditVerdict { entries, broken })
        })
    }

    fn first_break(&self) -> Result<Option<AuditBreak>, StoreError> {
        let head: Option<(i64, Vec<u8>)> = self
            .connection()
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let broken = |entry: AuditRecord, kind| {
            Ok(Some(AuditBreak {
                entry: Some(entry),
                kind,
            }))
        };
        let mut statement = self
            .connection()
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))?;
        let mut rows = statement.query([])?;
        let mut previous = GENESIS.to_vec();
        let mut last: Option<AuditRecord> = None;
        while let Some(row) = rows.next()? {
            let entry = record(row)?;
            let expected = last.as_ref().map_or(1, |l| l.seq + 1);
            if entry.seq > expected {
                let gap = BreakKind::Removed {
                    from: expected,
                    to: entry.seq - 1,
                };
                return broken(entry, gap);
            }
            if let Some((head, _)) = head.as_ref().filter(|(head, _)| entry.seq > *head) {
                return broken(entry, BreakKind::BeyondHead { head: *head });
            }
            if entry.expected_hash(&previous, entry.seq)[..] != entry.hash[..] {
                let kind = match self.written_as(&entry)? {
                    Some(was) => BreakKind::Moved { was },
                    None => BreakKind::Changed {
                        before: last.as_ref().map(|l| l.seq),
                    },
                };
                return broken(entry, kind);
            }
            previous.clone_from(&entry.hash);
            last = Some(entry);
        }
        Ok(match (head, last) {
            (None, None) => None,
            (None, Some(last)) => Some(AuditBreak {
                entry: Some(last),
                kind: BreakKind::HeadMissing,
            }),
            (Some((head, _)), None) => Some(AuditBreak {
                entry: None,
                kind: BreakKind::EndRemoved { head },
            }),
            (Some((head, _)), Some(last)) if last.seq < head => Some(AuditBreak {
                entry: Some(last),
                kind: BreakKind::EndRemoved { head },
            }),
            (Some((_, hash)), Some(last)) if last.hash != hash => Some(AuditBreak {
                entry: Some(last),
                kind: BreakKind::NotTheHead,
            }),
            (Some(_), Some(_)) => None,
        })
    }

    /// The seq at which `moved`'s content (with its hash, or under that place's hash) fits the
    /// chain, when that is another place than its own: it was moved there from.
    fn written_as(&self, moved: &AuditRecord) -> Result<Option<i64>, StoreError> {
        let mut statement = self
            .connection()
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))?;
        let mut rows = statement.query([])?;
        let mut previous = GENESIS.to_vec();
        while let Some(row) = rows.next()? {
            let there = record(row)?;
            if there.seq != moved.seq {
                let fits = moved.expected_hash(&previous, there.seq);
                if fits[..] == moved.hash[..] || fits[..] == there.hash[..] {
                    return Ok(Some(there.seq));
                }
            }
            previous = there.hash;
        }
        Ok(None)
    }
}
