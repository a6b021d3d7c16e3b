//! The one writer: a thread with one connection that takes whatever deliveries are waiting,
//! writes them in one transaction, commits (one fsync) and only then answers each of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::identity::FileIdentity;
use super::projection;
use super::StoreError;
use crate::kyc::Payload;

/// Most deliveries written in one transaction; more waiting ones go in the next.
const MAX_BATCH: usize = 512;
/// Changes a slow follower may fall behind before it is told it lagged.
pub const CHANGE_BACKLOG: usize = 4096;
/// Deliveries waiting for the writer before new ones wait for room.
const QUEUE_DEPTH: usize = 4096;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// WAL size (in pages) past which the writer is asked to let the WAL start over.
const RESTART_WAL_AFTER_FRAMES: i64 = 1000;

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
    /// Refused by the listener: the answer's status and the sentence explaining it.
    Refused {
        http_status: u16,
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Ping,
    Rejected,
}

impl Outcome {
    /// Reads the value of the `outcome` column (its CHECK constraint allows only these).
    pub fn from_stored(text: &str) -> Outcome {
        match text {
            "accepted" => Outcome::Accepted,
            "duplicate" => Outcome::Duplicate,
            "ping" => Outcome::Ping,
            _ => Outcome::Rejected,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ping => "ping",
            Outcome::Rejected => "rejected",
        }
    }
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

enum Command {
    Write(Box<Job>),
    /// Sent by [`Writer::finish`]: everything queued before it is still written.
    Stop,
}

/// Handle to the writer thread; share it behind an `Arc`.
pub struct Writer {
    queue: mpsc::Sender<Command>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    changes: broadcast::Sender<Change>,
    health: watch::Receiver<Option<StoreProblem>>,
}

/// Why the store is not acknowledging deliveries now: for the operator's eyes (the log, the
/// UI's banner), never for the sender's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

impl Writer {
    /// `conn` writes; `checkpoints` copies the WAL back into the database file in the
    /// background, so that no delivery waits while pages are copied. SQLite's automatic
    /// checkpoint would do that copying inside a commit.
    pub(super) fn start(
        conn: Connection,
        checkpoints: Connection,
        identity: FileIdentity,
    ) -> Result<Writer, StoreError> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let wal_restart = Arc::new(AtomicBool::new(false));
        let restart_requests = wal_restart.clone();
        let (queue, commands) = mpsc::channel(QUEUE_DEPTH);
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        let announce = changes.clone();
        let (report, health) = watch::channel(None);
        let (stop_checkpoints, checkpoint_stop) = std::sync::mpsc::channel::<()>();
        let spawn_failed =
            |e: std::io::Error| StoreError::CommitFailed(format!("cannot start the writer: {e}"));
        let writer = std::thread::Builder::new()
            .name("kyc-writer".into())
            .spawn(move || {
                let mut outlet = Outlet {
                    identity,
                    changes: announce,
                    health: report,
                };
                write_until_stopped(conn, commands, &wal_restart, &mut outlet);
                drop(stop_checkpoints);
            })
            .map_err(spawn_failed)?;
        let checkpointer = std::thread::Builder::new()
            .name("kyc-checkpoint".into())
            .spawn(move || {
                checkpoint_until_stopped(checkpoints, checkpoint_stop, &restart_requests)
            })
            .map_err(spawn_failed)?;
        Ok(Writer {
            queue,
            threads: std::sync::Mutex::new(vec![writer, checkpointer]),
            changes,
            health,
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

    /// Follows every delivery committed from now on. A follower that falls more than
    /// [`CHANGE_BACKLOG`] behind is told it lagged and should read the store to catch up.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// What keeps the store from acknowledging deliveries, as it changes (`None`: all is well).
    pub fn health(&self) -> watch::Receiver<Option<StoreProblem>> {
        self.health.clone()
    }

    /// Commits and answers everything queued so far, then ends the thread. Deliveries recorded
    /// after this are refused with [`StoreError::WriterStopped`].
    pub async fn finish(&self) {
        let _ = self.queue.send(Command::Stop).await;
        let threads = std::mem::take(&mut *self.threads.lock().expect("writer thread handles"));
        let _ =
            tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join())))
                .await;
    }
}

/// Where a written batch goes: checked against the file, announced, its health told.
struct Outlet {
    identity: FileIdentity,
    changes: broadcast::Sender<Change>,
    health: watch::Sender<Option<StoreProblem>>,
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
}

fn write_until_stopped(
    mut conn: Connection,
    mut commands: mpsc::Receiver<Command>,
    wal_restart: &AtomicBool,
    outlet: &mut Outlet,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        match commands.blocking_recv() {
            Some(Command::Write(job)) => batch.push(*job),
            Some(Command::Stop) | None => break,
        }
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(Command::Write(job)) => batch.push(*job),
                Ok(Command::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if let Some(reason) = outlet.needs_restart() {
            // The file is gone: writing on would only fill the orphaned one.
            fail_batch(&mut batch, || StoreError::FileGone(reason.clone()));
            continue;
        }
        let started = std::time::Instant::now();
        let written = write_batch(&mut conn, &batch);
        tracing::trace!(
            deliveries = batch.len(),
            micros = started.elapsed().as_micros() as u64,
            "committed a batch"
        );
        let written = written.map_err(|error| {
            let message = commit_problem(&error);
            tracing::error!(%error, deliveries = batch.len(), "could not commit deliveries; answering 503: {message}");
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
                outlet
                    .health
                    .send_if_modified(|problem| problem.take().is_some());
                for (job, recorded) in batch.drain(..).zip(recorded) {
                    let external_id = match &job.delivery.verdict {
                        Verdict::Payload(Payload::Event(event)) => Some(event.external_id.clone()),
                        _ => None,
                    };
                    // Nobody listening is fine: the feed is a convenience, the store the record.
                    let _ = outlet.changes.send(Change {
                        delivery_id: recorded.delivery_id,
                        outcome: recorded.outcome,
                        external_id,
                    });
                    let _ = job.reply.send(Ok(recorded));
                }
            }
            Err(reason) => fail_batch(&mut batch, || StoreError::CommitFailed(reason.clone())),
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

/// Checkpoints the WAL every so often until the writer ends. PASSIVE never blocks the writer.
fn checkpoint_until_stopped(
    conn: Connection,
    stop: std::sync::mpsc::Receiver<()>,
    wal_restart: &AtomicBool,
) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // PASSIVE never blocks the writer. It cannot finish while the writer keeps appending,
        // so past a size the writer is asked to finish it (see write_until_stopped).
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            row.get::<_, i64>(1)
        }) {
            Ok(frames) if frames >= RESTART_WAL_AFTER_FRAMES => {
                wal_restart.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; it will be tried again"),
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Recorded>, rusqlite::Error> {
    // IMMEDIATE takes the write lock up front, so a lock held elsewhere waits the busy timeout
    // instead of failing half-way.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded = batch
        .iter()
        .map(|job| record_delivery(&tx, &job.delivery))
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(recorded)
}

/// Writes one delivery row and, when it names a user, its event and the user's new state.
fn record_delivery(tx: &Connection, delivery: &NewDelivery) -> Result<Recorded, rusqlite::Error> {
    let replayed_id = match &delivery.verified_webhook_id {
        Some(id) => projection::webhook_id_seen(tx, id, i64::MAX)?,
        None => false,
    };
    let mut placement = None;
    let (outcome, http_status, error) = match &delivery.verdict {
        Verdict::Payload(Payload::Event(event)) => {
            let placed = projection::place_event(tx, event, replayed_id)?;
            let duplicate = placed.duplicate;
            placement = Some((event, placed));
            if duplicate {
                (Outcome::Duplicate, 200, None)
            } else {
                (Outcome::Accepted, 200, None)
            }
        }
        _ if replayed_id => (Outcome::Duplicate, 200, None),
        Verdict::Payload(Payload::Ping) | Verdict::Reachability => (Outcome::Ping, 200, None),
        Verdict::Refused { http_status, error } => {
            (Outcome::Rejected, *http_status, Some(error.clone()))
        }
    };
    tx.prepare_cached(
        "INSERT INTO deliveries
           (received_at, remote_addr, method, headers, body, body_size, webhook_id, outcome, http_status, error,
            replay_of, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        delivery.received_at,
        delivery.remote_addr,
        delivery.method,
        delivery.headers,
        delivery.body,
        delivery.body_size,
        delivery.verified_webhook_id,
        outcome.as_str(),
        http_status,
        error,
        delivery.replay_of,
        if delivery.polled { "poll" } else { "webhook" },
    ])?;
    let delivery_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO delivery_minutes (minute, deliveries, rejected) VALUES (?1 / 60000, 1, ?2)
         ON CONFLICT (minute) DO UPDATE SET deliveries = deliveries + 1, rejected = rejected + excluded.rejected",
    )?
    .execute(params![delivery.received_at, outcome == Outcome::Rejected])?;
    if let Some((event, placed)) = placement {
        projection::apply_event(tx, delivery_id, delivery.received_at, event, &placed)?;
    }
    Ok(Recorded {
        delivery_id,
        outcome,
        http_status,
        error,
    })
}
