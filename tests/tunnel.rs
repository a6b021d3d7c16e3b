//! Tunnels end to end: a real `bore` server on loopback (in this process, on its own runtime so
//! that killing it closes every connection), the cloudflared supervisor against a stand-in
//! program, and ngrok's configuration and error paths (it cannot run without an account).

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::bore::BoreServer;
use support::{cli, flat, lookup, raw_http, serve_command, Monitor, Scratch, BIN};

/// bore's control port is fixed: one bore server at a time.
static BORE: Mutex<()> = Mutex::new(());
const BORE_SECRET: &str = "tunnel-test-secret-4e1f";
/// A guard against a hang, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// `http://HOST:PORT` of a URL.
fn base(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    format!("http://{}", &rest[..rest.find('/').unwrap()])
}

fn path(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_owned()
}

/// POSTs `body` to `url` over a raw connection; the status code, or None when nothing answers.
fn post_status(url: &str, body: &str) -> Option<u16> {
    let addr = base(url).strip_prefix("http://").unwrap().to_owned();
    TcpStream::connect(&addr).ok()?;
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        path(url),
        body.len()
    );
    let answer = raw_http(&base(url), request.as_bytes());
    answer.split(' ').nth(1)?.parse().ok()
}

fn get_status(base_url: &str, path: &str) -> Option<u16> {
    let addr = base_url.strip_prefix("http://").unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    raw_http(base_url, request.as_bytes())
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// Posts until the URL answers 200 (the tunnel is back), within [`PATIENCE`].
fn deliver_when_up(url: &str, body: &str) {
    let start = Instant::now();
    while post_status(url, body) != Some(200) {
        assert!(start.elapsed() < PATIENCE, "{url} did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn public_line(monitor: &mut Monitor) -> String {
    let line = monitor.next_line();
    line.strip_prefix("public: ")
        .unwrap_or_else(|| panic!("expected a public: line, got {line:?}"))
        .to_owned()
}

fn with_stderr_file(command: &mut Command, file: &Path) {
    command.stderr(std::fs::File::create(file).unwrap());
}

#[test]
fn deliveries_flow_through_a_bore_tunnel_and_again_after_the_server_comes_back() {
    let _one = BORE.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new();
    let server = BoreServer::start(20_000..=40_000, BORE_SECRET);
    let log = scratch.dir.path().join("serve.log");
    let mut command = Command::new(BIN);
    command
        .env("KYC_MONITOR_BORE_SECRET", BORE_SECRET)
        .env("RUST_LOG", "debug");
    with_stderr_file(&mut command, &log);
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &["--tunnel", "bore:127.0.0.1"],
        &mut command,
    );
    let ui = monitor.next_line();
    assert!(ui.starts_with("ui: "), "{ui}");
    let public = public_line(&mut monitor);
    assert!(public.starts_with("http://127.0.0.1:"), "{public}");
    assert_eq!(
        path(&public),
        path(&monitor.webhook_url),
        "the same webhook path, publicly"
    );
    assert_ne!(base(&public), base(&monitor.webhook_url));

    assert_eq!(
        post_status(&public, &flat("via-bore", "", "OPEN")),
        Some(200)
    );
    assert_eq!(lookup(&scratch.db(), "via-bore").unwrap()["status"], "OPEN");

    // Only the webhook listener is forwarded: the UI and its API are not there.
    let ui_url = ui.strip_prefix("ui: ").unwrap();
    let ui_path = &ui_url[ui_url.find("/?").unwrap()..];
    for path in [
        "/",
        "/api/overview",
        "/api/feed",
        ui_path,
        "/kyc-webhook/wrong-token",
    ] {
        assert_eq!(
            get_status(&base(&public), path),
            Some(404),
            "{path} through the tunnel"
        );
    }

    server.kill();
    let server = BoreServer::start(20_000..=40_000, BORE_SECRET);
    deliver_when_up(&public, &flat("via-bore", "ACCEPT", "CLOSED"));
    assert_eq!(
        lookup(&scratch.db(), "via-bore").unwrap()["status"],
        "CLOSED",
        "the same URL works again"
    );

    assert_eq!(monitor.terminate(), 0);
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("the tunnel is down"),
        "the drop was noticed"
    );
    assert!(
        !logged.contains(BORE_SECRET),
        "the bore secret never reaches the log"
    );
}

#[test]
fn a_new_public_url_is_registered_again_and_a_wrong_secret_fails_clearly() {
    use kyc_monitor::provider::{Emulator, EmulatorConfig, FlowConfig, PrivateKey};
    let _one = BORE.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = PrivateKey::generate();
    let emulator = runtime
        .block_on(Emulator::start(EmulatorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            client_id: "tunnel-partner".into(),
            public_key: key.public_key(),
            flows: FlowConfig {
                users: 0,
                ..FlowConfig::default()
            },
            validation_timeout: Duration::from_secs(5),
            rate_limit: 1000,
        }))
        .unwrap();
    let key_file = scratch.dir.path().join("partner.pem");
    std::fs::write(&key_file, key.expose_pem()).unwrap();

    let server = BoreServer::start(41_000..=42_000, BORE_SECRET);
    let mut command = Command::new(BIN);
    command.env("KYC_MONITOR_BORE_SECRET", BORE_SECRET);
    // `register` asks the running monitor, through its UI.
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &["--tunnel", "bore:127.0.0.1"],
        &mut command,
    );
    monitor.ui();
    let first = public_line(&mut monitor);
    let output = cli(
        &scratch.db(),
        &[
            "register",
            &first,
            "--api-base",
            emulator.api_base(),
            "--token-url",
            emulator.token_url(),
            "--client-id",
            "tunnel-partner",
            "--private-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(emulator.target_url().as_deref(), Some(first.as_str()));

    // The server comes back with other ports: the old public port cannot be had again.
    server.kill();
    let server = BoreServer::start(43_000..=44_000, BORE_SECRET);
    let second = public_line(&mut monitor);
    assert_ne!(second, first);
    let start = Instant::now();
    while emulator.target_url().as_deref() != Some(second.as_str()) {
        assert!(
            start.elapsed() < PATIENCE,
            "the new public URL was not registered again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    deliver_when_up(&second, &flat("after-move", "", "OPEN"));
    assert_eq!(monitor.terminate(), 0);
    drop(server);
    runtime.block_on(emulator.stop());

    // A wrong secret cannot get better by retrying: the tunnel fails, with what to check.
    let server = BoreServer::start(45_000..=46_000, BORE_SECRET);
    let mut command = Command::new(BIN);
    command.env("KYC_MONITOR_BORE_SECRET", "not-the-secret");
    let mut monitor = Monitor::start_with(
        &scratch.dir.path().join("other.db"),
        true,
        &["--tunnel", "bore:127.0.0.1"],
        &mut command,
    );
    let ui = monitor.next_line();
    let ui_url = ui.strip_prefix("ui: ").unwrap();
    let (ui_base, token) = ui_url.split_once("/?token=").unwrap();
    let start = Instant::now();
    let status = loop {
        let addr = ui_base.strip_prefix("http://").unwrap();
        let request = format!("GET /api/overview HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n");
        let answer = raw_http(ui_base, request.as_bytes());
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let overview: serde_json::Value = serde_json::from_str(body).unwrap();
        if overview["tunnel"]["status"]["state"] == "failed" {
            break overview["tunnel"].clone();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the tunnel did not fail: {overview}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["kind"], "bore");
    let reason = status["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("check --bore-secret"), "{reason}");
    assert!(!reason.contains("not-the-secret"));
    assert_eq!(
        monitor.terminate(),
        0,
        "the monitor keeps serving without its tunnel"
    );
    drop(server);
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

/// This checks KYC Monitor's supervision of a cloudflared child (URL parsing, state, restart
/// with backoff, reaping on shutdown) against a stand-in program, not Cloudflare itself.
#[test]
fn the_cloudflared_child_is_supervised_restarted_and_reaped() {
    let scratch = Scratch::new();
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/cloudflared");
    let mut command = Command::new(BIN);
    command.env("STANDIN_DIR", scratch.dir.path());
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        false,
        &[
            "--tunnel",
            "cloudflared",
            "--cloudflared-path",
            standin.to_str().unwrap(),
        ],
        &mut command,
    );
    let token_path = path(&monitor.webhook_url);
    assert_eq!(
        public_line(&mut monitor),
        format!("https://stand-in-run-1.trycloudflare.com{token_path}")
    );
    // The first child dies; the supervisor starts another, which brings a new URL.
    assert_eq!(
        public_line(&mut monitor),
        format!("https://stand-in-run-2.trycloudflare.com{token_path}")
    );
    let args = std::fs::read_to_string(scratch.dir.path().join("args")).unwrap();
    let listener = base(&monitor.webhook_url);
    assert_eq!(
        args.trim(),
        format!("tunnel --no-autoupdate --url {listener}"),
        "only the webhook listener is forwarded"
    );

    let pids: Vec<u32> = std::fs::read_to_string(scratch.dir.path().join("pids"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(alive(pids[1]), "the second child runs");
    assert_eq!(monitor.terminate(), 0);
    assert!(
        !alive(pids[1]),
        "the child is stopped and reaped with the monitor"
    );
}

#[test]
fn missing_programs_and_credentials_are_clear_failures() {
    let scratch = Scratch::new();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = serve_command(&scratch.db());
        command
            .args(args)
            .env_remove("NGROK_AUTHTOKEN")
            // Not this machine's keychain: tests/keychain.rs has its own.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", scratch.dir.path())
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.stdout,
        )
    };

    let (code, stderr, _) = run(
        &["--tunnel", "ngrok", "--ngrok-allow-cidr", "10.0.0.0/33"],
        &[("NGROK_AUTHTOKEN", "2kcNotUsed")],
    );
    assert_eq!(code, Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains("\"10.0.0.0/33\" is not a network such as 203.0.113.0/24"),
        "{stderr}"
    );

    let (code, stderr, stdout) = run(&["--tunnel", "ngrok"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("NGROK_AUTHTOKEN") && stderr.contains("dashboard.ngrok.com"),
        "{stderr}"
    );
    assert!(
        stdout.is_empty(),
        "nothing is announced before the tunnel can work"
    );

    let (code, stderr, _) = run(&["--tunnel", "cloudflared"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cloudflared is not installed") && stderr.contains("--cloudflared-path"),
        "{stderr}"
    );

    let (code, stderr, _) = run(
        &[
            "--tunnel",
            "cloudflared",
            "--cloudflared-path",
            "/nowhere/cloudflared",
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("there is no cloudflared at /nowhere/cloudflared"),
        "{stderr}"
    );

    let help = cli(&scratch.db(), &["serve", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--ngrok-authtoken",
        "--ngrok-domain",
        "--ngrok-allow-cidr",
        "--cloudflared-path",
        "--bore-secret",
        "--bore-public-base",
        "--bore-port",
    ] {
        assert!(help.contains(option), "{option} is in --help");
    }
}

#[test]
fn a_url_tunnel_reports_the_users_own_public_url() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start(&scratch.db(), &["--tunnel", "url:https://kyc.example.com/"]);
    let public = monitor.next_line();
    assert_eq!(
        public,
        format!(
            "public: https://kyc.example.com{}",
            path(&monitor.webhook_url)
        )
    );
}
