//! Shared by the integration tests: start the real `kyc-monitor` binary on port 0 with a fresh
//! database, post to it over real HTTP, run its other commands.
#![allow(dead_code)]

pub mod bore;
pub mod bulk;
pub mod disks;
pub mod idp;
pub mod team;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_kyc-monitor");

/// `serve`'s options for a quick demo: `users` flows of the `api` emulator (`documented` or
/// `beta`) at 100 times speed, a quarter held for review and a quarter abandoned, then `more`.
pub fn quick_demo<'a>(api: &'a str, users: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--demo",
        "--demo-api",
        api,
        "--demo-users",
        users,
        "--demo-speed",
        "100",
        "--demo-hold-rate",
        "0.25",
        "--demo-abandon-rate",
        "0.25",
    ];
    args.extend_from_slice(more);
    args
}

/// Sample deliveries in both documented forms, in `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// `kyc-monitor serve` on a free port, the UI off, with the database at `db`; the caller adds
/// the rest and runs it.
pub fn serve_command(db: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--db",
        ])
        .arg(db);
    command
}

/// A running `kyc-monitor serve`. Killed when dropped.
pub struct Monitor {
    pub child: Child,
    pub webhook_url: String,
    pub db: PathBuf,
    stdout: BufReader<ChildStdout>,
}

impl Monitor {
    /// Starts `serve` on a free port with the database at `db` and any extra arguments.
    pub fn start(db: &Path, extra: &[&str]) -> Monitor {
        Monitor::start_with(db, false, extra, &mut Command::new(BIN))
    }

    /// Like [`Monitor::start`], with the UI on a free port: `register` and `reconcile` ask a
    /// running monitor through it.
    pub fn start_with_ui(db: &Path, extra: &[&str]) -> Monitor {
        Monitor::start_with(db, true, extra, &mut Command::new(BIN))
    }

    /// Like [`Monitor::start`], with the UI on a free port when `ui` (its URL is the next
    /// line), and `command` prepared by the caller (environment, stderr).
    pub fn start_with(db: &Path, ui: bool, extra: &[&str], command: &mut Command) -> Monitor {
        let ui_listen = if ui { "127.0.0.1:0" } else { "off" };
        Monitor::start_on(db, ui_listen, extra, command)
    }

    /// Like [`Monitor::start_with`], the UI listening at `ui_listen` (an address or `off`).
    pub fn start_on(db: &Path, ui_listen: &str, extra: &[&str], command: &mut Command) -> Monitor {
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--ui-listen",
                ui_listen,
                "--db",
            ])
            .arg(db)
            .args(extra);
        // A caller that asked for more logging (to read it) keeps it.
        if !command.get_envs().any(|(name, _)| name == "RUST_LOG") {
            command.env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        }
        let mut child = command
            .env_remove("KYC_MONITOR_SIGNING_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start kyc-monitor serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the webhook line");
        let webhook_url = line
            .strip_prefix("webhook: ")
            .unwrap_or_else(|| panic!("serve printed {line:?} instead of a webhook line"))
            .trim()
            .to_owned();
        Monitor {
            child,
            webhook_url,
            db: db.to_owned(),
            stdout,
        }
    }

    /// The next line `serve` prints on stdout (such as `ui:` or `public:`), without its end.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read a line from serve");
        line.trim_end().to_owned()
    }

    /// The UI's base URL and its token, from the `ui:` line (for a monitor started with the UI).
    pub fn ui(&mut self) -> (String, String) {
        let line = self.next_line();
        let (base, token) = line
            .strip_prefix("ui: ")
            .and_then(|url| url.split_once("/?token="))
            .unwrap_or_else(|| {
                panic!("serve printed {line:?} instead of a ui: line with the token")
            });
        (base.to_owned(), token.to_owned())
    }

    /// The UI's base URL from a team monitor's `ui:` line (it carries no token).
    pub fn team_ui(&mut self) -> String {
        let line = self.next_line();
        line.strip_prefix("ui: ")
            .unwrap_or_else(|| panic!("serve printed {line:?} instead of a ui: line"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The listener's base, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let rest = self.webhook_url.strip_prefix("http://").expect("http URL");
        format!("http://{}", &rest[..rest.find('/').expect("a path")])
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    pub fn terminate(mut self) -> i32 {
        signal(&self.child, "TERM");
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(20));
        status.code().unwrap_or(-1)
    }

    /// Kills the process at once, as a crash or power cut would.
    pub fn kill_hard(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }

    /// Kills it and returns what it wrote to stderr (which the caller piped).
    pub fn killed_log(mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .expect("stderr piped")
            .read_to_string(&mut log)
            .unwrap();
        let _ = self.child.wait();
        log
    }

    pub fn remaining_stdout(&mut self) -> String {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        rest
    }
}

impl Drop for Monitor {
    /// Stops as Ctrl-C would (the writer projects what it journaled), killing it only if it
    /// does not exit: a test that reads the database next sees every acknowledged delivery.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "kyc-monitor did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port nobody listens on now on loopback, for a listener whose address must be known before
/// it starts (the UI's public URL, registered with an identity provider). It is chosen below the
/// kernel's ephemeral range: a port the kernel handed out (`bind` to port 0, or an outgoing
/// connection's own end) may be handed out again before the process it is for binds it, while
/// one below that range is taken only by a process that names it.
pub fn free_port() -> u16 {
    const LOW: u16 = 20_000;
    let high = ephemeral_low().max(LOW + 1_000);
    loop {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).expect("random bytes");
        let port = LOW + u16::from_le_bytes(bytes) % (high - LOW);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Where the kernel's ephemeral ports start (32768 unless this machine says otherwise).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A temporary folder with a database path inside it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("monitor.db")
    }
}

/// The answer to one request: status, headers and body.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer {:?} is not JSON: {e}", self.body))
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> Answer {
    send(client().post(url).body(body)).await
}

/// Runs a `kyc-monitor` command against `db`.
pub fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run kyc-monitor")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// `export TABLE --format jsonl`, parsed.
pub fn export_jsonl(db: &Path, table: &str) -> Vec<serde_json::Value> {
    let output = cli(db, &["export", table, "--format", "jsonl"]);
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

/// `lookup ID --json`, parsed; `None` when not found.
pub fn lookup(db: &Path, external_id: &str) -> Option<serde_json::Value> {
    let output = cli(db, &["lookup", external_id, "--json"]);
    match output.status.code() {
        Some(0) => Some(serde_json::from_slice(&output.stdout).expect("lookup JSON")),
        Some(1) => None,
        other => panic!(
            "lookup exited with {other:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A flat-form notification.
pub fn flat(external_id: &str, decision: &str, status: &str) -> String {
    serde_json::json!({
        "externalId": external_id, "decision": decision, "status": status,
        "subStatus": "", "participantId": "", "account": ""
    })
    .to_string()
}

/// Sends raw bytes over one TCP connection to `base` (`http://HOST:PORT`) and returns all it
/// answers, for requests a client library will not make.
pub fn raw_http(base: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").expect("http base");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until `check` gives a value (it is asked every 20 ms), and returns it; fails the test
/// saying `what` was awaited when a minute goes by first. Tests wait on what they can observe,
/// never on a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = std::time::Instant::now();
    loop {
        match check().await {
            Ok(found) => return found,
            Err(last) if start.elapsed() > Duration::from_secs(60) => {
                panic!("waited a minute for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A delivery of `body` as if it had arrived at `received_at` (Unix ms), for a writer in the
/// test's own process: how a test makes users who have waited for hours.
pub fn delivery_at(received_at: i64, body: String) -> kyc_monitor::store::NewDelivery {
    let bytes = body.into_bytes();
    kyc_monitor::store::NewDelivery {
        received_at,
        remote_addr: "127.0.0.1:9".into(),
        method: "POST".into(),
        headers: "[]".into(),
        body_size: Some(bytes.len() as i64),
        verdict: kyc_monitor::store::Verdict::Payload(
            kyc_monitor::kyc::parse_payload(&bytes).unwrap(),
        ),
        body: Some(bytes),
        verified_webhook_id: None,
        replay_of: None,
        polled: false,
    }
}

/// True when the database file or its WAL holds `needle` anywhere.
pub fn database_files_contain(db: &Path, needle: &[u8]) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_owned(), PathBuf::from(wal)]
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
}

/// Runs one of the independent implementations in `tests/signers/` (Python's
/// `standardwebhooks` and `cryptography` packages, in the venv that ./scripts/test installs and
/// names in `KYC_MONITOR_TEST_PYTHON`): one JSON request on stdin, one JSON answer on stdout.
pub fn independent_python(script: &str, request: serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let python = std::env::var("KYC_MONITOR_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYC_MONITOR_TEST_PYTHON is not set: run ./scripts/test, which installs the independent \
             signers (Python's standardwebhooks and cryptography packages) and sets it"
        )
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/signers")
        .join(script);
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run ./scripts/test"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script's JSON answer")
}

/// A raw message's headers (lowercased names, folded lines joined) and body.
pub fn mail_parts(data: &str) -> (std::collections::BTreeMap<String, String>, String) {
    let data = data.replace("\r\n", "\n");
    let (head, body) = data.split_once("\n\n").expect("headers and a body");
    let mut headers = std::collections::BTreeMap::new();
    let mut last = String::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            headers
                .entry(last.clone())
                .and_modify(|v: &mut String| v.push_str(line.trim_start()));
        } else if let Some((name, value)) = line.split_once(':') {
            last = name.to_ascii_lowercase();
            headers.insert(last.clone(), value.trim().to_owned());
        }
    }
    (headers, body.to_owned())
}
