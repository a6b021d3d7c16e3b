//! The files the writer commits to, as it opened them. SQLite keeps writing to a database (and
//! its WAL) that was deleted or replaced under it: the commits succeed, into a file nobody will
//! ever open again. So before a batch is acknowledged, the path must still name the same files.

use std::path::{Path, PathBuf};

/// Device and inode: what a path names, whatever it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

#[derive(Debug)]
pub(super) struct FileIdentity {
    db: PathBuf,
    wal: PathBuf,
    db_id: Option<FileId>,
    wal_id: Option<FileId>,
}

impl FileIdentity {
    /// What `db` and its WAL name now; call it once the writer's connection is open.
    pub fn capture(db: &Path) -> FileIdentity {
        // SQLite follows a symbolic link to the database and names the WAL after its target.
        let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_owned());
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        FileIdentity {
            db_id: file_id(&db),
            wal_id: file_id(&wal),
            db,
            wal,
        }
    }

    /// `Err` with a sentence for the operator when the database or its WAL is no longer the
    /// file the writer holds open.
    pub fn check(&mut self) -> Result<(), String> {
        let db = file_id(&self.db);
        if db.is_none() || db != self.db_id {
            return Err(gone_or_replaced(&self.db, db.is_none()));
        }
        let wal = file_id(&self.wal);
        match (self.wal_id, wal) {
            // The WAL is made by the first write when it was not there at start.
            (None, Some(_)) => self.wal_id = wal,
            (Some(held), Some(now)) if held == now => {}
            (Some(_), now) => return Err(gone_or_replaced(&self.wal, now.is_none())),
            (None, None) => {}
        }
        Ok(())
    }
}

fn gone_or_replaced(path: &Path, gone: bool) -> String {
    let what = if gone { "deleted" } else { "replaced" };
    format!(
        "{} was {what} while the monitor was running, so nothing more can be kept in it: deliveries are answered 503 (the provider retries them) until the monitor is restarted",
        path.display()
    )
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|meta| FileId(meta.dev(), meta.ino()))
}

/// Elsewhere a file's identity is not at hand: only its presence is checked.
#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    path.exists().then_some(FileId(0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_or_replaced_database_or_wal_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.db");
        let wal = dir.path().join("monitor.db-wal");
        std::fs::write(&db, b"x").unwrap();
        let mut identity = FileIdentity::capture(&db);
        assert_eq!(identity.check(), Ok(()));

        std::fs::write(&wal, b"w").unwrap();
        assert_eq!(identity.check(), Ok(()), "a WAL made after start is taken");
        std::fs::remove_file(&wal).unwrap();
        let error = identity.check().unwrap_err();
        assert!(error.contains("monitor.db-wal was deleted"), "{error}");

        let mut identity = FileIdentity::capture(&db);
        std::fs::write(dir.path().join("other"), b"y").unwrap();
        std::fs::rename(dir.path().join("other"), &db).unwrap();
        let error = identity.check().unwrap_err();
        assert!(error.contains("monitor.db was replaced"), "{error}");
        std::fs::remove_file(&db).unwrap();
        assert!(identity.check().unwrap_err().contains("was deleted"));
    }
}
