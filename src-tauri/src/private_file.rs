//! Files only their owner may read (the signing secret, a private key the emulator makes),
//! written whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` with mode 0600 (on Unix), through a temporary file beside it that
/// is synced and renamed over `path`: a crash never leaves half a file, nor one others can read.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}
