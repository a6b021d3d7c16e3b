//! Where the signing secret is kept between runs: a file beside the database, readable by its
//! owner only. Never in the database, the logs or the UI. `serve` (and the desktop app) read it
//! on every delivery's check, so a registration that makes a new secret takes effect at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::signature::{SecretError, SigningSecret};

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

/// The stored secret, if there is one.
pub fn load(db: &Path) -> Result<Option<SigningSecret>, SecretFileError> {
    read(&path_for(db))
}

fn read(path: &Path) -> Result<Option<SigningSecret>, SecretFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
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

/// Stores `secret` (or removes the file for `None`), replacing the file atomically.
pub fn store(db: &Path, secret: Option<&SigningSecret>) -> Result<(), SecretFileError> {
    let path = path_for(db);
    let unwritable = |source| SecretFileError::Unwritable {
        path: path.clone(),
        source,
    };
    let Some(secret) = secret else {
        return match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(unwritable(error)),
            _ => Ok(()),
        };
    };
    let mut temporary = path.clone().into_os_string();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = options.open(&temporary)?;
        file.write_all(secret.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    };
    write().map_err(unwritable)
}

/// Where the webhook listener gets its secret from.
#[derive(Debug)]
pub enum SecretSource {
    /// Given on the command line or in the environment: fixed for the run.
    Fixed(Option<SigningSecret>),
    /// The file beside the database, read again whenever it changes.
    File {
        path: PathBuf,
        cache: Mutex<(Option<SystemTime>, Option<SigningSecret>)>,
    },
}

impl SecretSource {
    /// The database's secret file; fails now if the file is there but damaged.
    pub fn file(db: &Path) -> Result<SecretSource, SecretFileError> {
        let path = path_for(db);
        let secret = read(&path)?;
        let modified = modified(&path);
        Ok(SecretSource::File {
            path,
            cache: Mutex::new((modified, secret)),
        })
    }

    /// The secret deliveries must be signed with now, if any.
    pub fn current(&self) -> Option<SigningSecret> {
        match self {
            SecretSource::Fixed(secret) => secret.clone(),
            SecretSource::File { path, cache } => {
                let mut cache = cache.lock().expect("secret cache lock");
                let modified = modified(path);
                if modified != cache.0 {
                    match read(path) {
                        Ok(secret) => *cache = (modified, secret),
                        // Keep the last good secret: a half-edited file must not open the door.
                        Err(error) => tracing::warn!("{error}"),
                    }
                }
                cache.1.clone()
            }
        }
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

        let secret = SigningSecret::generate();
        store(&db, Some(&secret)).unwrap();
        assert_eq!(source.current(), Some(secret.clone()));
        assert_eq!(load(&db).unwrap(), Some(secret));
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
        assert_eq!(source.current(), None);
        store(&db, None).unwrap();
    }

    #[test]
    fn a_damaged_file_is_refused_at_start_and_ignored_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.db");
        let secret = SigningSecret::generate();
        store(&db, Some(&secret)).unwrap();
        let source = SecretSource::file(&db).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(path_for(&db), "not a secret").unwrap();
        assert_eq!(source.current(), Some(secret), "the last good secret stays");
        let error = SecretSource::file(&db).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
        assert!(!error.contains("not a secret"), "{error}");
    }
}
