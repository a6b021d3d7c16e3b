//! The one writer: a thread with one connection that does two jobs in turn.
//!
//! - The acknowledgement: take whatever deliveries are waiting, append them to the journal in
//!   one transaction, commit (one fsync, `synchronous=FULL`) and only then answer each of them.
//!   Nothing derived is written on this path (see `journal`).
//! - The projection: between acknowledgement batches, follow the journal from the watermark and
//!   derive events, users and aggregates (see `projection`), in batches sized by the backlog;
//!   then announce the projected deliveries to the live feed.
//! - The audit log: between batches, append the entries waiting (see `audit_queue`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::identity::FileIdentity;
pub use super::journal::Outcome;
use super::journal::{Append, Unprojected};
use super::projection::{self, Tables};
use super::StoreError;
use crate::kyc::{KycEvent, Payload};

mod audit_queue;
mod checkpoint;
mod pace;
use audit_queue::AuditQueue;
use checkpoint::{checkpoint_until_stopped, note_wal_frames, RESTART_WAL_AFTER_FRAMES, WAL_FRAMES};
use pace::{recv_within, Pace, Received, PROJECT_AFTER};

/// Most deliveries appended in one transaction; more waiting ones go in the next.
const MAX_BATCH: usize = 512;
/// Most deliveries projected in one transaction while acknowledgements wait, and while none do.
/// A busy writer projects once this far behind (see `pace`).
const PROJECT_BETWEEN_ACKS: usize = PROJECT_AFTER as usize;
const PROJECT_WHEN_IDLE: usize = 8192;
/// After a projection fails (a full disk, say), how long before it is tried again.
const PROJECTION_RETRY: Duration = Duration::from_secs(1);
/// Changes a slow follower may fall behind before it is told it lagged.
pub const CHANGE_BACKLOG: usize = 4096;
/// Deliveries waiting for the writer before new ones wait for room.
const QUEUE_DEPTH: usize = 4096;

/// A request to the webhook path, as it arrived, with what the listener made of it.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub received_at: i64,
    pub remote_addr: String,
    pub method: String,
    /// The headers as a JSON array of `[name, value]` pairs in arrival order, credentials
    /// already redacted.
    pub headers: String,
    /// `None` when the body was over the limit and not read.
    pub body: Option<Vec<u8>>,
    /// The body's length in bytes, where known.
    pub body_size: Option<i64>,
    /// The `webhook-id` of a delivery whose signature was verified.
    pub verified_webhook_id: Option<String>,
    /// The stored delivery this one replays, when sent again from the UI.
    pub replay_of: Option<i64>,
    /// Learned by asking the provider's status API (reconcile), not delivered by a webhook.
    pub polled: bool,
    pub verdict: Verdict,
}

/// What the listener decided before the store had its say.
#[derive(Debug, Clone)]
pub enum Verdict {
    Payload(Payload),
    /// GET or HEAD on the webhook path.
    Reachability,
    /// A delivery this monitor forwarded, come back to it (a destination that loops, directly
    /// or through a chain of monitors): kept as a duplicate, never forwarded again.
    CameBack,
    /// Refused by the listener: the answer's status and the sentence explaining it.
    Refused {
        http_status: u16,
        error: String,
    },
    /// The partner names a user to watch (`kyc-monitor watch`): journaled as this event (the
    /// user at `NOT_STARTED`) only when the user is unknown; a known user is left as it is.
    Watch(KycEvent),
}

/// A delivery after its commit: what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub delivery_id: i64,
    pub outcome: Outcome,
    pub http_status: u16,
    pub error: Option<String>,
}

struct Job {
    delivery: NewDelivery,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// A write other than a delivery (forwarding state, retention), run in a transaction of its
/// own between batches: every write goes through the one writer connection.
type Chore = Box<dyn FnOnce(&mut Connection) + Send>;

enum Command {
    Write(Box<Job>),
    Chore(Chore),
    /// Audit entries wait in the [`AuditQueue`].
    AuditWaiting,
    /// Sent by [`Writer::finish`]: everything queued before it is still written.
    Stop,
}

/// Why the store is not acknowledging deliveries now: for the operator's eyes (the log, the
/// UI's banner), never for the sender's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct StoreProblem {
    pub message: String,
    /// When the problem was first seen (Unix milliseconds).
    pub since: i64,
    /// Only a restart helps (the file is gone); otherwise the next commit that works clears it.
    pub needs_restart: bool,
}

/// A committed delivery, announced to whoever follows the store live (the UI's feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub delivery_id: i64,
    pub outcome: Outcome,
    /// The user it moved or repeated, if it named one.
    pub external_id: Option<String>,
}

/// Handle to the writer thread; share it behind an `Arc`.
pub struct Writer {
    queue: mpsc::Sender<Command>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    changes: broadcast::Sender<Change>,
    health: watch::Receiver<Option<StoreProblem>>,
    /// The newest delivery journaled (acknowledged), and the newest projected.
    journaled: Arc<AtomicI64>,
    projected: watch::Receiver<i64>,
    audit: Arc<AuditQueue>,
}

impl Writer {
    /// `conn` writes; `checkpoints` copies the WAL back into the database file in the
    /// background, so that no delivery waits while pages are copied. SQLite's automatic
    /// checkpoint would do that copying inside a commit. What the journal holds beyond the
    /// projection (after a crash) is projected before the first delivery is taken.
    pub(super) fn start(
        conn: Connection,
        checkpoints: Connection,
        identity: FileIdentity,
    ) -> Result<Writer, StoreError> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Every statement the writer runs stays prepared (rusqlite keeps 16 by default, fewer
        // than the journal, the projector and the aggregates use: they were prepared again
        // on every batch).
        conn.set_prepared_statement_cache_capacity(64);
        // After the pragma, which sets a hook of its own.
        conn.wal_hook(Some(note_wal_frames));
        let through = projection::watermark(&conn, Tables::Live)?;
        let newest: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM deliveries", [], |row| {
                row.get(0)
            })?;
        let journaled = Arc::new(AtomicI64::new(newest));
        let (projected_tx, projected) = watch::channel(through);
        let wal_restart = Arc::new(AtomicBool::new(false));
        let restart_requests = wal_restart.clone();
        let (queue, commands) = mpsc::channel(QUEUE_DEPTH);
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        let (report, health) = watch::channel(None);
        let audit = Arc::new(AuditQueue::new());
        let audit_log = audit.clone();
        let mut outlet = Outlet {
            identity,
            failing: crate::logs::Throttled::new(checkpoint::FAILURE_SAID_EVERY),
            projecting: std::cell::RefCell::new(crate::logs::Throttled::new(
                checkpoint::FAILURE_SAID_EVERY,
            )),
            changes: changes.clone(),
            health: report,
            journaled: journaled.clone(),
            projected: projected_tx,
        };
        // The writer wakes the checkpointer early when the WAL grows fast; dropping the sender
        // (the writer's end) stops it.
        let (wake_checkpoints, checkpoint_wakes) = std::sync::mpsc::sync_channel::<()>(1);
        let spawn_failed =
            |e: std::io::Error| StoreError::CommitFailed(format!("cannot start the writer: {e}"));
        let writer = std::thread::Builder::new()
            .name("kyc-writer".into())
            .spawn(move || {
                let signals = (&*wal_restart, &wake_checkpoints);
                write_until_stopped(conn, commands, signals, &audit_log, &mut outlet);
                drop(wake_checkpoints);
            })
            .map_err(spawn_failed)?;
        let checkpointer = std::thread::Builder::new()
            .name("kyc-checkpoint".into())
            .spawn(move || {
                checkpoint_until_stopped(checkpoints, checkpoint_wakes, &restart_requests)
            })
            .map_err(spawn_failed)?;
        Ok(Writer {
            queue,
            threads: std::sync::Mutex::new(vec![writer, checkpointer]),
            changes,
            health,
            journaled,
            projected,
            audit,
        })
    }

    /// Stores one delivery; returns once it is committed, or with the reason it could not be.
    pub async fn record(&self, delivery: NewDelivery) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Command::Write(Box::new(Job { delivery, reply })))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `work` in a transaction of its own on the writer's connection, between delivery
    /// batches, and returns what it returned once committed.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let chore: Chore = Box::new(move |conn| {
            let result = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .and_then(|tx| {
                    let value = work(&tx)?;
                    tx.commit()?;
                    Ok(value)
                });
            let _ = reply.send(result.map_err(StoreError::from));
        });
        self.queue
            .send(Command::Chore(chore))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Follows every delivery projected from now on. A follower that falls more than
    /// [`CHANGE_BACKLOG`] behind is told it lagged and should read the store to catch up.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// What keeps the store from acknowledging deliveries, as it changes (`None`: all is well).
    pub fn health(&self) -> watch::Receiver<Option<StoreProblem>> {
        self.health.clone()
    }

    /// Waits (at most `limit`) until the projection holds every delivery acknowledged before
    /// the call: a view read after it sees what its reader has just sent.
    pub async fn projected(&self, limit: Duration) {
        let target = self.journaled.load(Ordering::Acquire);
        let mut projected = self.projected.clone();
        let _ = tokio::time::timeout(limit, projected.wait_for(|through| *through >= target)).await;
    }

    /// Deliveries acknowledged (journaled) that the projection has not reached yet.
    pub fn projection_lag(&self) -> i64 {
        (self.journaled.load(Ordering::Acquire) - *self.projected.borrow()).max(0)
    }

    /// Commits and answers everything queued so far, projects it, then ends the thread.
    /// Deliveries recorded after this are refused with [`StoreError::WriterStopped`].
    pub async fn finish(&self) {
        let _ = self.queue.send(Command::Stop).await;
        let threads = std::mem::take(&mut *self.threads.lock().expect("writer thread handles"));
        let _ =
            tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join())))
                .await;
    }
}

/// Where the writer's work goes: checked against the file, announced, its health told.
struct Outlet {
    identity: FileIdentity,
    /// Commits failing (a full disk fails each one): said once a minute, and when they work.
    failing: crate::logs::Throttled,
    /// The projection failing (tried again every second): said so too.
    projecting: std::cell::RefCell<crate::logs::Throttled>,
    changes: broadcast::Sender<Change>,
    health: watch::Sender<Option<StoreProblem>>,
    journaled: Arc<AtomicI64>,
    projected: watch::Sender<i64>,
}

impl Outlet {
    fn report(&self, message: String, needs_restart: bool) {
        self.health.send_if_modified(|problem| {
            let changed = problem.as_ref().is_none_or(|p| p.message != message);
            if changed {
                *problem = Some(StoreProblem {
                    message,
                    since: crate::time::now_millis(),
                    needs_restart,
                });
            }
            changed
        });
    }

    fn needs_restart(&self) -> Option<String> {
        let problem = self.health.borrow();
        problem
            .as_ref()
            .filter(|p| p.needs_restart)
            .map(|p| p.message.clone())
    }

    fn behind(&self) -> bool {
        self.lag() > 0
    }

    /// Deliveries journaled and not projected yet.
    fn lag(&self) -> i64 {
        self.journaled.load(Ordering::Acquire) - *self.projected.borrow()
    }
}

fn write_until_stopped(
    mut conn: Connection,
    mut commands: mpsc::Receiver<Command>,
    (wal_restart, wake_checkpoints): (&AtomicBool, &std::sync::mpsc::SyncSender<()>),
    audit: &AuditQueue,
    outlet: &mut Outlet,
) {
    let mut unprojected = Unprojected::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut chores: Vec<Chore> = Vec::new();
    let mut projection_paused_until: Option<Instant> = None;
    let mut pace = Pace::default();
    let mut stopping = false;
    // A journal left ahead of the projection (a crash) is caught up before anything else.
    catch_up(&mut conn, &mut unprojected, outlet);
    while !stopping {
        let may_project = projection_paused_until.is_none_or(|until| Instant::now() >= until);
        let first = if outlet.behind() && may_project {
            match commands.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            }
        } else if let Some(until) = projection_paused_until.filter(|_| outlet.behind()) {
            // Wait for a delivery, but not past the time the projection is due again.
            let wait = until.saturating_duration_since(Instant::now());
            match recv_within(&mut commands, wait) {
                Received::Command(command) => Some(command),
                Received::Nothing => None,
                Received::Closed => break,
            }
        } else {
            match commands.blocking_recv() {
                Some(command) => Some(command),
                None => break,
            }
        };
        match first {
            Some(Command::Write(job)) => batch.push(*job),
            Some(Command::Chore(chore)) => chores.push(chore),
            Some(Command::Stop) => stopping = true,
            Some(Command::AuditWaiting) | None => {}
        }
        while !stopping && (!batch.is_empty() || !chores.is_empty()) && batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(Command::Write(job)) => batch.push(*job),
                Ok(Command::Chore(chore)) => chores.push(chore),
                Ok(Command::Stop) => stopping = true,
                Ok(Command::AuditWaiting) => {}
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            pace.acknowledged(batch.len());
            acknowledge(&mut conn, &mut batch, &mut unprojected, outlet);
        }
        for chore in chores.drain(..) {
            chore(&mut conn);
        }
        if outlet.needs_restart().is_none() {
            audit.append_due(&mut conn, || commands.is_empty());
        }
        let may_project = projection_paused_until.is_none_or(|until| Instant::now() >= until);
        if outlet.behind() && may_project {
            if !stopping && !pace.project_now(outlet.lag(), &commands) {
                // Deliveries came meanwhile: they are answered first.
                continue;
            }
            let limit = if commands.is_empty() {
                PROJECT_WHEN_IDLE
            } else {
                PROJECT_BETWEEN_ACKS
            };
            projection_paused_until = project(&mut conn, limit, &mut unprojected, outlet)
                .err()
                .map(|()| Instant::now() + PROJECTION_RETRY);
            pace.projected(outlet.lag());
        }
        if WAL_FRAMES.with(std::cell::Cell::get) >= RESTART_WAL_AFTER_FRAMES {
            // A fast-growing WAL is not left until the checkpointer's next look: it is woken
            // now (a wake already pending is enough).
            let _ = wake_checkpoints.try_send(());
        }
        if wal_restart.swap(false, Ordering::Relaxed) {
            // Between batches, after answering: the background thread has copied nearly every
            // frame, and a checkpoint that completes lets the next commit start the WAL over.
            if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(%error, "WAL checkpoint failed; it will be tried again");
            }
        }
    }
    // Closing the queue makes later senders fail fast instead of waiting for an answer.
    commands.close();
    while let Ok(command) = commands.try_recv() {
        if let Command::Write(job) = command {
            let _ = job.reply.send(Err(StoreError::WriterStopped));
        }
    }
    audit.finish(&mut conn, outlet.needs_restart().is_none());
    // What was acknowledged is projected before the writer ends, so the next start is quick.
    catch_up(&mut conn, &mut unprojected, outlet);
}

/// Projects until the projection holds the whole journal (or it cannot go on).
fn catch_up(conn: &mut Connection, unprojected: &mut Unprojected, outlet: &Outlet) {
    while outlet.behind() {
        match project(conn, PROJECT_WHEN_IDLE, unprojected, outlet) {
            Ok(0) | Err(()) => break,
            Ok(_) => {}
        }
    }
}

/// Appends a batch to the journal, commits, checks the file, and answers every delivery in it.
fn acknowledge(
    conn: &mut Connection,
    batch: &mut Vec<Job>,
    unprojected: &mut Unprojected,
    outlet: &mut Outlet,
) {
    if let Some(reason) = outlet.needs_restart() {
        // The file is gone: writing on would only fill the orphaned one.
        fail_batch(batch, || StoreError::FileGone(reason.clone()));
        return;
    }
    let started = Instant::now();
    let written = append_batch(conn, batch, unprojected);
    tracing::trace!(
        deliveries = batch.len(),
        micros = started.elapsed().as_micros() as u64,
        "journaled a batch"
    );
    let written = written.map_err(|error| {
        let message = commit_problem(&error);
        if let Some(unsaid) = outlet.failing.failed() {
            tracing::error!(%error, deliveries = batch.len(), unsaid, "could not commit deliveries; answering 503 (said once a minute while it lasts): {message}");
        }
        outlet.report(message, false);
        error.to_string()
    });
    // Checked after the commit: a file deleted or replaced a moment before it still took it.
    let written = written.and_then(|recorded| match outlet.identity.check() {
        Ok(()) => Ok(recorded),
        Err(message) => {
            tracing::error!("{message}");
            outlet.report(message.clone(), true);
            Err(message)
        }
    });
    match written {
        Ok(recorded) => {
            if let Some(unsaid) = outlet.failing.worked() {
                tracing::info!(unsaid, "the database commits again");
            }
            outlet
                .health
                .send_if_modified(|problem| problem.take().is_some());
            // A watch of a known user writes nothing (id 0): the newest id, not the last.
            if let Some(newest) = recorded.iter().map(|r| r.delivery_id).max() {
                outlet.journaled.fetch_max(newest, Ordering::Release);
            }
            for (job, recorded) in batch.drain(..).zip(recorded) {
                let _ = job.reply.send(Ok(recorded));
            }
        }
        Err(reason) => fail_batch(batch, || StoreError::CommitFailed(reason.clone())),
    }
}

fn append_batch(
    conn: &mut Connection,
    batch: &[Job],
    unprojected: &mut Unprojected,
) -> Result<Vec<Recorded>, rusqlite::Error> {
    // IMMEDIATE takes the write lock up front, so a lock held elsewhere waits the busy timeout
    // instead of failing half-way.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut append = Append::new(unprojected);
    let recorded = batch
        .iter()
        .map(|job| append.delivery(&tx, &job.delivery))
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    append.commit();
    Ok(recorded)
}

/// Projects up to `limit` journaled deliveries in one transaction and announces them; returns
/// how many. `Err` (logged) leaves the watermark where it was.
fn project(
    conn: &mut Connection,
    limit: usize,
    unprojected: &mut Unprojected,
    outlet: &Outlet,
) -> Result<usize, ()> {
    let started = Instant::now();
    let projected = (|| {
        // The projection is derived: it needs no fsync of its own. The next acknowledgement's
        // commit (FULL) makes it durable; a power cut before that loses only work to redo.
        conn.prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let projected = projection::project(&tx, Tables::Live, limit)?;
        tx.commit()?;
        Ok::<_, rusqlite::Error>(projected)
    })();
    let full = conn
        .prepare_cached("PRAGMA synchronous = FULL")
        .and_then(|mut statement| statement.execute([]));
    if let Err(error) = full {
        tracing::error!(%error, "could not set synchronous=FULL again");
    }
    match projected {
        Ok((changes, through)) => {
            if let Some(unsaid) = outlet.projecting.borrow_mut().worked() {
                tracing::info!(
                    unsaid,
                    "the users and events are updated from the journal again"
                );
            }
            tracing::trace!(
                deliveries = changes.len(),
                micros = started.elapsed().as_micros() as u64,
                "projected a batch"
            );
            // `through` comes from the file: a rebuild may have moved it past what this
            // writer projected itself.
            unprojected.projected_through(through);
            outlet.projected.send_replace(through);
            let count = changes.len();
            for change in changes {
                // Nobody listening is fine: the feed is a convenience, the store the record.
                let _ = outlet.changes.send(change);
            }
            Ok(count)
        }
        Err(error) => {
            if let Some(unsaid) = outlet.projecting.borrow_mut().failed() {
                tracing::error!(%error, unsaid, "could not update the users and events from the journal; every delivery is still kept, and this is tried again every second (said once a minute)");
            }
            Err(())
        }
    }
}

/// Answers every delivery of a batch that was not kept.
fn fail_batch(batch: &mut Vec<Job>, error: impl Fn() -> StoreError) {
    for job in batch.drain(..) {
        let _ = job.reply.send(Err(error()));
    }
}

/// What the operator is told when a commit fails, in words that say what to do.
fn commit_problem(error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => "the disk holding the database is full: free some space; deliveries are answered 503 (the provider retries them) until a commit works again".to_owned(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => "another program holds the database's write lock: close it; deliveries are answered 503 (the provider retries them) until then".to_owned(),
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => "the database file cannot be written (read-only or permission denied): fix its permissions; deliveries are answered 503 until then".to_owned(),
        _ => format!("the database could not commit ({error}); deliveries are answered 503 (the provider retries them) until a commit works again"),
    }
}
