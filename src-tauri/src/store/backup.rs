//! `backup`: a consistent copy of the database in a new file, made with SQLite's online backup
//! while the monitor goes on writing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{open_reading, schema, ReadMode, StoreError};

/// Pages copied per step (2 MiB at the default 4 KiB page size). Between steps the copy pauses,
/// so on a shared disk the writer's commits are not queued behind one long stream of reads.
const PAGES_PER_STEP: i32 = 512;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path} already exists; a backup never replaces a file: give the path of a new one")]
    DestinationExists { path: PathBuf },
    #[error("{path} is a folder; backup takes the path of a new file in it, e.g. {example}")]
    DestinationIsFolder { path: PathBuf, example: PathBuf },
    #[error("the folder {path} does not exist: create it (or check the path; is a disk missing?)")]
    NoFolder { path: PathBuf },
    #[error("the disk holding {folder} is full ({needed} MiB needed for the copy); nothing was written to {path}: free some space or choose another disk")]
    DiskFull {
        folder: PathBuf,
        path: PathBuf,
        needed: u64,
    },
    #[error("cannot write the backup in {folder}: {source}")]
    Write {
        folder: PathBuf,
        source: std::io::Error,
    },
    #[error("the copy failed its integrity check ({problem}); nothing was written to {path}")]
    CopyDamaged { path: PathBuf, problem: String },
    #[error("the backup failed: {0}; nothing was written to the destination")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the backup was stopped before it finished; nothing was written to {path}, and its temporary copy was removed")]
    Stopped { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a running backup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStep {
    /// Bytes copied so far, of the bytes in the snapshot being copied.
    Copying { copied: u64, total: u64 },
    /// Everything is copied; the copy is being checked before it takes its name.
    Checking,
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub pages: u64,
    pub bytes: u64,
    pub deliveries: u64,
    pub users: u64,
}

/// Copies the database at `source` to the new file `dest`. The copy is one snapshot: every
/// write committed before it began is in it, none that came later. It is written under a
/// temporary name beside `dest`, checked, and only then given its name, so a failed or killed
/// backup never leaves a partial file at `dest`. A failed one removes its temporary file; what a
/// killed one left is removed by the next backup to the same path.
pub(super) fn copy_database(
    source: &Path,
    reading: ReadMode,
    dest: &Path,
    stop: &AtomicBool,
    mut progress: impl FnMut(BackupStep),
) -> Result<BackupSummary, BackupError> {
    let folder = destination_folder(dest)?;
    let write_error = |source| BackupError::Write {
        folder: folder.clone(),
        source,
    };
    let prefix = format!(
        ".{}.",
        dest.file_name().unwrap_or_default().to_string_lossy()
    );
    remove_leftovers(&folder, &prefix);
    let partial = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(PARTIAL_SUFFIX)
        .tempfile_in(&folder)
        .map_err(write_error)?;
    // Held until the copy has its name: tells a later backup that this one is not a leftover.
    partial.as_file().try_lock().map_err(|error| {
        write_error(std::io::Error::other(format!(
            "cannot lock the temporary copy: {error}"
        )))
    })?;
    // Dropped before `partial` (which deletes the copy itself) on every way out.
    let _companions = Companions(partial.path().to_owned());
    let mut total_bytes = 0;
    let full = |error: rusqlite::Error, total_bytes: u64| match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => BackupError::DiskFull {
            folder: folder.clone(),
            path: dest.to_owned(),
            needed: total_bytes.div_ceil(1024 * 1024),
        },
        _ => BackupError::Sqlite(error),
    };

    let from = open_reading(source, reading)?;
    // One read transaction across every step: each step then copies from the same snapshot
    // (without it, a commit by the monitor between two steps would start the copy over), and
    // in WAL mode a reader never blocks the monitor's writer.
    from.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")?;
    let page_size: u64 = from.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let mut to = Connection::open_with_flags(
        partial.path(),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // No rollback journal: a copy that fails is thrown away whole, never rolled back, and a
    // journal is one more file a failure (a full disk) would leave behind.
    to.pragma_update(None, "journal_mode", "OFF")?;
    let pages = {
        let backup = Backup::new(&from, &mut to)?;
        loop {
            let step = backup
                .step(PAGES_PER_STEP)
                .map_err(|error| full(error, total_bytes))?;
            let done = backup.progress();
            let total = done.pagecount.max(0) as u64;
            let copied = total.saturating_sub(done.remaining.max(0) as u64);
            total_bytes = total * page_size;
            progress(BackupStep::Copying {
                copied: copied * page_size,
                total: total * page_size,
            });
            if stop.load(Ordering::Relaxed) {
                // `partial` and its companions are removed on the way out.
                return Err(BackupError::Stopped {
                    path: dest.to_owned(),
                });
            }
            match step {
                StepResult::Done => break total,
                // More, or the source busy for a moment: go on after a pause.
                _ => std::thread::sleep(PAUSE_BETWEEN_STEPS),
            }
        }
    };
    from.execute_batch("COMMIT")?;
    drop(from);

    progress(BackupStep::Checking);
    let summary = check_copy(&to, dest)?;
    drop(to);
    partial.as_file().sync_all().map_err(write_error)?;
    let bytes = partial.as_file().metadata().map_err(write_error)?.len();
    // Never replaces a file that appeared at `dest` while the copy was made.
    partial.persist_noclobber(dest).map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::DestinationExists {
                path: dest.to_owned(),
            }
        } else {
            write_error(error.error)
        }
    })?;
    // The new name is durable only once the folder itself is synced.
    std::fs::File::open(&folder)
        .and_then(|dir| dir.sync_all())
        .map_err(write_error)?;
    Ok(BackupSummary {
        path: dest.to_owned(),
        pages,
        bytes,
        ..summary
    })
}

const PARTIAL_SUFFIX: &str = ".partial";

/// Removes the temporary files of earlier backups to the same path that were killed before
/// they ended: a `.NAME.XXXXXX.partial` no running backup holds the lock of, and the files
/// SQLite kept beside it. Best effort: a leftover that cannot be removed harms nothing.
fn remove_leftovers(folder: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(prefix) && name.ends_with(PARTIAL_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let abandoned = std::fs::File::open(&path).is_ok_and(|file| file.try_lock().is_ok());
        if abandoned {
            let _ = std::fs::remove_file(&path);
            drop(Companions(path.clone()));
            tracing::info!(path = %path.display(), "removed the temporary file of a backup that was interrupted");
        }
    }
}

/// The files SQLite may keep beside the temporary copy (a journal; the WAL and its index while
/// the finished copy, a WAL database like its source, is checked), removed when dropped.
struct Companions(PathBuf);

impl Drop for Companions {
    fn drop(&mut self) {
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The folder `dest` goes in, which must exist: a backup aimed at a disk that is not mounted
/// must fail, not fill a new folder on the disk below.
fn destination_folder(dest: &Path) -> Result<PathBuf, BackupError> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            return Err(BackupError::DestinationIsFolder {
                path: dest.to_owned(),
                example: dest.join("kyc-monitor-backup.db"),
            })
        }
        Ok(_) => {
            return Err(BackupError::DestinationExists {
                path: dest.to_owned(),
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BackupError::Write {
                folder: dest.to_owned(),
                source,
            })
        }
    }
    let folder = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if dest.file_name().is_none() || !folder.is_dir() {
        return Err(BackupError::NoFolder { path: folder });
    }
    Ok(folder)
}

/// Checks the finished copy and counts what it holds.
fn check_copy(copy: &Connection, dest: &Path) -> Result<BackupSummary, BackupError> {
    let problems: Vec<String> = copy
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if problems != ["ok"] {
        return Err(BackupError::CopyDamaged {
            path: dest.to_owned(),
            problem: problems.join("; "),
        });
    }
    let application_id: i32 = copy.query_row(
        "SELECT application_id FROM pragma_application_id",
        [],
        |row| row.get(0),
    )?;
    if application_id != schema::APPLICATION_ID {
        return Err(BackupError::CopyDamaged {
            path: dest.to_owned(),
            problem: "it is not a KYC Monitor database".to_owned(),
        });
    }
    let count = |table: &str| {
        copy.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| n as u64)
    };
    Ok(BackupSummary {
        path: dest.to_owned(),
        pages: 0,
        bytes: 0,
        deliveries: count("deliveries")?,
        users: count("users")?,
    })
}
