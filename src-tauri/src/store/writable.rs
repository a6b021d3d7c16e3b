//! The only ways to open the database for writing. A running monitor writes through its one
//! writer (`Store::start_writer`: its connection and its checkpointer's); the other two paths
//! are maintenance that takes its own connection: migrations while a file is opened (before any
//! writer exists on it) and `rebuild` (a command of its own, swapping fresh tables in).
//! Readers everywhere else open with `SQLITE_OPEN_READ_ONLY` (`store::open_reading`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, WRITER_BUSY_TIMEOUT};

/// The writer's connection, or its checkpointer's.
pub(super) fn for_writer(path: &Path) -> Result<Connection, StoreError> {
    open_writable(path)
}

/// Migrations at open, before a writer runs: creates a missing file, readable by its owner
/// only (see [`create_private`]).
pub(super) fn for_migrations(path: &Path) -> Result<Connection, StoreError> {
    create_private(path);
    open_writable(path)
}

/// Makes a missing database file empty with mode 0600 (on Unix) before SQLite opens it: the
/// file holds who applied and what was decided about them, and SQLite would make it 0644, open
/// to every account on the machine. SQLite gives its -wal and -shm the mode of the file they
/// belong to. A link to a file not made yet is followed, as SQLite would. A file that exists
/// keeps its mode (someone may have opened it to a backup user on purpose), and a file this
/// cannot make is left to SQLite, whose error says why.
fn create_private(path: &Path) {
    let target = super::lock::real_path(path).unwrap_or_else(|| path.to_owned());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // The mode again on the open file: the umask may have taken the owner's write away (0200),
    // leaving a database that could never be opened for writing.
    #[cfg(unix)]
    if let Ok(file) = options.open(target) {
        let _ = file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = options.open(target);
}

/// Migrations of an existing file by a command that only reads or derives: without
/// SQLITE_OPEN_CREATE, so a file removed since its check is not made again.
pub(super) fn for_migrating_existing(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    Ok(conn)
}

/// `rebuild`, which holds the rebuild lock while it writes its fresh tables.
pub(super) fn for_rebuild(path: &Path) -> Result<Connection, StoreError> {
    open_writable(path)
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
