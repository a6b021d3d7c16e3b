//! Long work started from the UI (reconcile, backup) and how far it is. Each kind runs once at a
//! time; its progress is a watch that the live feed follows, so every window and browser sees
//! it, not only the one that started it. The command line shows the same work on stderr
//! (`progress.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ts_rs::TS;

use super::{CoreError, Monitor};
use crate::blocking::off_worker;
use crate::store::{BackupError, BackupStep};

/// The long work the UI can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum WorkKind {
    Reconcile,
    Backup,
    /// The provider asked every `--poll-every` (see `monitor/poll.rs`).
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum WorkState {
    Running,
    Done,
    Failed,
}

/// How far one piece of long work is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Work")]
pub struct WorkView {
    pub kind: WorkKind,
    pub state: WorkState,
    /// Users asked (reconcile) or bytes copied (backup) so far.
    pub done: u64,
    /// Of how many, when known.
    pub total: Option<u64>,
    /// `users` or `bytes`.
    pub unit: String,
    /// What it is doing now ("checking the copy"), or how it ended.
    pub message: Option<String>,
    /// Unix milliseconds when it started.
    pub started_at: i64,
    /// When it ended, once it has.
    pub finished_at: Option<i64>,
    /// When the next one starts, for work that comes round by itself (the periodic poll).
    pub next_at: Option<i64>,
}

/// Every kind's latest work, as the live feed sends it.
pub type WorkBoard = BTreeMap<WorkKind, WorkView>;

/// A backup asked for from the UI.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupRequest {
    /// The new file to write, on the machine the monitor runs on.
    pub path: String,
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    pub path: String,
    pub bytes: u64,
    pub deliveries: u64,
    pub users: u64,
}

/// Publishes one kind's progress; refuses a second run of a kind already running.
pub(super) struct WorkSlot {
    board: watch::Sender<WorkBoard>,
    kind: WorkKind,
}

impl WorkSlot {
    pub(super) fn claim(
        board: &watch::Sender<WorkBoard>,
        kind: WorkKind,
        unit: &str,
        total: Option<u64>,
    ) -> Result<WorkSlot, CoreError> {
        let mut claimed = false;
        board.send_if_modified(|works| {
            if works
                .get(&kind)
                .is_some_and(|work| work.state == WorkState::Running)
            {
                return false;
            }
            works.insert(
                kind,
                WorkView {
                    kind,
                    state: WorkState::Running,
                    done: 0,
                    total,
                    unit: unit.to_owned(),
                    message: None,
                    started_at: crate::time::now_millis(),
                    finished_at: None,
                    next_at: None,
                },
            );
            claimed = true;
            true
        });
        if !claimed {
            return Err(CoreError::Conflict(format!(
                "a {} is already running; its progress shows at the top of the window",
                kind.noun()
            )));
        }
        Ok(WorkSlot {
            board: board.clone(),
            kind,
        })
    }

    fn update(&self, change: impl FnOnce(&mut WorkView)) {
        self.board.send_modify(|works| {
            if let Some(work) = works.get_mut(&self.kind) {
                change(work)
            }
        });
    }

    pub(super) fn progress(&self, done: u64, total: Option<u64>) {
        self.update(|work| {
            work.done = done;
            work.total = total.or(work.total);
        });
    }

    pub(super) fn finish(self, outcome: Result<String, String>) {
        self.finish_until(outcome, None)
    }

    /// Ends the work; `next_at`: when the next one is due to start.
    pub(super) fn finish_until(self, outcome: Result<String, String>, next_at: Option<i64>) {
        self.update(|work| {
            work.finished_at = Some(crate::time::now_millis());
            work.next_at = next_at;
            match outcome {
                Ok(summary) => {
                    work.state = WorkState::Done;
                    work.done = work.total.unwrap_or(work.done);
                    work.message = Some(summary);
                }
                Err(reason) => {
                    work.state = WorkState::Failed;
                    work.message = Some(reason);
                }
            }
        });
    }
}

/// Work whose slot goes without being finished (it panicked, or was cancelled) is not left
/// running for ever: it is marked failed, so that the next one may start.
impl Drop for WorkSlot {
    fn drop(&mut self) {
        self.board
            .send_if_modified(|works| match works.get_mut(&self.kind) {
                Some(work) if work.state == WorkState::Running => {
                    work.state = WorkState::Failed;
                    work.finished_at = Some(crate::time::now_millis());
                    work.message = Some(format!(
                        "the {} stopped before its end; the monitor's log may say why",
                        self.kind.noun()
                    ));
                    true
                }
                _ => false,
            });
    }
}

impl WorkKind {
    fn noun(self) -> &'static str {
        match self {
            WorkKind::Reconcile => "reconcile",
            WorkKind::Backup => "backup",
            WorkKind::Poll => "poll",
        }
    }
}

impl Monitor {
    /// The long work running or last finished, by kind.
    pub fn work(&self) -> WorkBoard {
        self.work.borrow().clone()
    }

    /// Copies the database to the new file `request.path` (SQLite's online backup) while the
    /// monitor goes on; its progress goes out on the live feed.
    pub async fn backup(&self, request: BackupRequest) -> Result<BackupReport, CoreError> {
        let path = request.path.trim();
        if path.is_empty() {
            return Err(CoreError::Invalid(
                "give the path of a new file for the backup, such as /var/backups/kyc.db".into(),
            ));
        }
        let dest = PathBuf::from(path);
        if !dest.is_absolute() {
            return Err(CoreError::Invalid(format!(
                "{path:?} is not an absolute path: give the full path of a new file, such as /var/backups/kyc.db"
            )));
        }
        // With --backup-dir the folder is checked and held open now; the copy is made in a
        // private folder beside the database and moved in through that handle at the end, so
        // a folder swapped for a link meanwhile cannot lead it out.
        let held = match &self.backup_dir {
            Some(folder) => {
                let (dest, folder) = (dest.clone(), folder.clone());
                Some(off_worker(move || crate::backup_dir::hold(&dest, &folder)).await?)
            }
            None => None,
        };
        let private = match &held {
            Some(held) => Some(held.private_folder(self.store.path())?),
            None => None,
        };
        let written_to = match (&private, &held) {
            (Some(private), Some(held)) => private.path().join(held.name()),
            _ => dest.clone(),
        };
        let said = |text: String| {
            text.replace(
                &written_to.display().to_string(),
                &dest.display().to_string(),
            )
        };
        let slot = WorkSlot::claim(&self.work, WorkKind::Backup, "bytes", None)?;
        let store = self.store.clone();
        let source = written_to.clone();
        let (slot, summary) = off_worker(move || {
            let summary = store.backup_to(&source, |step| match step {
                BackupStep::Copying { copied, total } => slot.progress(copied, Some(total)),
                BackupStep::Checking => slot.update(|work| {
                    work.done = work.total.unwrap_or(work.done);
                    work.message = Some("checking the copy".to_owned());
                }),
            });
            (slot, summary)
        })
        .await;
        let summary = match (summary, held) {
            (Ok(summary), Some(held)) => {
                let from = written_to.clone();
                match off_worker(move || held.take_in(&from)).await {
                    Ok(()) => Ok(summary),
                    Err(error) => Err(error),
                }
            }
            (summary, _) => summary,
        };
        drop(private);
        match summary {
            Ok(summary) => {
                let report = BackupReport {
                    path: said(summary.path.display().to_string()),
                    bytes: summary.bytes,
                    deliveries: summary.deliveries,
                    users: summary.users,
                };
                slot.finish(Ok(format!(
                    "{} written: {} deliveries, {} users",
                    report.path, report.deliveries, report.users
                )));
                Ok(report)
            }
            Err(error) => {
                let error = match error {
                    BackupError::Sqlite(_)
                    | BackupError::Store(_)
                    | BackupError::CopyDamaged { .. } => {
                        CoreError::internal("the backup failed; the monitor's log says why", &error)
                    }
                    // The destination's own problem, in words that say what to do.
                    destination => CoreError::Invalid(said(destination.to_string())),
                };
                slot.finish(Err(error.to_string()));
                Err(error)
            }
        }
    }
}
