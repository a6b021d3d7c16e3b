//! For the tests of outgoing TLS: a test authority made here (Python's `cryptography`,
//! `tests/signers/test_ca.py`), and a server of ours in Python that says `ready…` and then
//! reports what it sees as JSON lines (the SMTP and HTTPS sinks in `tests/signers/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::eventually;

/// The venv's Python, which `./scripts/test` gives `cryptography` and `aiosmtpd`.
pub fn python() -> String {
    std::env::var("KYC_MONITOR_TEST_PYTHON")
        .expect("KYC_MONITOR_TEST_PYTHON: run ./scripts/test, which installs the test venv")
}

/// A test authority, another one, and a server certificate the first signs.
pub struct Certificates {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server: PathBuf,
    pub key: PathBuf,
}

/// Makes them in `dir`, the server's for `names` (host names and IP addresses).
pub fn certificates(dir: &Path, names: &[&str]) -> Certificates {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/signers/test_ca.py");
    let output = Command::new(python())
        .arg(script)
        .arg(dir)
        .args(names)
        .output()
        .expect("run test_ca.py");
    assert!(
        output.status.success(),
        "test_ca.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Certificates {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        server: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// A running sink: its first line, then every event it reports; stopped when dropped.
pub struct Reporter {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Reporter {
    /// Starts `tests/signers/{script}` with `args`; returns it and its first line (`ready…`).
    pub fn start(script: &str, args: &[&std::ffi::OsStr]) -> (Reporter, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/signers")
            .join(script);
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the sink");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a line").expect("read");
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = events.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        (Reporter { child, events }, first)
    }

    /// The events named `event` so far.
    pub fn all(&self, event: &str) -> Vec<Value> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e["event"] == event)
            .cloned()
            .collect()
    }

    /// Waits until `ready` holds of the sink's events.
    pub async fn wait_until(&self, what: &str, ready: impl Fn(&Reporter) -> bool) {
        eventually(what, || async {
            if ready(self) {
                Ok(())
            } else {
                Err(format!("{:?}", self.events.lock().unwrap()))
            }
        })
        .await
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
