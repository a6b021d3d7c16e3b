//! One desktop app per database: the first launch holds a lock beside the database and
//! listens on a local socket; a second launch finds the lock taken, asks the first (through
//! the socket) to bring its window forward, and exits.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Another app holds this database; it was asked to show its window.
    #[error("KYC Monitor is already running for this database")]
    Running,
    #[error("another program holds {0} (a KYC Monitor that does not answer?): close it, or choose another database")]
    HeldSilently(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while the app runs; the lock goes with the process, however it ends.
pub struct Instance {
    _lock: File,
    listener: UnixListener,
    socket: PathBuf,
}

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".desktop-lock");
    db.with_file_name(name)
}

/// A short socket path (they are limited to about 100 bytes), unique per database.
fn socket_path(db: &Path) -> PathBuf {
    let absolute = std::path::absolute(db).unwrap_or_else(|_| db.to_owned());
    let digest = Sha256::digest(absolute.as_os_str().as_encoded_bytes());
    let dir = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    dir.join(format!("kyc-monitor-{}.sock", hex::encode(&digest[..8])))
}

impl Instance {
    pub fn acquire(db: &Path) -> Result<Instance, InstanceError> {
        let path = lock_path(db);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let lock_error = |source| InstanceError::Lock {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        let socket = socket_path(db);
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return match UnixStream::connect(&socket) {
                    Ok(mut stream) => {
                        let _ = stream.write_all(b"focus\n");
                        let mut answer = [0u8; 3];
                        let _ = stream.read(&mut answer);
                        Err(InstanceError::Running)
                    }
                    Err(_) => Err(InstanceError::HeldSilently(db.to_owned())),
                };
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(lock_error(error)),
        }
        // A socket file left by a crashed run is ours to replace: we hold the lock.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(|source| InstanceError::Lock {
            path: socket.clone(),
            source,
        })?;
        Ok(Instance {
            _lock: file,
            listener,
            socket,
        })
    }

    /// Calls `focus` whenever another launch asks for this window (on a thread of its own).
    pub fn on_focus_request(self, focus: impl Fn() + Send + 'static) {
        std::thread::spawn(move || {
            let instance = self;
            for stream in instance.listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 6];
                if stream.read_exact(&mut request).is_ok() && &request == b"focus\n" {
                    focus();
                    let _ = stream.write_all(b"ok\n");
                }
            }
        });
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_asks_the_first_to_focus() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.db");
        let first = Instance::acquire(&db).unwrap();
        let (told, heard) = std::sync::mpsc::channel();
        first.on_focus_request(move || told.send(()).unwrap());
        assert!(matches!(
            Instance::acquire(&db),
            Err(InstanceError::Running)
        ));
        heard
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the first instance was asked to focus");
        let other = Instance::acquire(&dir.path().join("other.db"));
        assert!(other.is_ok(), "another database is another instance");
    }
}
