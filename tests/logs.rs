//! `--log-format text|json`: the real `serve` with every log level on, deliveries refused and
//! accepted, a graceful stop; stderr read whole. JSON lines are objects with the contract's
//! fields; the secrets given on the command line appear in neither format.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const FORWARD_SECRET: &str = "whsec_c2VjcmV0LWZvci1mb3J3YXJkaW5nLXRlc3Q=";

/// Runs `serve` with `format`, the secrets above and `RUST_LOG=debug`, sends it an unsigned
/// delivery (refused: a secret is required) and a wrongly signed one, stops it, and returns
/// everything it wrote on stderr.
async fn stderr_of_a_run(format: &str) -> String {
    let scratch = Scratch::new();
    let mut command = Command::new(BIN);
    command.stderr(Stdio::piped()).env("RUST_LOG", "debug");
    let down = format!("http://127.0.0.1:{}/kyc", free_port());
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[
            "--log-format",
            format,
            "--signing-secret",
            SIGNING_SECRET,
            "--forward-to",
            &down,
            "--forward-signing-secret",
            FORWARD_SECRET,
        ],
        &mut command,
    );
    let mut stderr = monitor.child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let unsigned = post(&monitor.webhook_url, flat("unsigned", "", "OPEN")).await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    let forged = send(
        client()
            .post(&monitor.webhook_url)
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", "1")
            .header("webhook-signature", "v1,AAAA")
            .body(flat("forged", "", "OPEN")),
    )
    .await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert_eq!(monitor.terminate(), 0);
    reader.join().unwrap()
}

fn assert_no_secret(log: &str) {
    for secret in [SIGNING_SECRET, FORWARD_SECRET] {
        let body = secret.trim_start_matches("whsec_");
        assert!(
            !log.contains(secret) && !log.contains(body),
            "a secret is in the log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_are_one_object_a_line_with_the_contract_fields_and_no_secret() {
    let log = stderr_of_a_run("json").await;
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 3, "too few lines to judge:\n{log}");
    for line in &lines {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(object[field].is_string(), "no {field} in {line}");
        }
    }
    // The fields of an event sit beside its message, as in the text format.
    let refused = lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|object| object["message"] == "refused a delivery")
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert_eq!(refused["level"], "INFO");
    assert_eq!(refused["target"], "kyc_monitor::ingest");
    assert_eq!(refused["status"], 401);
    assert!(refused["delivery"].is_number(), "{refused}");
    assert_no_secret(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_logs_hold_no_secret_either() {
    let log = stderr_of_a_run("text").await;
    assert!(log.contains("refused a delivery"), "{log}");
    assert!(
        log.lines()
            .all(|line| serde_json::from_str::<Value>(line).is_err()),
        "{log}"
    );
    assert_no_secret(&log);
}
