//! When the writer projects. Quiet (an acknowledgement batch of a few deliveries), at once, so
//! the live feed shows a change within a millisecond of its answer. Busy (many senders at once),
//! the projector yields to the acknowledgements: it waits a moment for the next deliveries and
//! lets them be answered first, and projects only when none came, when it is
//! [`PROJECT_AFTER`] deliveries behind, or when its oldest unprojected delivery has waited
//! [`MOST_BEHIND`]. Its batches are then large, and a batch costs far less per delivery than
//! one of the few that came meanwhile (one transaction, one search index segment, the
//! aggregates written once); the projection stays at most about that far behind.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

/// An acknowledgement batch this large means many senders at once.
const BUSY_BATCH: usize = 8;
/// How far behind (deliveries) a busy projector may fall before it projects anyway.
pub(super) const PROJECT_AFTER: i64 = 1024;
/// How long a delivery may wait for its projection while the writer is busy.
const MOST_BEHIND: Duration = Duration::from_millis(100);
/// How long a busy writer waits for the next deliveries before it projects, and how often it
/// looks meanwhile.
const GATHER: Duration = Duration::from_millis(1);
const GATHER_STEP: Duration = Duration::from_micros(50);

#[derive(Debug, Default)]
pub(super) struct Pace {
    last_batch: usize,
    behind_since: Option<Instant>,
}

impl Pace {
    /// An acknowledgement batch of `deliveries` was answered.
    pub fn acknowledged(&mut self, deliveries: usize) {
        self.last_batch = deliveries;
    }

    /// Whether to project now, `lag` deliveries behind. A busy writer first waits (at most
    /// [`GATHER`]) for the next command; `false` when one came, to be taken first.
    pub fn project_now<T>(&mut self, lag: i64, commands: &mpsc::Receiver<T>) -> bool {
        if lag <= 0 {
            self.behind_since = None;
            return false;
        }
        let since = *self.behind_since.get_or_insert_with(Instant::now);
        if self.last_batch < BUSY_BATCH || lag >= PROJECT_AFTER || since.elapsed() >= MOST_BEHIND {
            return true;
        }
        let gathering = Instant::now();
        while commands.is_empty() {
            if gathering.elapsed() >= GATHER {
                // Nobody sent anything meanwhile: not busy after all.
                self.last_batch = 0;
                return true;
            }
            std::thread::sleep(GATHER_STEP);
        }
        false
    }

    /// The projection has caught up with `lag` deliveries left.
    pub fn projected(&mut self, lag: i64) {
        if lag <= 0 {
            self.behind_since = None;
        }
    }
}

pub(super) enum Received<T> {
    Command(T),
    Nothing,
    Closed,
}

/// A blocking receive that gives up after `wait`.
pub(super) fn recv_within<T>(commands: &mut mpsc::Receiver<T>, wait: Duration) -> Received<T> {
    let deadline = Instant::now() + wait;
    loop {
        match commands.try_recv() {
            Ok(command) => return Received::Command(command),
            Err(TryRecvError::Disconnected) => return Received::Closed,
            Err(TryRecvError::Empty) if Instant::now() >= deadline => return Received::Nothing,
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
