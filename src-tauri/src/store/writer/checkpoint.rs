//! The WAL's checkpoints, off the writer thread: PASSIVE (Litestream needs that, and it never
//! blocks the writer) every 250 ms, and at once when the writer's WAL hook sees the WAL pass
//! 1,000 pages; past that size the writer is asked to let the WAL start over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use rusqlite::Connection;

pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// How often a failure that repeats (each commit, each checkpoint on a full disk) is said.
pub(super) const FAILURE_SAID_EVERY: Duration = Duration::from_secs(60);
/// WAL size (in pages) past which the writer is asked to let the WAL start over.
pub(super) const RESTART_WAL_AFTER_FRAMES: i64 = 1000;

thread_local! {
    /// The pages in the WAL after the writer thread's last commit (SQLite's WAL hook tells).
    pub(super) static WAL_FRAMES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// SQLite's WAL hook on the writer's connection: runs on the writer thread after each commit.
pub(super) fn note_wal_frames(
    _: &rusqlite::hooks::Wal,
    frames: std::ffi::c_int,
) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|count| count.set(i64::from(frames)));
    Ok(())
}

/// Checkpoints the WAL every so often, and when the writer wakes it, until the writer ends.
/// PASSIVE never blocks the writer.
pub(super) fn checkpoint_until_stopped(
    conn: Connection,
    wakes: std::sync::mpsc::Receiver<()>,
    wal_restart: &AtomicBool,
) {
    // Failing every 250 ms on a full disk: said once a minute, and when it works again.
    let mut failing = crate::logs::Throttled::new(FAILURE_SAID_EVERY);
    while let Ok(()) | Err(RecvTimeoutError::Timeout) = wakes.recv_timeout(CHECKPOINT_EVERY) {
        // PASSIVE never blocks the writer. It cannot finish while the writer keeps appending,
        // so past a size the writer is asked to finish it (see write_until_stopped).
        let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            row.get::<_, i64>(1)
        });
        if checkpoint.is_ok() {
            if let Some(unsaid) = failing.worked() {
                tracing::info!(unsaid, "WAL checkpoints work again");
            }
        }
        match checkpoint {
            Ok(frames) if frames >= RESTART_WAL_AFTER_FRAMES => {
                wal_restart.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(unsaid) = failing.failed() {
                    tracing::warn!(%error, unsaid, "WAL checkpoint failed; it is tried again every 250 ms (said once a minute)");
                }
            }
        }
    }
}
