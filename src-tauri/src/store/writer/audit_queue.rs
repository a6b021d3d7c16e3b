//! The audit log's queue. [`Writer::audit`] never waits: the entry waits here, off every
//! webhook acknowledgement's path, until the writer appends it between delivery batches (once
//! no delivery is waiting, or once the entry has waited [`MAX_WAIT`]); then it is announced to
//! whoever follows the log live.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, watch};

use super::{Command, Writer};
use crate::access::AuditEntry;
use crate::store::audit::{self, AuditRecord};

/// Entries waiting at most; past that (a writer that cannot commit for a long time) new ones
/// are counted as lost instead of filling the memory.
const MAX_WAITING: usize = 10_000;
/// Entries appended in one transaction at most.
const PER_TRANSACTION: usize = 256;
/// How long an entry waits behind a steady stream of deliveries before it goes in anyway.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// Appended entries a slow follower may fall behind.
const APPENDED_BACKLOG: usize = 1024;

struct Waiting {
    at: i64,
    since: Instant,
    entry: AuditEntry,
}

pub(super) struct AuditQueue {
    waiting: Mutex<VecDeque<Waiting>>,
    appended: broadcast::Sender<AuditRecord>,
    /// Entries queued so far, and those handled (appended, or given up on) so far.
    queued: AtomicU64,
    handled: watch::Sender<u64>,
    lost: AtomicU64,
}

impl AuditQueue {
    pub(super) fn new() -> AuditQueue {
        AuditQueue {
            waiting: Mutex::new(VecDeque::new()),
            appended: broadcast::channel(APPENDED_BACKLOG).0,
            queued: AtomicU64::new(0),
            handled: watch::Sender::new(0),
            lost: AtomicU64::new(0),
        }
    }

    fn give_up(&self, entries: u64, why: &str) {
        self.lost.fetch_add(entries, Ordering::Relaxed);
        self.handled.send_modify(|handled| *handled += entries);
        tracing::error!(
            entries,
            lost_so_far = self.lost.load(Ordering::Relaxed),
            "AUDIT ENTRIES LOST: {why}"
        );
    }

    /// Appends the waiting entries that are due (all of them while `idle` says no delivery
    /// waits), a transaction at a time. A failed transaction leaves its entries waiting, first
    /// in line, for the next round.
    pub(super) fn append_due(&self, conn: &mut Connection, idle: impl Fn() -> bool) {
        loop {
            let batch: Vec<Waiting> = {
                let mut waiting = self.waiting.lock().expect("audit queue");
                let due = waiting.front().is_some_and(|first| {
                    waiting.len() >= PER_TRANSACTION || first.since.elapsed() >= MAX_WAIT || idle()
                });
                if !due {
                    return;
                }
                let take = waiting.len().min(PER_TRANSACTION);
                waiting.drain(..take).collect()
            };
            let written = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .and_then(|tx| {
                    let records = audit::append(&tx, batch.iter().map(|w| (w.at, &w.entry)))?;
                    tx.commit()?;
                    Ok(records)
                });
            match written {
                Ok(records) => {
                    self.handled
                        .send_modify(|handled| *handled += records.len() as u64);
                    for record in records {
                        // Nobody following is fine: the log is the record, the feed a view.
                        let _ = self.appended.send(record);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, entries = batch.len(), "AUDIT ENTRIES NOT WRITTEN YET: the database refused them; they are kept in memory and tried again");
                    let mut waiting = self.waiting.lock().expect("audit queue");
                    for entry in batch.into_iter().rev() {
                        waiting.push_front(entry);
                    }
                    return;
                }
            }
        }
    }

    /// At the writer's end: appends everything still waiting (unless the file is gone, when it
    /// would only go into the orphaned one), and counts what cannot be.
    pub(super) fn finish(&self, conn: &mut Connection, writable: bool) {
        if writable {
            self.append_due(conn, || true);
        }
        let left = std::mem::take(&mut *self.waiting.lock().expect("audit queue"));
        if !left.is_empty() {
            self.give_up(
                left.len() as u64,
                "the monitor stopped before it could write them",
            );
        }
    }
}

impl Writer {
    /// Appends `entry` to the audit log soon, stamped with the time now; returns at once and
    /// never fails the caller. An entry that cannot be written is logged loudly and counted
    /// (see [`Writer::audit_lost`]).
    pub fn audit(&self, entry: AuditEntry) {
        let at = crate::time::now_millis();
        let first = {
            let mut waiting = self.audit.waiting.lock().expect("audit queue");
            if waiting.len() >= MAX_WAITING {
                drop(waiting);
                self.audit.give_up(
                    1,
                    "too many entries wait for a database that does not commit",
                );
                return;
            }
            waiting.push_back(Waiting {
                at,
                since: Instant::now(),
                entry,
            });
            self.audit.queued.fetch_add(1, Ordering::AcqRel);
            waiting.len() == 1
        };
        // Only the first waiting entry wakes the writer: it takes every entry there is when it
        // comes to them. A full queue means it is busy and comes to them on its next round.
        if first {
            if let Err(TrySendError::Closed(_)) = self.queue.try_send(Command::AuditWaiting) {
                self.audit.give_up(1, "the database writer has stopped");
            }
        }
    }

    /// Every entry appended to the audit log from now on, as written.
    pub fn audit_appended(&self) -> broadcast::Receiver<AuditRecord> {
        self.audit.appended.subscribe()
    }

    /// Waits (at most `limit`) until every entry queued before the call is written (or given
    /// up on): a view of the log read after it shows what its reader just did.
    pub async fn audit_written(&self, limit: Duration) {
        let target = self.audit.queued.load(Ordering::Acquire);
        let mut handled = self.audit.handled.subscribe();
        let _ = tokio::time::timeout(limit, handled.wait_for(|done| *done >= target)).await;
    }

    /// Audit entries lost since the start (a database that would not commit, or a stop
    /// before they were written).
    pub fn audit_lost(&self) -> u64 {
        self.audit.lost.load(Ordering::Relaxed)
    }
}
