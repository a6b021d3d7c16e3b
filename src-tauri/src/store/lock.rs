//! Advisory locks in files beside the database: one says a monitor serves it, one that a
//! rebuild is running on it. Never on the database file itself: closing any descriptor of a
//! file drops the POSIX locks SQLite holds on it. The lock goes with the process, however it
//! ends, so a crash leaves nothing to clean up; the files themselves stay (removing a lock
//! file races with whoever is opening it).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while alive.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// What trying a lock found.
pub(super) enum Claim {
    Held(FileLock),
    /// Another process holds it; its pid, when it wrote one.
    Taken {
        pid: Option<u32>,
    },
}

/// `<db><suffix>`, beside the database.
pub(super) fn path_beside(db: &Path, suffix: &str) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// The lock file `<db><suffix>` of the database file `db` however it was named: a symbolic
/// link (even one to a file not made yet), `..` or another spelling of the same file gets the
/// same lock (a second monitor on one file is refused whatever path it was given).
pub(super) fn lock_beside(db: &Path, suffix: &str) -> PathBuf {
    let real = real_path(db);
    path_beside(real.as_deref().unwrap_or(db), suffix)
}

/// Where `path` leads: its links followed (as SQLite will, to create the file they name) and
/// its folder made canonical, whether the file exists yet or not.
pub(super) fn real_path(path: &Path) -> Option<PathBuf> {
    let mut path = path.to_owned();
    // As many links as the kernel follows before it gives up (ELOOP).
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = match path.parent() {
            Some(folder) if target.is_relative() => folder.join(target),
            _ => target,
        };
    }
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(folder).ok()?.join(path.file_name()?))
}

/// Takes the lock in `path` (creating the file) without waiting, and writes this process's pid
/// in it for whoever finds it taken.
pub(super) fn try_claim(path: &Path) -> std::io::Result<Claim> {
    let mut options = File::options();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // Readable by its owner only, one made by an older version too: another account that can
    // open the lock can hold it, and so keep the monitor from starting. (Not ours: left as is.)
    #[cfg(unix)]
    let _ = file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Claim::Taken {
                pid: text.trim().parse().ok(),
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(error),
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Claim::Held(FileLock { _file: file }))
}

/// " (pid N)" when the pid is known, for messages.
pub(super) fn pid_note(pid: Option<u32>) -> String {
    pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
}
