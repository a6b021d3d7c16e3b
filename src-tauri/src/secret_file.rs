//! Where the signing secret is kept between runs: a file beside the database, readable by its
//! owner only. Never in the database, the logs or the UI. `serve` (and the desktop app) keep the
//! secret they last read and check the file again, off the async workers, whenever a delivery
//! would be refused with it (or is signed while none is known) and every second besides: a
//! registration that makes, changes or removes the secret takes effect at once.
//!
//! A registration with another secret rotates: the file keeps the secret it replaces valid
//! for the rotation grace (see [`SecretSet`]); the grace is a time in the file, so a restart
//! keeps it, and its end takes effect without one.

mod set;

pub use set::{Previous, SecretSet, SecretState, SigningSecretView, DEFAULT_GRACE, RECOGNISED_FOR};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::blocking::off_worker;
use crate::signature::{SecretError, SigningSecret};
use crate::time::now_millis;

/// How often the file is checked while nothing asks for it.
const RECHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read the signing secret file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing secret file {path} is damaged ({reason}); register again with --new-signing-secret, or remove the file to accept unsigned deliveries")]
    Damaged { path: PathBuf, reason: SecretError },
    #[error("cannot write the signing secret file {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The secret file that belongs to the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".signing-secret");
    db.with_file_name(name)
}

/// The stored (current) secret, if there is one.
pub fn load(db: &Path) -> Result<Option<SigningSecret>, SecretFileError> {
    Ok(load_set(db)?.map(|set| set.current))
}

/// The stored secrets: the current one and those still in their grace or recognised.
pub fn load_set(db: &Path) -> Result<Option<SecretSet>, SecretFileError> {
    read(&path_for(db))
}

fn read(path: &Path) -> Result<Option<SecretSet>, SecretFileError> {
    match crate::named_file::read_text(path, crate::named_file::MAX_KEY_FILE) {
        Ok(text) => SecretSet::from_text(&text)
            .map(|set| Some(set.pruned(now_millis())))
            .map_err(|reason| SecretFileError::Damaged {
                path: path.to_owned(),
                reason,
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretFileError::Unreadable {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Stores `secrets` (or removes the file for `None`), replacing the file atomically.
pub fn store(db: &Path, secrets: Option<&SecretSet>) -> Result<(), SecretFileError> {
    let path = path_for(db);
    let unwritable = |source| SecretFileError::Unwritable {
        path: path.clone(),
        source,
    };
    let Some(secrets) = secrets else {
        return match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(unwritable(error)),
            _ => Ok(()),
        };
    };
    let text = secrets.clone().pruned(now_millis()).to_text();
    crate::private_file::replace(&path, text.as_bytes()).map_err(unwritable)
}

/// Where the webhook listener gets its secret from.
#[derive(Debug)]
pub enum SecretSource {
    /// Given on the command line or in the environment: fixed for the run, all verifying.
    Fixed(Option<SecretSet>),
    /// The file beside the database, read again when it changes.
    File(WatchedFile),
}

/// The secret file and what it held when last read.
#[derive(Debug)]
pub struct WatchedFile {
    path: PathBuf,
    known: RwLock<Known>,
}

#[derive(Debug)]
struct Known {
    modified: Option<SystemTime>,
    secrets: Option<SecretSet>,
}

impl SecretSource {
    /// The database's secret file; fails now if the file is there but damaged.
    pub fn file(db: &Path) -> Result<SecretSource, SecretFileError> {
        let path = path_for(db);
        let secrets = read(&path)?;
        let modified = modified(&path);
        Ok(SecretSource::File(WatchedFile {
            path,
            known: RwLock::new(Known { modified, secrets }),
        }))
    }

    /// The secrets deliveries must be signed with, as last read: no file access.
    pub fn current(&self) -> Option<SecretSet> {
        match self {
            SecretSource::Fixed(secrets) => secrets.clone(),
            SecretSource::File(file) => file.known.read().expect("secret lock").secrets.clone(),
        }
    }

    /// Whether the secrets were given at start (they do not rotate).
    pub fn is_fixed(&self) -> bool {
        matches!(self, SecretSource::Fixed(_))
    }

    /// Reads the file again if it changed since it was last read, and returns the secret in
    /// force. Blocks on the file system: [`SecretSource::refresh`] is the async one.
    pub fn reload(&self) -> Option<SecretSet> {
        let SecretSource::File(file) = self else {
            return self.current();
        };
        let modified = modified(&file.path);
        if modified == file.known.read().expect("secret lock").modified {
            return self.current();
        }
        match read(&file.path) {
            Ok(secrets) => {
                *file.known.write().expect("secret lock") = Known {
                    modified,
                    secrets: secrets.clone(),
                };
                secrets
            }
            // Keep the last good secret: a half-edited file must not open the door.
            Err(error) => {
                tracing::warn!("{error}");
                self.current()
            }
        }
    }

    /// [`SecretSource::reload`] off the async workers.
    pub async fn refresh(self: &Arc<Self>) -> Option<SecretSet> {
        match self.as_ref() {
            SecretSource::Fixed(secrets) => secrets.clone(),
            SecretSource::File(_) => {
                let source = self.clone();
                off_worker(move || source.reload()).await
            }
        }
    }

    /// Checks the file every [`RECHECK_EVERY`] until `stopping` turns true, so that a secret
    /// made by another process is required even before a signed delivery shows it.
    pub fn keep_fresh(self: &Arc<Self>, mut stopping: watch::Receiver<bool>) {
        if matches!(self.as_ref(), SecretSource::Fixed(_)) {
            return;
        }
        let source = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RECHECK_EVERY) => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
                source.refresh().await;
            }
        });
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_secret_is_private_and_picked_up_by_a_running_source() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.db");
        let source = SecretSource::file(&db).unwrap();
        assert_eq!(source.current(), None);

        let secret = SecretSet::single(SigningSecret::generate());
        store(&db, Some(&secret)).unwrap();
        assert_eq!(source.current(), None, "as last read, until read again");
        assert_eq!(source.reload(), Some(secret.clone()));
        assert_eq!(source.current(), Some(secret.clone()));
        assert_eq!(load_set(&db).unwrap(), Some(secret.clone()));
        assert_eq!(load(&db).unwrap(), Some(secret.current));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path_for(&db))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        store(&db, None).unwrap();
        assert_eq!(source.reload(), None);
        store(&db, None).unwrap();
    }

    #[test]
    fn a_damaged_file_is_refused_at_start_and_ignored_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.db");
        let secret = SecretSet::single(SigningSecret::generate());
        store(&db, Some(&secret)).unwrap();
        let source = SecretSource::file(&db).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(path_for(&db), "not a secret").unwrap();
        assert_eq!(source.reload(), Some(secret), "the last good secret stays");
        let error = SecretSource::file(&db).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
        assert!(!error.contains("not a secret"), "{error}");
    }
}
