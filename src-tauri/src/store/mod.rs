//! SQLite storage: every delivery as it arrived, the events and the per-user projection derived
//! from them. SQL lives here and nowhere else.

mod backup;
mod identity;
mod journal;
mod outbox;
mod projection;
pub mod queries;
mod refusals;
pub mod retention;
pub mod schema;
mod search;
mod settings;
mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use backup::{BackupError, BackupStep, BackupSummary};
pub use outbox::{Attempt, Destination, DueForward, ForwardState};
pub use projection::RebuildStep;
pub use queries::{
    BoardCursor, DecisionDayCount, DeliveryFilter, DeliveryRecord, EventRecord, ListedDelivery,
    MinuteCount, Reader, RegistrationAttempt, ReviewFilter, ReviewOrder, StatusStays,
    TimelineEntry, UserCount, UserRecord,
};
pub use refusals::{CountedRefusals, RefusalTally};
pub use search::SEARCH_TRIGGERS;
pub use writer::{
    Change, NewDelivery, Outcome, Recorded, StoreProblem, Verdict, Writer, CHANGE_BACKLOG,
};

/// How long the writer waits for a lock held by another process before it gives up on a batch
/// (and the webhook answers 503). Well inside the provider's 5-second answer window.
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(2);
const READER_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a KYC Monitor database ({reason}); it was left untouched: choose another file with --db")]
    Foreign { path: PathBuf, reason: String },
    #[error("{path} was written by a newer KYC Monitor (schema version {found}; this build knows up to {known}): upgrade kyc-monitor to open it")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path} is a folder; --db takes the path of a database file")]
    IsFolder { path: PathBuf },
    #[error("there is no database at {path}: check --db (or KYC_MONITOR_DB); `kyc-monitor serve` creates one there")]
    Missing { path: PathBuf },
    #[error("{path} is empty, not a KYC Monitor database yet (`kyc-monitor serve` makes it one); it was left untouched")]
    Blank { path: PathBuf },
    #[error("cannot create the folder {path}: {source}")]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A batch of deliveries could not be committed; nothing of it was kept.
    #[error("the database could not commit ({0})")]
    CommitFailed(String),
    #[error("the database writer has stopped")]
    WriterStopped,
    /// The file at the path is not the one the writer holds open any more.
    #[error("{0}")]
    FileGone(String),
}

/// A KYC Monitor database file, checked and migrated.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// Opens the database at `path`, creating it (and its folder) when missing. A file that is
    /// not ours, or is from a newer version, is refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateFolder {
                path: parent.to_owned(),
                source,
            })?;
        }
        if path.is_dir() {
            return Err(StoreError::IsFolder {
                path: path.to_owned(),
            });
        }
        if path.exists() {
            check_identity(path)?;
        }
        let mut conn = open_writable(path)?;
        migrate(&mut conn, path)?;
        Ok(Store {
            path: path.to_owned(),
        })
    }

    /// Opens the database at `path` for a command that only reads or derives: a missing file,
    /// folder or empty file is refused and nothing is created. An older schema is migrated.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(StoreError::IsFolder {
                    path: path.to_owned(),
                })
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(StoreError::Unreadable {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        let version = match check_identity(path)? {
            Identity::Blank => {
                return Err(StoreError::Blank {
                    path: path.to_owned(),
                })
            }
            Identity::Ours { version } => version,
        };
        if version < schema::latest_version() {
            // Without SQLITE_OPEN_CREATE: a file removed since the check is not made again.
            let mut conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
            conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
            migrate(&mut conn, path)?;
        }
        Ok(Store {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only connection for queries; it sees every committed write (WAL reader).
    pub fn reader(&self) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: self.path.clone(),
            source,
        })?;
        conn.busy_timeout(READER_BUSY_TIMEOUT)?;
        Ok(Reader::new(conn))
    }

    /// Starts the single writer that every delivery goes through.
    pub fn start_writer(&self) -> Result<Writer, StoreError> {
        let conn = open_writable(&self.path)?;
        // After opening: the connection has made the WAL where there was none.
        let identity = identity::FileIdentity::capture(&self.path);
        Writer::start(conn, open_writable(&self.path)?, identity)
    }

    /// The secret part of the webhook path: made once, then the same on every start.
    pub fn webhook_token(&self) -> Result<String, StoreError> {
        self.kept_token("webhook_token", 24)
    }

    /// The local UI's token: made once and kept, so that an open page and a bookmarked `ui:`
    /// link survive a restart; replaced only when the user asks for a new link.
    pub fn ui_token(&self) -> Result<String, StoreError> {
        self.kept_token(UI_TOKEN_SETTING, 16)
    }

    /// This database's own id, made once: it names the deliveries its monitor forwards, so that
    /// one coming back (a loop) is recognised.
    pub fn instance_id(&self) -> Result<String, StoreError> {
        self.kept_token("instance_id", 8)
    }

    fn kept_token(&self, key: &str, bytes: usize) -> Result<String, StoreError> {
        let conn = open_writable(&self.path)?;
        conn.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            [key, &random_token(bytes)],
        )?;
        Ok(
            conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })?,
        )
    }

    /// A setting's value, if it was ever set. Settings never hold secrets.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reader()?.setting(key)
    }

    /// Copies the database to the new file `dest` (SQLite's online backup), safe while the
    /// monitor runs; `progress` is told how far the copy is after every step.
    pub fn backup_to(
        &self,
        dest: &Path,
        progress: impl FnMut(BackupStep),
    ) -> Result<BackupSummary, BackupError> {
        backup::copy_database(&self.path, dest, progress)
    }

    /// Derives events and users again from the stored deliveries alone: the projector from
    /// zero into fresh tables, swapped in at the end (a monitor running on the file keeps
    /// acknowledging meanwhile, except during the swap). Returns how many events it derived.
    pub fn rebuild(&self) -> Result<i64, StoreError> {
        self.rebuild_with_progress(|_| {})
    }

    /// [`Store::rebuild`], telling `progress` how far it is.
    pub fn rebuild_with_progress(
        &self,
        progress: impl FnMut(RebuildStep),
    ) -> Result<i64, StoreError> {
        let mut conn = open_writable(&self.path)?;
        Ok(projection::rebuild(&mut conn, progress)?)
    }
}

/// What an existing file at `--db` holds, when it is not refused.
enum Identity {
    /// Nothing yet: a 0-byte file (and no WAL content), to be made a new database.
    Blank,
    Ours {
        version: i64,
    },
}

/// Refuses a file that is not a KYC Monitor database, reading it only.
fn check_identity(path: &Path) -> Result<Identity, StoreError> {
    let foreign = |reason: &str| StoreError::Foreign {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut file| file.read(&mut header))
        .map_err(|source| StoreError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    // A 0-byte main file is new, or ours in WAL mode before its first checkpoint: SQLite, which
    // also reads the -wal file, tells which below.
    if read > 0 && (read < header.len() || &header != SQLITE_MAGIC) {
        return Err(foreign("it is not an SQLite database"));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(READER_BUSY_TIMEOUT)?;
    let identity = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id),
                    (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_schema)",
            [],
            |row| {
                Ok((
                    row.get::<_, i32>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => foreign("it is not an SQLite database"),
            _ => StoreError::Open {
                path: path.to_owned(),
                source: error,
            },
        })?;
    match identity {
        (schema::APPLICATION_ID, version, _) if version > schema::latest_version() => {
            Err(StoreError::TooNew {
                path: path.to_owned(),
                found: version,
                known: schema::latest_version(),
            })
        }
        (schema::APPLICATION_ID, version, _) => Ok(Identity::Ours { version }),
        (0, 0, 0) => Ok(Identity::Blank),
        (0, _, _) => Err(foreign("it is an SQLite database of another program")),
        (other, _, _) => Err(foreign(&format!(
            "it is an SQLite database of another program, application id {other:#x}"
        ))),
    }
}

fn open_writable(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    // A new file only (before its first table and before WAL is set, or it is ignored): pages
    // freed by retention can be given back with incremental_vacuum.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    // Pragmas stay outside migrations: journal_mode cannot change inside a transaction.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a 2xx promises the delivery survives a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("SELECT user_version FROM pragma_user_version", [], |row| {
        row.get(0)
    })?;
    if version > schema::latest_version() {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            known: schema::latest_version(),
        });
    }
    for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    // A rebuild's swap drops the search index's triggers with the old users table.
    tx.execute_batch(search::SEARCH_TRIGGERS)?;
    tx.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// The settings key of the local UI's token.
pub const UI_TOKEN_SETTING: &str = "ui_token";

/// A fresh random secret of `bytes` bytes, hex-encoded.
pub fn random_token(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    hex::encode(random)
}
