//! Signing-secret rotation against the real `serve`: a registration with a new secret keeps the
//! replaced one valid for `--rotation-grace`, across a restart, then refuses it with a sentence
//! saying it was rotated; several `--signing-secret` all verify. Deliveries are signed by the
//! Python `standardwebhooks` and `svix` libraries (tests/signers/sign.py), never by our code.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kyc_monitor::provider::{Emulator, EmulatorConfig, FlowConfig, PrivateKey};
use kyc_monitor::signature::SharedSecret;
use serde_json::{json, Value};
use support::*;

const CLIENT_ID: &str = "rotation-partner";
/// Long enough for a restart and four signed deliveries inside it, short enough to wait out.
const GRACE: &str = "8s";
const LIBRARIES: [&str; 2] = ["standardwebhooks", "svix"];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `library` signs `body` as `id`, now, with `secret` (a whsec_ secret).
fn sign(library: &str, secret: &str, id: &str, body: &[u8]) -> (String, String) {
    let timestamp = now();
    let answer = independent_python(
        "sign.py",
        json!({
            "scheme": library,
            "secret": secret,
            "messages": [{"id": id, "timestamp": timestamp, "body": String::from_utf8(body.to_vec()).unwrap()}],
        }),
    );
    (
        timestamp.to_string(),
        answer["signatures"][0].as_str().unwrap().to_owned(),
    )
}

/// Posts `body` signed by `library` with `secret`: Svix's headers for Svix, the standard ones
/// otherwise.
async fn post_signed_by(library: &str, url: &str, secret: &str, id: &str, body: &[u8]) -> Answer {
    let (timestamp, signature) = sign(library, secret, id, body);
    let prefix = if library == "svix" { "svix" } else { "webhook" };
    send(
        client()
            .post(url)
            .header(format!("{prefix}-id"), id)
            .header(format!("{prefix}-timestamp"), timestamp)
            .header(format!("{prefix}-signature"), signature)
            .body(body.to_vec()),
    )
    .await
}

fn body_for(user: &str) -> Vec<u8> {
    flat(user, "", "OPEN").into_bytes()
}

async fn emulator(key: &PrivateKey) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows: FlowConfig {
            users: 0,
            ..FlowConfig::default()
        },
        validation_timeout: Duration::from_secs(3),
        rate_limit: 1000,
    })
    .await
    .expect("start the emulator")
}

/// `register URL --signing-secret SECRET` through the CLI (it asks the running monitor).
fn register(db: &Path, emulator: &Emulator, key_file: &Path, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "register",
        url,
        "--api-base",
        emulator.api_base(),
        "--token-url",
        emulator.token_url(),
        "--client-id",
        CLIENT_ID,
        "--private-key",
        key_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = cli(db, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "register failed: {}{stderr}",
        stdout(&output)
    );
    stdout(&output) + &stderr
}

/// `serve` with its UI, logging at debug level into `log`.
fn start(db: &Path, log: &Path, extra: &[&str]) -> (Monitor, String, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = Command::new(BIN);
    command.env("RUST_LOG", "debug").stderr(Stdio::from(log));
    let mut monitor = Monitor::start_with(db, true, extra, &mut command);
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn provider(base: &str, token: &str) -> Value {
    let answer = send(
        client()
            .get(format!("{base}/api/provider"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn states(overview: &Value) -> Vec<String> {
    overview["signingSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_secret_keeps_the_old_one_for_the_grace_across_a_restart_then_refuses_it() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let log = scratch.dir.path().join("serve.log");
    let key = PrivateKey::generate();
    let key_file = scratch.dir.path().join("partner.pem");
    std::fs::write(&key_file, key.expose_pem()).unwrap();
    let emulator = emulator(&key).await;
    let old = SharedSecret::generate().expose();
    let new = SharedSecret::generate().expose();

    let (monitor, base, token) = start(&db, &log, &["--rotation-grace", GRACE]);
    let url = monitor.webhook_url.clone();
    register(&db, &emulator, &key_file, &url, &["--signing-secret", &old]);
    let before = provider(&base, &token).await;
    assert_eq!(states(&before), ["current"]);
    let told = register(&db, &emulator, &key_file, &url, &["--signing-secret", &new]);
    let rotated_at = kyc_monitor::time::now_millis();
    assert!(told.contains("stays valid until"), "{told}");

    let overview = provider(&base, &token).await;
    assert_eq!(states(&overview), ["current", "previous"]);
    let until = overview["signingSecrets"][1]["validUntil"]
        .as_i64()
        .unwrap();
    assert!(
        (rotated_at - 2_000..=rotated_at + 8_000).contains(&until),
        "valid until {until}, rotated at {rotated_at}"
    );
    let old_print = &overview["signingSecrets"][1]["fingerprint"];
    assert_eq!(old_print, &before["signingSecrets"][0]["fingerprint"]);
    assert_ne!(old_print, &overview["signingSecrets"][0]["fingerprint"]);

    // A restart in the middle keeps the grace: it is a time in the secret file.
    drop(monitor);
    let (monitor, base, token) = start(&db, &log, &["--rotation-grace", GRACE]);
    let url = monitor.webhook_url.clone();
    let after_restart = provider(&base, &token).await;
    assert_eq!(states(&after_restart), ["current", "previous"]);
    assert_eq!(
        after_restart["signingSecrets"][1]["validUntil"].as_i64(),
        Some(until)
    );
    for library in LIBRARIES {
        for (name, secret) in [("old", &old), ("new", &new)] {
            let id = format!("during-{library}-{name}");
            let answer = post_signed_by(library, &url, secret, &id, &body_for(&id)).await;
            assert_eq!(
                answer.status, 200,
                "{library}, {name} secret: {}",
                answer.body
            );
        }
    }
    assert!(
        kyc_monitor::time::now_millis() < until,
        "the deliveries above came within the grace: make GRACE longer"
    );

    // The grace ends without a restart: wait until the overview says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if states(&provider(&base, &token).await) == ["current", "retired"] {
            break;
        }
        assert!(Instant::now() < deadline, "the grace never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for library in LIBRARIES {
        let id = format!("after-{library}-old");
        let answer = post_signed_by(library, &url, &old, &id, &body_for(&id)).await;
        assert_eq!(answer.status, 401, "{library}: {}", answer.body);
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("rotated out at") && error.contains("current secret"),
            "{error}"
        );
        let id = format!("after-{library}-new");
        let answer = post_signed_by(library, &url, &new, &id, &body_for(&id)).await;
        assert_eq!(answer.status, 200, "{library}: {}", answer.body);
    }
    // A secret never known is refused as before, not as rotated.
    let stranger = SharedSecret::generate().expose();
    let answer = post_signed_by("svix", &url, &stranger, "stranger", &body_for("stranger")).await;
    assert_eq!(answer.status, 401);
    assert!(!answer.body.contains("rotated"), "{}", answer.body);

    let overview = provider(&base, &token).await;
    let deliveries = export_jsonl(&db, "deliveries");
    let outcome = |id: &str| {
        deliveries
            .iter()
            .find(|d| {
                d["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(&format!("\"{id}\"")))
            })
            .map(|d| {
                (
                    d["outcome"].as_str().unwrap().to_owned(),
                    d["httpStatus"].as_i64(),
                )
            })
            .unwrap_or_else(|| panic!("no delivery for {id}"))
    };
    for library in LIBRARIES {
        assert_eq!(outcome(&format!("during-{library}-old")).0, "accepted");
        assert_eq!(
            outcome(&format!("after-{library}-old")),
            ("rejected".to_owned(), Some(401))
        );
        assert_eq!(outcome(&format!("after-{library}-new")).0, "accepted");
    }
    drop(monitor);

    // The secrets never reach the log, the database, the API or `config`.
    let config = cli(&db, &["config", "--signing-secret", &old]);
    let config_out = stdout(&config) + &String::from_utf8_lossy(&config.stderr);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG"), "the log was written");
    for secret in [&old, &new] {
        let bare = secret.strip_prefix("whsec_").unwrap();
        assert!(!logged.contains(bare), "a secret is in the log");
        assert!(
            !database_files_contain(&db, bare.as_bytes()),
            "a secret is in the database"
        );
        assert!(
            !overview.to_string().contains(bare),
            "a secret is in the API"
        );
        assert!(
            !config_out.contains(bare),
            "a secret is in config's output: {config_out}"
        );
        assert!(
            !told.contains(bare),
            "register printed a secret it was given: {told}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_signing_secrets_all_verify_from_flags_or_the_environment() {
    let scratch = Scratch::new();
    let log = scratch.dir.path().join("serve.log");
    let [a, b, c] = [(); 3].map(|()| SharedSecret::generate().expose());
    let (flags, base, token) = start(
        &scratch.db(),
        &log,
        &["--signing-secret", &a, "--signing-secret", &b],
    );
    let overview = provider(&base, &token).await;
    assert_eq!(states(&overview), ["current", "current"]);
    assert_eq!(overview["signingSecretsGiven"], true);
    for (library, secret) in [("standardwebhooks", &a), ("svix", &b)] {
        let id = format!("flag-{library}");
        let answer = post_signed_by(library, &flags.webhook_url, secret, &id, &body_for(&id)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let answer = post_signed_by("svix", &flags.webhook_url, &c, "not-given", &body_for("x")).await;
    assert_eq!(answer.status, 401);
    drop(flags);

    // The environment variable takes several, separated by commas or spaces.
    let other = Scratch::new();
    let env = Running(
        serve_command(&other.db())
            .env("KYC_MONITOR_SIGNING_SECRET", format!("{a}, {b} {c}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut env = env;
    let env_url = env.webhook_url();
    for (n, secret) in [&a, &b, &c].into_iter().enumerate() {
        let id = format!("env-{n}");
        let answer =
            post_signed_by("standardwebhooks", &env_url, secret, &id, &body_for(&id)).await;
        assert_eq!(answer.status, 200, "secret {n}: {}", answer.body);
    }
    drop(env);

    // `config` shows them masked, from the environment.
    let output = Command::new(BIN)
        .args(["config", "--db"])
        .arg(other.db())
        .env("KYC_MONITOR_SIGNING_SECRET", format!("{a},{b}"))
        .output()
        .unwrap();
    let shown = stdout(&output);
    let line = shown
        .lines()
        .find(|l| l.starts_with("# signing-secret"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        line.contains("(set, not shown)") && line.contains("environment"),
        "{line}"
    );
    let grace = shown
        .lines()
        .find(|l| l.starts_with("rotation-grace"))
        .unwrap();
    assert!(
        grace.contains("\"24h\"") && grace.contains("default"),
        "{grace}"
    );
    for secret in [&a, &b] {
        assert!(!shown.contains(secret.strip_prefix("whsec_").unwrap()));
    }

    // A bad one among several is a usage error naming which, never echoing it.
    let output = Command::new(BIN)
        .args([
            "config",
            "--signing-secret",
            &a,
            "--signing-secret",
            "whsec_c2hvcnQ=",
        ])
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("secret number 2") && error.contains("too short"),
        "{error}"
    );
    assert!(!error.contains("c2hvcnQ"), "{error}");
}

/// A child process killed when the test ends, passing or failing.
struct Running(std::process::Child);

impl Running {
    /// The `webhook:` line's URL.
    fn webhook_url(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(self.0.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        line.trim().strip_prefix("webhook: ").unwrap().to_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
