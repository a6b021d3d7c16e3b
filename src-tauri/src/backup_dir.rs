//! `--backup-dir DIR`: backups started from the UI are written only into DIR, and never through
//! a symbolic link out of it, even one swapped in while a backup runs. The folder is opened
//! below DIR one level at a time without following links and held open; the copy is made in a
//! private folder beside the database (SQLite names files by path, so it cannot write through a
//! handle), then moved into the held folder with `renameat` and given its name with `linkat`,
//! which never replaces a file.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use crate::monitor::CoreError;
use crate::store::BackupError;

const PRIVATE_PREFIX: &str = ".kyc-monitor-backup-";

/// How old a private folder with no copy in progress must be to count as abandoned: one killed
/// before its copy began, or after the copy was finished but before it was moved out.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the private folders beside the database that killed backups left: one holding a
/// temporary copy (`*.partial`) that nobody holds locked (a running backup locks its copy), or
/// one with no copy in progress, untouched for an hour. Never one a running backup uses.
fn remove_abandoned(beside: &Path) {
    let Ok(entries) = std::fs::read_dir(beside) else {
        return;
    };
    for entry in entries.flatten() {
        let named = entry
            .file_name()
            .to_string_lossy()
            .starts_with(PRIVATE_PREFIX);
        if !named || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = entry.path();
        let Ok(inside) = std::fs::read_dir(&folder) else {
            continue;
        };
        let partials: Vec<PathBuf> = inside
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".partial"))
            .collect();
        let in_use = partials
            .iter()
            .any(|partial| std::fs::File::open(partial).is_ok_and(|file| file.try_lock().is_err()));
        let stale = || {
            entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > ABANDONED_AFTER))
        };
        if !in_use && (!partials.is_empty() || stale()) {
            match std::fs::remove_dir_all(&folder) {
                Ok(()) => {
                    tracing::info!(folder = %folder.display(), "removed what an interrupted backup left")
                }
                Err(error) => {
                    tracing::warn!(folder = %folder.display(), %error, "cannot remove what an interrupted backup left")
                }
            }
        }
    }
}

/// The folder a backup goes into, held open, and the new file's name in it.
pub struct HeldFolder {
    #[cfg(target_os = "linux")]
    handle: std::os::fd::OwnedFd,
    /// The folder as resolved when it was checked.
    folder: PathBuf,
    name: OsString,
}

/// Checks that `dest` lies in `folder` (`--backup-dir`) with no symbolic link on the way, and
/// holds its folder open; refuses with a sentence otherwise.
pub fn hold(dest: &Path, folder: &Path) -> Result<HeldFolder, CoreError> {
    let allowed = std::fs::canonicalize(folder).map_err(|error| {
        CoreError::Invalid(format!(
            "the backup folder {} (--backup-dir) cannot be used ({error}): create it or choose another",
            folder.display()
        ))
    })?;
    let outside = || {
        CoreError::Invalid(format!(
            "backups are written only into {} (--backup-dir), and not through a symbolic link out of it: give the path of a new file in that folder",
            folder.display()
        ))
    };
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(outside());
    };
    // The folders below --backup-dir, as it was written or as it resolves.
    let below = parent
        .strip_prefix(folder)
        .or_else(|_| parent.strip_prefix(&allowed))
        .map_err(|_| outside())?;
    let mut folders = Vec::new();
    for part in below.components() {
        match part {
            Component::Normal(part) => folders.push(part.to_owned()),
            Component::CurDir => {}
            _ => return Err(outside()),
        }
    }
    let held = open_below(&allowed, &folders, name).map_err(|error| {
        if error.raw_os_error() == Some(libc::ELOOP) || error.raw_os_error() == Some(libc::ENOTDIR)
        {
            outside()
        } else if error.kind() == std::io::ErrorKind::NotFound {
            CoreError::Invalid(format!(
                "the folder {} does not exist: backups go into {} (--backup-dir)",
                parent.display(),
                folder.display()
            ))
        } else {
            CoreError::Invalid(format!(
                "cannot open the folder {} for the backup: {error}",
                parent.display()
            ))
        }
    })?;
    if held.exists(name) {
        return Err(CoreError::Invalid(
            BackupError::DestinationExists {
                path: dest.to_owned(),
            }
            .to_string(),
        ));
    }
    Ok(held)
}

impl HeldFolder {
    /// The new file's name.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// A folder only this process uses, beside the database `db`, for the copy to be made in.
    /// What killed backups left in such folders (a copy as large as the database) is removed
    /// first.
    pub fn private_folder(&self, db: &Path) -> Result<tempfile::TempDir, CoreError> {
        let beside = db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        remove_abandoned(beside);
        tempfile::Builder::new()
            .prefix(PRIVATE_PREFIX)
            .tempdir_in(beside)
            .map_err(|error| {
                CoreError::internal(
                    "the backup could not start: no private folder beside the database",
                    &error,
                )
            })
    }

    /// Moves the finished copy at `from` into the held folder under its name, never replacing a
    /// file; the copy is removed if it cannot be.
    pub fn take_in(self, from: &Path) -> Result<(), BackupError> {
        let write_error = |source| BackupError::Write {
            folder: self.folder.clone(),
            source,
        };
        let mut partial = OsString::from(".");
        partial.push(&self.name);
        partial.push(format!(".{}.partial", std::process::id()));
        self.move_in(from, &partial).map_err(write_error)?;
        let named = self.link(&partial, &self.name);
        let _ = self.unlink(&partial);
        match named {
            Ok(()) => self.sync().map_err(write_error),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(BackupError::DestinationExists {
                    path: self.folder.join(&self.name),
                })
            }
            Err(error) => Err(write_error(error)),
        }
    }
}

#[cfg(target_os = "linux")]
mod at {
    //! The folder's handle and the `*at` calls relative to it.

    use std::ffi::{CString, OsStr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::HeldFolder;

    fn c(name: &OsStr) -> std::io::Result<CString> {
        CString::new(name.as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn checked(result: libc::c_int) -> std::io::Result<()> {
        if result < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn open_folder(at: libc::c_int, name: &OsStr) -> std::io::Result<OwnedFd> {
        let name = c(name)?;
        // SAFETY: a valid NUL-terminated name; the descriptor returned is owned from here on.
        let fd = unsafe {
            libc::openat(
                at,
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        checked(fd)?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(super) fn open_below(
        allowed: &Path,
        folders: &[std::ffi::OsString],
        name: &OsStr,
    ) -> std::io::Result<HeldFolder> {
        let mut handle = open_folder(libc::AT_FDCWD, allowed.as_os_str())?;
        let mut folder = allowed.to_owned();
        for part in folders {
            handle = open_folder(handle.as_raw_fd(), part)?;
            folder.push(part);
        }
        Ok(HeldFolder {
            handle,
            folder,
            name: name.to_owned(),
        })
    }

    impl HeldFolder {
        pub(super) fn exists(&self, name: &OsStr) -> bool {
            let Ok(name) = c(name) else { return false };
            // SAFETY: a zeroed stat buffer and a valid name.
            let mut stat = unsafe { std::mem::zeroed::<libc::stat>() };
            let found = unsafe {
                libc::fstatat(
                    self.handle.as_raw_fd(),
                    name.as_ptr(),
                    &mut stat,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            found == 0
        }

        /// `from` (anywhere) to `name` in the held folder: a rename on one file system, else a
        /// copy into a file made there (never through a link).
        pub(super) fn move_in(&self, from: &Path, name: &OsStr) -> std::io::Result<()> {
            let (source, target) = (c(from.as_os_str())?, c(name)?);
            // SAFETY: valid names; renameat only renames.
            let renamed = unsafe {
                libc::renameat(
                    libc::AT_FDCWD,
                    source.as_ptr(),
                    self.handle.as_raw_fd(),
                    target.as_ptr(),
                )
            };
            match checked(renamed) {
                Err(error) if error.raw_os_error() == Some(libc::EXDEV) => {}
                other => return other,
            }
            // SAFETY: a valid name; the descriptor is owned by the File from here on.
            let fd = unsafe {
                libc::openat(
                    self.handle.as_raw_fd(),
                    target.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            checked(fd)?;
            let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
            let copied = std::fs::File::open(from)
                .and_then(|mut source| std::io::copy(&mut source, &mut file))
                .and_then(|_| file.sync_all());
            if copied.is_err() {
                let _ = self.unlink(name);
            }
            copied
        }

        pub(super) fn link(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
            let (from, to) = (c(from)?, c(to)?);
            let fd = self.handle.as_raw_fd();
            // SAFETY: valid names; linkat fails rather than replace `to`.
            checked(unsafe { libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) })
        }

        pub(super) fn unlink(&self, name: &OsStr) -> std::io::Result<()> {
            let name = c(name)?;
            // SAFETY: a valid name.
            checked(unsafe { libc::unlinkat(self.handle.as_raw_fd(), name.as_ptr(), 0) })
        }

        /// The new name is durable once the folder itself is synced.
        pub(super) fn sync(&self) -> std::io::Result<()> {
            // SAFETY: fsync on a descriptor this value owns.
            checked(unsafe { libc::fsync(self.handle.as_raw_fd()) })
        }
    }
}

#[cfg(target_os = "linux")]
use at::open_below;

/// Elsewhere, by path: each folder checked not to be a link (a race can still swap one).
#[cfg(not(target_os = "linux"))]
fn open_below(allowed: &Path, folders: &[OsString], name: &OsStr) -> std::io::Result<HeldFolder> {
    let mut folder = allowed.to_owned();
    for part in folders {
        folder.push(part);
        if std::fs::symlink_metadata(&folder)?.file_type().is_symlink() {
            return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
        }
    }
    Ok(HeldFolder {
        folder,
        name: name.to_owned(),
    })
}

#[cfg(not(target_os = "linux"))]
impl HeldFolder {
    fn exists(&self, name: &OsStr) -> bool {
        std::fs::symlink_metadata(self.folder.join(name)).is_ok()
    }
    fn move_in(&self, from: &Path, name: &OsStr) -> std::io::Result<()> {
        std::fs::rename(from, self.folder.join(name))
            .or_else(|_| std::fs::copy(from, self.folder.join(name)).map(|_| ()))
    }
    fn link(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
        std::fs::hard_link(self.folder.join(from), self.folder.join(to))
    }
    fn unlink(&self, name: &OsStr) -> std::io::Result<()> {
        std::fs::remove_file(self.folder.join(name))
    }
    fn sync(&self) -> std::io::Result<()> {
        Ok(())
    }
}
