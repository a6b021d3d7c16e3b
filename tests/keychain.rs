//! The tunnels' secrets from the OS keychain: a private D-Bus session with a throwaway GNOME
//! Keyring (the real Secret Service), filled with `secret-tool` as the README tells a headless
//! user to, then `serve --tunnel ngrok` with no NGROK_AUTHTOKEN. ngrok itself cannot be reached
//! from here: what shows the token was found is that `serve` tries to reach ngrok instead of
//! refusing to start for want of one.
#![cfg(feature = "keychain")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::bore::BoreServer;
use support::{database_files_contain, flat, post, serve_command, signal, Scratch};

/// A guard against a hang, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);
const TOKEN: &str = "2kcTestAuthtokenFromTheKeychain_9f3";

/// A session bus of our own (no service activation, so nothing starts behind our back) with
/// an unlocked keyring on it, both stopped when dropped.
struct KeychainSession {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Child,
}

impl KeychainSession {
    fn start() -> KeychainSession {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon; scripts/test installs it)");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");

        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "gnome-keyring-daemon (Debian package gnome-keyring; scripts/test installs it)",
            );
        // --unlock makes the login keyring with the password read from stdin.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"throwaway-keyring-password").unwrap();
        drop(stdin);
        KeychainSession {
            dir,
            address,
            bus,
            keyring,
        }
    }

    /// The environment a program on this session gets.
    fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("HOME", self.dir.path().join("home"))
    }

    /// Stores a secret the way the README tells a headless user to, waiting for the keyring to
    /// be on the bus first.
    fn store_with_secret_tool(&self, username: &str, secret: &str) {
        let start = Instant::now();
        loop {
            let mut child = self
                .apply(&mut Command::new("secret-tool"))
                .args([
                    "store",
                    "--label=KYC Monitor: test",
                    "service",
                    "kyc-monitor",
                ])
                .args(["username", username])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("secret-tool (Debian package libsecret-tools; scripts/test installs it)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(secret.as_bytes())
                .unwrap();
            let output = child.wait_with_output().unwrap();
            if output.status.success() {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the keyring never took the secret: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for KeychainSession {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn serve_ngrok(db: &Path) -> Command {
    let mut command = serve_command(db);
    command
        .args(["--tunnel", "ngrok"])
        .env_remove("NGROK_AUTHTOKEN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// Collects a pipe's lines on a thread until one holds any of `wanted`; returns all read so far.
fn lines_until(pipe: impl std::io::Read + Send + 'static, wanted: &[&str]) -> String {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end, so that the monitor never writes into a closed pipe.
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < PATIENCE {
        match received.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if wanted.iter().any(|w| line.contains(w)) {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("serve never said any of {wanted:?}; it said:\n{seen}");
}

#[test]
fn serve_takes_the_ngrok_authtoken_from_the_keychain_and_never_shows_it() {
    let session = KeychainSession::start();
    let scratch = Scratch::new();

    // An empty keychain: the error names the keychain among the ways to give the token.
    session.store_with_secret_tool("unrelated", "something-else");
    let output = session
        .apply(&mut serve_ngrok(&scratch.db()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("keep it in the keychain")
            && stderr.contains("username ngrok-authtoken")
            && !stderr.contains("could not be asked"),
        "{stderr}"
    );

    // With the token stored, serve starts and takes it to ngrok (unreachable from here, or
    // refusing a made-up token where the internet is reachable).
    session.store_with_secret_tool("ngrok-authtoken", TOKEN);
    let mut monitor = session
        .apply(&mut serve_ngrok(&scratch.db()))
        // The most talkative level: not even debugging output may show the token.
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines_until(
        monitor.stderr.take().unwrap(),
        &["cannot reach ngrok", "ngrok refused the session"],
    );
    assert!(!said.contains(TOKEN), "the token reached the log:\n{said}");
    assert!(!said.contains("needs your account's authtoken"), "{said}");
    signal(&monitor, "TERM");
    let status = monitor.wait().unwrap();
    assert!(status.success(), "serve stopped with {status}");
    let db = scratch.db();
    assert!(!database_files_contain(&db, TOKEN.as_bytes()));
}

#[test]
fn without_a_session_bus_the_keychain_is_not_asked_and_the_error_says_so() {
    let scratch = Scratch::new();
    let runtime_dir: PathBuf = scratch.dir.path().join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let output = serve_ngrok(&scratch.db())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the keychain could not be asked") && stderr.contains("no D-Bus session"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_takes_the_bore_secret_from_the_keychain() {
    const SECRET: &str = "bore-secret-only-in-the-keychain-51c";
    let session = KeychainSession::start();
    session.store_with_secret_tool("bore-secret", SECRET);
    let _server = BoreServer::start(47_000..=48_000, SECRET);
    let scratch = Scratch::new();
    let mut monitor = session
        .apply(&mut serve_command(&scratch.db()))
        .args(["--tunnel", "bore:127.0.0.1"])
        .env_remove("KYC_MONITOR_BORE_SECRET")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // `public:` is printed once the tunnel is up, which a wrong or missing secret never is.
    let said = lines_until(monitor.stdout.take().unwrap(), &["public: "]);
    let public = said
        .lines()
        .find_map(|line| line.strip_prefix("public: "))
        .unwrap()
        .to_owned();
    assert!(public.starts_with("http://127.0.0.1:"), "{public}");
    let answer = post(&public, flat("kc_bore_1", "", "OPEN")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    signal(&monitor, "TERM");
    assert!(monitor.wait().unwrap().success());
}
