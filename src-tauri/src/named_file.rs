//! Files the user names by path (a private key, the settings, the signing secret file): read
//! only when they are regular files of a sane size. A device such as `/dev/zero` would be read
//! without end, and opening a FIFO waits for a writer that may never come; both are refused at
//! once, with a sentence saying what the path is instead.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// A private key or a secret in PEM or text form: a 4096-bit RSA key is about 3.3 KiB.
pub const MAX_KEY_FILE: u64 = 64 * 1024;
/// A settings file.
pub const MAX_SETTINGS_FILE: u64 = 1024 * 1024;

/// The whole file at `path`, when it is a regular file of at most `max` bytes. Errors keep
/// their kind (`NotFound` stays `NotFound`); a refusal is `InvalidInput` with the reason.
pub fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(too_large(meta.len(), max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed tells a file that grew since its size was read.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// The file at `path`, opened to read, with its metadata, when it is a regular file; anything
/// else is refused at once (`InvalidInput`, saying what it is) without blocking on it.
pub fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Without O_NONBLOCK, opening a FIFO for reading blocks until something opens it to write.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_NOCTTY,
    );
    let file = options.open(path)?;
    // The opened file's own metadata: the path may have been swapped since the open.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", what_it_is(&meta)),
        ));
    }
    Ok((file, meta))
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read(path, max)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "it is not UTF-8 text"))
}

fn too_large(size: u64, max: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("it is {size} bytes or more, over the {max} bytes such a file may have: check that you chose the right file"),
    )
}

/// What a path that is not a regular file is, in words.
pub fn what_it_is(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_a_fifo_a_folder_and_a_huge_file_are_refused_at_once() {
        let folder = tempfile::tempdir().unwrap();
        let refusal = |path: &Path| read(path, MAX_KEY_FILE).unwrap_err();

        let zero = refusal(Path::new("/dev/zero"));
        assert_eq!(zero.kind(), ErrorKind::InvalidInput);
        assert_eq!(zero.to_string(), "it is a device, not a regular file");

        let fifo = folder.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            refusal(&fifo).to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );

        assert_eq!(
            refusal(folder.path()).to_string(),
            "it is a folder, not a regular file"
        );

        let huge = folder.path().join("huge.pem");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_KEY_FILE + 1)
            .unwrap();
        assert!(refusal(&huge).to_string().contains("over the 65536 bytes"));

        let missing = refusal(&folder.path().join("missing"));
        assert_eq!(missing.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_regular_file_within_the_bound_is_read_whole() {
        let folder = tempfile::tempdir().unwrap();
        let key = folder.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert_eq!(
            read_text(&key, MAX_KEY_FILE).unwrap(),
            "-----BEGIN PRIVATE KEY-----\n"
        );
        let exact = folder.path().join("exact");
        std::fs::write(&exact, vec![b'a'; 16]).unwrap();
        assert_eq!(read(&exact, 16).unwrap().len(), 16);
        assert!(read(&exact, 15).is_err());
    }
}
