//! Real file systems for the tests of what is left behind: a small tmpfs that fills up, and a
//! read-only mount. Both need root (as CI has); a test that cannot make one fails and says why.

use std::path::Path;
use std::process::Command;

fn mount(args: &[&str], target: &Path, what: &str) {
    let output = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .expect("run mount");
    assert!(
        output.status.success(),
        "cannot mount {what} on {} ({}): this test needs root and mount(8), as CI has",
        target.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// A tmpfs of its own, so that filling it fills nothing else; unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            dir.path(),
            "a tmpfs",
        );
        SmallDisk { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// `source`, seen read-only at `path()` through a read-only bind mount (as a CD, a write-protected
/// disk or a snapshot would be): writes fail with EROFS even for root. Unmounted when dropped.
pub struct ReadOnlyView {
    dir: tempfile::TempDir,
}

impl ReadOnlyView {
    pub fn of(source: &Path) -> ReadOnlyView {
        let dir = tempfile::tempdir().unwrap();
        mount(
            &["--bind", source.to_str().unwrap()],
            dir.path(),
            "a bind mount",
        );
        let view = ReadOnlyView { dir };
        mount(
            &["-o", "remount,bind,ro"],
            view.path(),
            "a read-only remount",
        );
        assert!(
            std::fs::write(view.path().join("probe"), b"").is_err(),
            "{} is still writable after a read-only remount",
            view.path().display()
        );
        view
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ReadOnlyView {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
