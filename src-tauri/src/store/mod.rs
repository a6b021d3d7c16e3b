//! SQLite storage: every delivery as it arrived, the events and the per-user projection derived
//! from them. SQL lives here and nowhere else.

pub mod audit;
mod backup;
pub mod cases;
mod identity;
mod journal;
mod lock;
mod outbox;
mod projection;
pub mod queries;
mod refusals;
pub mod retention;
mod review;
pub mod schema;
mod search;
mod sessions;
mod settings;
mod stats;
mod writable;
mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use audit::{AuditBreak, AuditFilter, AuditRecord, AuditVerdict, BreakKind};
pub use backup::{BackupError, BackupStep, BackupSummary};
pub use cases::{CaseChange, CaseRecord, CaseWritten, NoteRecord, OverSlaRecord, SlaScope};
pub use lock::FileLock;
pub use outbox::{Attempt, Destination, DueForward, ForwardState};
pub use projection::RebuildStep;
pub use queries::{
    DeliveryFilter, DeliveryRecord, EventRecord, EventSource, ListedDelivery, Reader,
    RegistrationAttempt, TimelineEntry, UserCount, UserRecord,
};
pub use refusals::{CountedRefusals, RefusalTally, SIGNATURE_OVER_BUDGET};
pub use review::{AssigneeFilter, BoardCursor, ReviewFilter, ReviewOrder};
pub use search::SEARCH_TRIGGERS;
pub use sessions::SessionRecord;
pub use settings::UI_ADDRESS_SETTING;
pub use stats::{DecisionDayCount, MinuteCount, StatusStays};
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
    #[error("the disk holding {path} is full: free some space there (the database needs room to open, recover its last writes and go on), then start again")]
    DiskFull { path: PathBuf },
    /// A batch of deliveries could not be committed; nothing of it was kept.
    #[error("the database could not commit ({0})")]
    CommitFailed(String),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("another KYC Monitor{pid} is already running on {path}: stop it first, or give this one another database with --db")]
    InUse { path: PathBuf, pid: String },
    #[error("a rebuild{pid} is already running on {path}: wait for it to end")]
    RebuildRunning { path: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is in a folder that cannot be written (read-only media?) and its -wal file holds writes SQLite can only read there with its -shm file, which is missing: copy the database with its -wal file to a writable folder and use the copy")]
    WalUnreadable { path: PathBuf },
    /// The file at the path is not the one the writer holds open any more.
    #[error("{0}")]
    FileGone(String),
}

impl StoreError {
    /// A full disk said as such, with the database's path, when opening or starting to write
    /// at `path` failed so.
    fn at(self, path: &Path) -> StoreError {
        let code = match &self {
            StoreError::Sqlite(error) | StoreError::Open { source: error, .. } => {
                error.sqlite_error_code()
            }
            _ => None,
        };
        match code {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull {
                path: path.to_owned(),
            },
            _ => self,
        }
    }
}

/// A KYC Monitor database file, checked and migrated.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    reading: ReadMode,
}

/// How readers open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadMode {
    /// As SQLite's WAL readers do, beside a writer: they use (or make) the -shm file.
    Shared,
    /// `immutable=1`: no -shm, no locks. Only for a file in a folder that cannot be written
    /// (read-only media) with nothing in its -wal: there, no writer can change it and SQLite
    /// could not make the -shm file a shared reader needs.
    Immutable,
}

impl Store {
    /// Opens the database at `path`, creating it (and its folder) when missing. A file that is
    /// not ours, or is from a newer version, is refused before anything is written to it.
    /// For commands with no monitor; a monitor opens it with [`Store::open_for_monitor`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::checked_for_open(path)?;
        Store::migrated(path)
    }

    /// [`Store::open`] for the one monitor that may run on the file: the claim (see
    /// [`Store::claim_monitor`]) is taken before anything is written, so a second monitor is
    /// refused without touching the file.
    pub fn open_for_monitor(path: &Path) -> Result<(Store, FileLock), StoreError> {
        Store::checked_for_open(path)?;
        let claim = claim_monitor_of(path)?;
        let store = Store::migrated(path).map_err(|error| error.at(path))?;
        Ok((store, claim))
    }

    /// Makes the folder; refuses a folder, or a file that is not ours.
    fn checked_for_open(path: &Path) -> Result<(), StoreError> {
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
        Ok(())
    }

    /// Migrates on a connection of its own, before any writer runs on the file (a maintenance
    /// path: see `writable`).
    fn migrated(path: &Path) -> Result<Store, StoreError> {
        let mut conn = writable::for_migrations(path)?;
        migrate(&mut conn, path)?;
        drop_interrupted_rebuild(&mut conn, path)?;
        Ok(Store {
            path: path.to_owned(),
            reading: ReadMode::Shared,
        })
    }

    /// Claims the database for the one monitor (`serve` or the desktop app) that may run on
    /// it: two writers and two forwarders on one file is not a state anyone means. Held until
    /// the returned lock is dropped; readers (`lookup`, `export`, `backup`) never need it.
    pub fn claim_monitor(&self) -> Result<FileLock, StoreError> {
        claim_monitor_of(&self.path)
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
        let (version, reading) = match check_identity(path)? {
            (Identity::Blank, _) => {
                return Err(StoreError::Blank {
                    path: path.to_owned(),
                })
            }
            (Identity::Ours { version }, reading) => (version, reading),
        };
        if version < schema::latest_version() {
            // A maintenance path of its own (see `writable`): the file is migrated once, by the
            // first command or monitor of the new version to open it.
            let mut conn = writable::for_migrating_existing(path)?;
            migrate(&mut conn, path)?;
        }
        Ok(Store {
            path: path.to_owned(),
            reading,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only connection for queries; it sees every committed write (WAL reader).
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader::new(open_reading(&self.path, self.reading)?))
    }

    /// Starts the single writer that every delivery goes through; forwarding destinations stay
    /// as the last run left them.
    pub fn start_writer(&self) -> Result<Writer, StoreError> {
        Ok(self.start_writer_with(|_| Ok(()))?.0)
    }

    /// Starts the writer after `first` has run on its connection, in a transaction of its own,
    /// before the projector catches up with the journal (so the destinations a run sets get
    /// what it projects).
    pub(crate) fn start_writer_with<T>(
        &self,
        first: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<(Writer, T), StoreError> {
        self.writer_with(first)
            .map_err(|error| error.at(&self.path))
    }

    fn writer_with<T>(
        &self,
        first: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<(Writer, T), StoreError> {
        let mut conn = writable::for_writer(&self.path)?;
        // After opening: the connection has made the WAL where there was none.
        let identity = identity::FileIdentity::capture(&self.path);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let made = first(&tx)?;
        tx.commit()?;
        let writer = Writer::start(conn, writable::for_writer(&self.path)?, identity)?;
        Ok((writer, made))
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
        self.backup_to_until(dest, &std::sync::atomic::AtomicBool::new(false), progress)
    }

    /// [`Store::backup_to`], given up (its temporary copy removed) once `stop` is set.
    pub fn backup_to_until(
        &self,
        dest: &Path,
        stop: &std::sync::atomic::AtomicBool,
        progress: impl FnMut(BackupStep),
    ) -> Result<BackupSummary, BackupError> {
        backup::copy_database(&self.path, self.reading, dest, stop, progress)
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
        let _running = match claim_rebuild(&self.path)? {
            lock::Claim::Held(held) => held,
            lock::Claim::Taken { pid } => {
                return Err(StoreError::RebuildRunning {
                    path: self.path.clone(),
                    pid: lock::pid_note(pid),
                })
            }
        };
        let mut conn = writable::for_rebuild(&self.path)?;
        drop_interrupted_rebuild(&mut conn, &self.path)?;
        Ok(projection::rebuild(&mut conn, progress)?)
    }
}

/// Claims the database at `db` for its one monitor.
fn claim_monitor_of(db: &Path) -> Result<FileLock, StoreError> {
    let path = lock::lock_beside(db, "-lock");
    match lock::try_claim(&path).map_err(|source| StoreError::Lock { path, source })? {
        lock::Claim::Held(held) => Ok(held),
        lock::Claim::Taken { pid } => Err(StoreError::InUse {
            path: db.to_owned(),
            pid: lock::pid_note(pid),
        }),
    }
}

/// Held by a running rebuild, so that no one else takes its tables for leftovers.
fn claim_rebuild(db: &Path) -> Result<lock::Claim, StoreError> {
    let path = lock::lock_beside(db, "-rebuild-lock");
    lock::try_claim(&path).map_err(|source| StoreError::Lock { path, source })
}

/// Drops the fresh tables a rebuild killed before its swap left behind (they hold a partial
/// copy of the derived data and nothing else), unless a rebuild is running now; says so in the
/// log.
fn drop_interrupted_rebuild(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let leftovers = projection::rebuild_tables(conn)?;
    if leftovers.is_empty() {
        return Ok(());
    }
    let _running = match claim_rebuild(path)? {
        lock::Claim::Held(held) => held,
        // Its tables are in use; it drops or swaps them itself.
        lock::Claim::Taken { .. } => return Ok(()),
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let dropped = projection::drop_rebuild_tables(&tx)?;
    tx.commit()?;
    if !dropped.is_empty() {
        tracing::warn!(
            "removed the tables an interrupted rebuild left in {}: {}",
            path.display(),
            dropped.join(", ")
        );
    }
    Ok(())
}

/// What an existing file at `--db` holds, when it is not refused.
enum Identity {
    /// Nothing yet: a 0-byte file (and no WAL content), to be made a new database.
    Blank,
    Ours {
        version: i64,
    },
}

/// A read-only connection to `path`.
pub(super) fn open_reading(path: &Path, mode: ReadMode) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match mode {
        ReadMode::Shared => Connection::open_with_flags(path, flags),
        ReadMode::Immutable => {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        }
    }
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(READER_BUSY_TIMEOUT)?;
    Ok(conn)
}

/// `file:PATH?immutable=1`, every byte of the path that a URI could read otherwise escaped.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// True when `<db>-wal` exists with something in it (writes not yet in the main file).
fn wal_has_content(db: &Path) -> bool {
    std::fs::metadata(lock::path_beside(db, "-wal")).is_ok_and(|meta| meta.len() > 0)
}

/// Refuses a file that is not a KYC Monitor database, reading it only. Says how readers can
/// open it: shared, or immutable where SQLite cannot make its -shm file (a read-only folder).
fn check_identity(path: &Path) -> Result<(Identity, ReadMode), StoreError> {
    let foreign = |reason: &str| StoreError::Foreign {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut header = [0u8; 16];
    // Not a plain open: a FIFO named as the database would block it for ever.
    let read = crate::named_file::open_regular(path)
        .and_then(|(mut file, _)| file.read(&mut header))
        .map_err(|source| StoreError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    // A 0-byte main file is new, or ours in WAL mode before its first checkpoint: SQLite, which
    // also reads the -wal file, tells which below.
    if read > 0 && (read < header.len() || &header != SQLITE_MAGIC) {
        return Err(foreign("it is not an SQLite database"));
    }
    let identify = |conn: &Connection| {
        conn.query_row(
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
    };
    let mut reading = ReadMode::Shared;
    let mut found = identify(&open_reading(path, reading)?);
    if matches!(
        found.as_ref().map_err(rusqlite::Error::sqlite_error_code),
        Err(Some(
            rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
        ))
    ) {
        // SQLite could not make the -shm file: the folder cannot be written.
        if wal_has_content(path) {
            return Err(StoreError::WalUnreadable {
                path: path.to_owned(),
            });
        }
        reading = ReadMode::Immutable;
        found = identify(&open_reading(path, reading)?);
    }
    let identity = found.map_err(|error| match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => foreign("it is not an SQLite database"),
        _ => StoreError::Open {
            path: path.to_owned(),
            source: error,
        },
    })?;
    let identity = match identity {
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
    }?;
    Ok((identity, reading))
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
