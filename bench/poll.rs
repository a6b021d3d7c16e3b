//! Polling's cost, measured (`./bench/poll`): the real `kyc-monitor serve` polls the real beta
//! emulator at the default `--poll-every` and `--poll-rate` about USERS users who are not
//! CLOSED (the emulator's users abandon: the newer API never names them, so only polling can).
//!
//! `poll BIN USERS SECONDS`: starts the emulator with USERS users, a monitor registered with
//! it that watches them all, then restarts the monitor with the default polling (its poll at
//! start) and reads the poll's progress from `/api/work` for SECONDS. Prints the users covered
//! a minute and what that makes at 10,000 users not CLOSED: the length of a poll and the
//! provider requests an hour, the 5-minute pause between polls included.
//!
//! Then whether polling gets in the webhook's way: signed deliveries at ACK_RATE a second for
//! ACK_SECONDS, to a monitor that does not poll and to one polling flat out (`--poll-every 1s
//! --poll-rate 100`), side by side: the acknowledgement's p50 and p99 in each.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kyc_monitor::provider::{ApiGeneration, Emulator, EmulatorConfig, FlowConfig, PrivateKey};
use kyc_monitor::signature::SharedSecret;

const CLIENT_ID: &str = "bench-poll";
/// `--poll-every`'s default, in minutes: the pause between two polls.
const POLL_PAUSE_MINUTES: f64 = 5.0;

struct Serve {
    child: Child,
    ui: String,
    webhook: String,
}

/// `serve` with `extra` options, and the webhook's signing secret when given.
fn serve(bin: &Path, db: &Path, extra: &[&str], secret: Option<&SharedSecret>) -> Serve {
    let mut command = Command::new(bin);
    if let Some(secret) = secret {
        command.env("KYC_MONITOR_SIGNING_SECRET", secret.expose());
    }
    let mut child = command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(db)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start kyc-monitor serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut line = || lines.next().expect("a line").expect("stdout");
    let webhook = line()
        .strip_prefix("webhook: ")
        .expect("webhook line")
        .to_owned();
    let ui = line().strip_prefix("ui: ").expect("ui line").to_owned();
    Serve { child, ui, webhook }
}

/// Deliveries a second, and for how long, in each acknowledgement run.
const ACK_RATE: u32 = 200;
const ACK_SECONDS: u64 = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Signed deliveries of new users at `ACK_RATE` a second for `ACK_SECONDS` to `webhook`: the
/// acknowledgement's p50 and p99, in ms, and how many were acknowledged 200.
async fn acks(webhook: &str, secret: &SharedSecret, run: &str) -> (f64, f64, usize) {
    let http = reqwest::Client::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / ACK_RATE);
    let mut sends = Vec::new();
    for n in 0..u64::from(ACK_RATE) * ACK_SECONDS {
        ticks.tick().await;
        let id = format!("ack_{run}_{n}");
        let body = format!(
            r#"{{"externalId":"{id}","decision":"","status":"OPEN","subStatus":"","participantId":"","account":""}}"#
        );
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = secret.sign(&id, timestamp, body.as_bytes());
        let request = http
            .post(webhook)
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body);
        sends.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = request.send().await;
            let ok = answer.is_ok_and(|a| a.status() == 200);
            ok.then(|| sent.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut ms = Vec::new();
    for send in sends {
        ms.extend(send.await.expect("send"));
    }
    ms.sort_by(f64::total_cmp);
    assert!(
        !ms.is_empty(),
        "no delivery was acknowledged 200 at {webhook}"
    );
    (percentile(&ms, 0.5), percentile(&ms, 0.99), ms.len())
}

/// How many users the running (or last) poll has asked, as `/api/work` says.
async fn poll_progress(http: &reqwest::Client, ui: &str, token: &str) -> Option<u64> {
    let works: serde_json::Value = http
        .get(format!("{ui}/api/work"))
        .bearer_auth(token)
        .send()
        .await
        .expect("work")
        .json()
        .await
        .expect("work JSON");
    works
        .as_array()
        .and_then(|works| works.iter().find(|w| w["kind"] == "poll"))
        .and_then(|poll| poll["done"].as_u64())
}

fn stop(mut serve: Serve) {
    let _ = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status();
    let _ = serve.child.wait();
}

fn run(bin: &Path, args: &[&str]) {
    let output = Command::new(bin)
        .args(args)
        .output()
        .expect("run kyc-monitor");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bin, users, seconds] = &args[..] else {
        eprintln!("usage: poll BIN USERS SECONDS");
        std::process::exit(2);
    };
    let bin = PathBuf::from(bin);
    let users: u32 = users.parse().expect("USERS");
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let work = tempfile::tempdir().expect("a scratch folder");
    let db = work.path().join("poll.db");
    let key = PrivateKey::generate();
    let key_path = work.path().join("partner.pem");
    std::fs::write(&key_path, key.expose_pem()).expect("write the key");

    let emulator = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows: FlowConfig {
            users,
            speed: 1000.0,
            abandon_rate: 1.0,
            hold_rate: 0.0,
            seed: Some(24),
            api: ApiGeneration::Beta,
            ..FlowConfig::default()
        },
        validation_timeout: Duration::from_secs(5),
        rate_limit: 1000,
    })
    .await
    .expect("start the emulator");
    let mut started = emulator.take_started_users().expect("the started users");

    // Registered and watching every user, not polling yet.
    let first = serve(&bin, &db, &["--poll-every", "off"], None);
    let db_arg = db.to_str().unwrap();
    run(
        &bin,
        &[
            "register",
            &first.webhook,
            "--api-base",
            emulator.api_base(),
            "--token-url",
            emulator.token_url(),
            "--client-id",
            CLIENT_ID,
            "--private-key",
            key_path.to_str().unwrap(),
            "--db",
            db_arg,
        ],
    );
    let summary = emulator.finished().await;
    let mut ids = Vec::new();
    while let Ok(user) = started.try_recv() {
        ids.push(user.external_id);
    }
    assert_eq!(ids.len() as u64, summary.users, "{summary:?}");
    let (base, token) = first.ui.split_once("/?token=").expect("a token");
    let http = reqwest::Client::new();
    for chunk in ids.chunks(1000) {
        let answer = http
            .post(format!("{base}/api/watch"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "externalIds": chunk }))
            .send()
            .await
            .expect("watch");
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
    }
    stop(first);

    // The default polling: a poll at start, at the default rate.
    let tokens_before = emulator.tokens_issued();
    let second = serve(&bin, &db, &[], None);
    let (base, token) = second.ui.split_once("/?token=").expect("a token");
    let progress = || poll_progress(&http, base, token);
    // From the first user asked, so that the start-up is not counted.
    let (first_done, began) = loop {
        if let Some(done) = progress().await.filter(|done| *done > 0) {
            break (done, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let last_done = progress().await.expect("the poll's progress");
    let elapsed = began.elapsed().as_secs_f64();
    let tokens = emulator.tokens_issued() - tokens_before;
    stop(second);

    // The webhook beside polling: the same deliveries to a monitor that does not poll, then to
    // one polling as fast as the provider lets it.
    let secret = SharedSecret::generate();
    let mut beside = Vec::new();
    for (name, extra) in [
        ("not polling", &["--poll-every", "off"][..]),
        (
            "polling at 100/s",
            &["--poll-every", "1s", "--poll-rate", "100"][..],
        ),
    ] {
        let monitor = serve(&bin, &db, extra, Some(&secret));
        let (ui, token) = monitor.ui.split_once("/?token=").expect("a token");
        if extra.contains(&"1s") {
            // Measured once the poll is under way.
            while poll_progress(&http, ui, token).await.unwrap_or(0) == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let run = name.replace(' ', "_").replace('/', "");
        beside.push((name, acks(&monitor.webhook, &secret, &run).await));
        stop(monitor);
    }
    emulator.stop().await;

    let per_minute = (last_done - first_done) as f64 / elapsed * 60.0;
    let poll_minutes = 10_000.0 / per_minute;
    let per_hour = 10_000.0 / ((poll_minutes + POLL_PAUSE_MINUTES) / 60.0);
    println!(
        "poll: {} users not CLOSED, default --poll-rate 5/s and --poll-every 5m, measured over {elapsed:.0} s",
        ids.len()
    );
    println!("  users covered per minute: {per_minute:.0}");
    println!("  token requests meanwhile: {tokens}");
    println!(
        "  at 10,000 users not CLOSED: a poll takes {poll_minutes:.1} min; with the 5-minute pause, {per_hour:.0} status requests an hour"
    );
    println!("webhook beside polling: signed deliveries at {ACK_RATE}/s for {ACK_SECONDS} s each");
    for (name, (p50, p99, acked)) in beside {
        println!("  {name:<17} ack p50 {p50:.2} ms, p99 {p99:.2} ms ({acked} acked)");
    }
}
