//! Signed deliveries (Standard Webhooks) against the real listener: shared secrets in every
//! form, `svix-*` headers, Ed25519 keys, signatures made by independent signers (Python's
//! `standardwebhooks` and `cryptography` packages, see tests/signers/sign.py) and by the
//! emulator signing every way it can.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use kyc_monitor::signature::{Ed25519PrivateKey, SharedSecret};
use serde_json::{json, Value};
use support::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Signed {
    id: String,
    timestamp: String,
    signature: String,
}

fn signed(secret: &SharedSecret, id: &str, timestamp: i64, body: &[u8]) -> Signed {
    Signed {
        id: id.into(),
        timestamp: timestamp.to_string(),
        signature: secret.sign(id, timestamp, body),
    }
}

async fn post_signed(url: &str, body: &[u8], headers: &Signed) -> Answer {
    send(
        client()
            .post(url)
            .header("webhook-id", &headers.id)
            .header("webhook-timestamp", &headers.timestamp)
            .header("webhook-signature", &headers.signature)
            .body(body.to_vec()),
    )
    .await
}

/// Posts `body` with the given headers, such as `svix-id` or an empty `webhook-id`.
async fn post_with(url: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let mut request = client().post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

fn start_signed(scratch: &Scratch) -> (Monitor, SharedSecret) {
    let secret = SharedSecret::generate();
    let monitor = Monitor::start(&scratch.db(), &["--signing-secret", &secret.expose()]);
    (monitor, secret)
}

#[tokio::test]
async fn a_valid_signature_is_accepted() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let body = fixture("envelope-approved.json");
    let answer = post_signed(
        &monitor.webhook_url,
        &body,
        &signed(&secret, "msg_1", now(), &body),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );
    assert_eq!(
        lookup(&scratch.db(), "user_6630").unwrap()["status"],
        "CLOSED"
    );
    assert_eq!(
        export_jsonl(&scratch.db(), "deliveries")[0]["webhookId"],
        "msg_1"
    );
}

#[tokio::test]
async fn one_valid_entry_among_several_is_enough() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let body = fixture("flat-open.json");
    let mut headers = signed(&secret, "msg_2", now(), &body);
    let rotated_out = SharedSecret::generate().sign("msg_2", now(), &body);
    headers.signature = format!("{rotated_out} v2,whatever {}", headers.signature);
    assert_eq!(
        post_signed(&monitor.webhook_url, &body, &headers)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bad_signatures_are_401_recorded_and_change_nothing() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let body = fixture("flat-accepted.json");
    let url = &monitor.webhook_url;

    let wrong_key = signed(&SharedSecret::generate(), "m1", now(), &body);
    let stale = signed(&secret, "m2", now() - 301, &body);
    let future = signed(&secret, "m3", now() + 400, &body);
    let mut tampered_body = body.clone();
    tampered_body[20] ^= 1;
    let for_tampering = signed(&secret, "m4", now(), &body);
    let mut other_id = signed(&secret, "m5", now(), &body);
    other_id.id = "m5-changed".into();

    let cases: Vec<(&str, Vec<u8>, Signed, &str)> = vec![
        ("wrong key", body.clone(), wrong_key, "same signing secret"),
        ("stale timestamp", body.clone(), stale, "clock"),
        ("future timestamp", body.clone(), future, "clock"),
        (
            "tampered body",
            tampered_body,
            for_tampering,
            "same signing secret",
        ),
        (
            "changed webhook-id",
            body.clone(),
            other_id,
            "same signing secret",
        ),
    ];
    for (case, body, headers, hint) in cases {
        let answer = post_signed(url, &body, &headers).await;
        assert_eq!(answer.status, 401, "{case}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(hint), "{case}: {error}");
    }
    // Unsigned, pings included.
    for unsigned in [
        fixture("flat-accepted.json"),
        b"".to_vec(),
        fixture("envelope-test.json"),
    ] {
        let answer = post(url, unsigned).await;
        assert_eq!(answer.status, 401);
        assert!(answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("webhook-id header (or svix-id) is missing"));
    }
    assert!(lookup(&scratch.db(), "user_4821").is_none());
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert_eq!(deliveries.len(), 8);
    assert!(deliveries
        .iter()
        .all(|d| d["outcome"] == "rejected" && d["httpStatus"] == 401));
    assert!(
        deliveries.iter().all(|d| d["webhookId"].is_null()),
        "an unverified id is not trusted"
    );
}

#[tokio::test]
async fn a_replayed_webhook_id_is_a_duplicate_whatever_the_body() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let first = fixture("flat-open.json");
    assert_eq!(
        post_signed(
            &monitor.webhook_url,
            &first,
            &signed(&secret, "msg_r", now(), &first)
        )
        .await
        .status,
        200
    );
    let second = fixture("flat-accepted.json");
    let answer = post_signed(
        &monitor.webhook_url,
        &second,
        &signed(&secret, "msg_r", now(), &second),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true,"duplicate":true}"#)
    );
    let user = lookup(&scratch.db(), "user_4821").unwrap();
    assert_eq!(user["status"], "OPEN", "a redelivery is no transition");
    assert_eq!(user["events"][1]["duplicate"], true);
    // Even a body that would be refused on its own.
    let garbage = b"[not an object]".to_vec();
    let answer = post_signed(
        &monitor.webhook_url,
        &garbage,
        &signed(&secret, "msg_r", now(), &garbage),
    )
    .await;
    assert_eq!(answer.body, r#"{"received":true,"duplicate":true}"#);
}

#[tokio::test]
async fn a_refused_webhook_id_can_be_delivered_again() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let bad = br#"{"externalId":null}"#.to_vec();
    assert_eq!(
        post_signed(
            &monitor.webhook_url,
            &bad,
            &signed(&secret, "msg_f", now(), &bad)
        )
        .await
        .status,
        422
    );
    let good = fixture("flat-open.json");
    let answer = post_signed(
        &monitor.webhook_url,
        &good,
        &signed(&secret, "msg_f", now(), &good),
    )
    .await;
    assert_eq!(answer.body, r#"{"received":true}"#);
}

#[tokio::test]
async fn the_size_limit_answers_before_the_signature() {
    let scratch = Scratch::new();
    let secret = SharedSecret::generate();
    let monitor = Monitor::start(
        &scratch.db(),
        &["--signing-secret", &secret.expose(), "--max-body", "100"],
    );
    let answer = post(&monitor.webhook_url, vec![b' '; 500]).await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn reachability_checks_need_no_signature() {
    let scratch = Scratch::new();
    let (monitor, _) = start_signed(&scratch);
    assert_eq!(send(client().get(&monitor.webhook_url)).await.status, 200);
}

#[test]
fn a_malformed_secret_is_a_usage_error_that_does_not_echo_it() {
    let scratch = Scratch::new();
    let output = std::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--signing-secret",
            "whsec_!!TOPSECRET!!",
            "--db",
        ])
        .arg(scratch.db())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--signing-secret") && stderr.contains("base64"),
        "{stderr}"
    );
    assert!(!stderr.contains("TOPSECRET"), "{stderr}");
}

#[tokio::test]
async fn the_secret_can_come_from_the_environment_and_is_never_stored() {
    let scratch = Scratch::new();
    let secret = SharedSecret::generate();
    let mut child = serve_command(&scratch.db())
        .env("KYC_MONITOR_SIGNING_SECRET", secret.expose())
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().strip_prefix("webhook: ").unwrap().to_owned();
    assert_eq!(
        post(&url, fixture("flat-open.json")).await.status,
        401,
        "the env secret is in force"
    );
    let body = fixture("flat-open.json");
    assert_eq!(
        post_signed(&url, &body, &signed(&secret, "e1", now(), &body))
            .await
            .status,
        200
    );
    signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let encoded = secret.expose();
    assert!(!logs.contains(&encoded[6..]), "the secret reached the logs");
    assert!(!database_files_contain(
        &scratch.db(),
        &encoded.as_bytes()[6..]
    ));
}

/// A child process killed when the test ends, passing or failing.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Signs with the independent signers (tests/signers/sign.py).
fn independent_signer(request: Value) -> Value {
    independent_python("sign.py", request)
}

/// `(id, timestamp, body)` as the signer takes it.
fn message(id: &str, timestamp: i64, body: &[u8]) -> Value {
    json!({"id": id, "timestamp": timestamp, "body": std::str::from_utf8(body).unwrap()})
}

/// The `standardwebhooks` package's signature over one delivery, with the secret as given.
fn standard_webhooks_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let answer = independent_signer(json!({
        "scheme": "standardwebhooks", "secret": secret, "messages": [message(id, timestamp, body)],
    }));
    answer["signatures"][0].as_str().unwrap().to_owned()
}

fn webhook_headers<'a>(
    id: &'a str,
    timestamp: &'a str,
    signature: &'a str,
) -> [(&'a str, &'a str); 3] {
    [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
}

fn random_key(length: usize) -> Vec<u8> {
    let mut key = vec![0u8; length];
    getrandom::fill(&mut key).unwrap();
    key
}

#[tokio::test]
async fn every_secret_form_the_libraries_accept_starts_serve_and_verifies() {
    // 32 bytes end in one padding character, 25 in two.
    for key in [random_key(32), random_key(25)] {
        let padded = STANDARD.encode(&key);
        let unpadded = STANDARD_NO_PAD.encode(&key);
        assert_ne!(padded, unpadded);
        for form in [
            format!("whsec_{padded}"),
            format!("whsec_{unpadded}"),
            padded.clone(),
            unpadded.clone(),
        ] {
            let scratch = Scratch::new();
            let monitor = Monitor::start(&scratch.db(), &["--signing-secret", &form]);
            let body = fixture("flat-open.json");
            let at = now();
            let ts = at.to_string();
            // The sender holds the secret in another form than the monitor: both are one key.
            let sender_form = if form.starts_with("whsec_") {
                &unpadded
            } else {
                &padded
            };
            let signature = standard_webhooks_signature(sender_form, "msg_form", at, &body);
            let answer = post_with(
                &monitor.webhook_url,
                &body,
                &webhook_headers("msg_form", &ts, &signature),
            )
            .await;
            assert_eq!(
                (answer.status, answer.body.as_str()),
                (200, r#"{"received":true}"#),
                "secret form {}",
                &form[..form.len().min(8)]
            );
            assert_eq!(
                export_jsonl(&scratch.db(), "deliveries")[0]["webhookId"],
                "msg_form"
            );
            assert!(
                post(&monitor.webhook_url, fixture("flat-open.json"))
                    .await
                    .status
                    == 401,
                "the secret is in force"
            );
        }
    }

    // The secret file beside the database takes the same forms.
    let scratch = Scratch::new();
    let key = random_key(32);
    std::fs::write(
        kyc_monitor::secret_file::path_for(&scratch.db()),
        format!("{}\n", STANDARD_NO_PAD.encode(&key)),
    )
    .unwrap();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let body = fixture("flat-accepted.json");
    let at = now();
    let signature = standard_webhooks_signature(
        &format!("whsec_{}", STANDARD.encode(&key)),
        "msg_file",
        at,
        &body,
    );
    let ts = at.to_string();
    let answer = post_with(
        &monitor.webhook_url,
        &body,
        &webhook_headers("msg_file", &ts, &signature),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn svix_headers_stand_in_for_the_webhook_ones() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let body = fixture("flat-open.json");
    let at = now();
    let ts = at.to_string();
    let signature = standard_webhooks_signature(&secret.expose(), "msg_svix", at, &body);
    let answer = post_with(
        &monitor.webhook_url,
        &body,
        &[
            ("svix-id", "msg_svix"),
            ("svix-timestamp", &ts),
            ("svix-signature", &signature),
        ],
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );
    // An empty webhook-* header is absent: its svix-* twin is taken.
    let body = fixture("flat-accepted.json");
    let signature = secret.sign("msg_svix_2", at, &body);
    let answer = post_with(
        &monitor.webhook_url,
        &body,
        &[
            ("webhook-id", ""),
            ("svix-id", "msg_svix_2"),
            ("svix-timestamp", &ts),
            ("webhook-signature", &signature),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ids: Vec<Value> = export_jsonl(&scratch.db(), "deliveries")
        .iter()
        .map(|d| d["webhookId"].clone())
        .collect();
    assert_eq!(ids, [json!("msg_svix"), json!("msg_svix_2")]);
    assert_eq!(
        lookup(&scratch.db(), "user_4821").unwrap()["status"],
        "CLOSED"
    );
}

#[tokio::test]
async fn an_empty_webhook_id_is_missing_and_never_makes_later_ones_duplicates() {
    let scratch = Scratch::new();
    let (monitor, secret) = start_signed(&scratch);
    let url = &monitor.webhook_url;
    let at = now();
    let ts = at.to_string();
    for (id, body) in [
        ("", fixture("flat-open.json")),
        ("  ", fixture("flat-open.json")),
        ("", fixture("flat-accepted.json")),
    ] {
        // Signed over the very id sent: the signature is right, the id is not there.
        let signature = secret.sign(id, at, &body);
        let answer = post_with(url, &body, &webhook_headers(id, &ts, &signature)).await;
        assert_eq!(answer.status, 401, "id {id:?}: {}", answer.body);
        assert!(
            answer.json()["error"]
                .as_str()
                .unwrap()
                .contains("webhook-id header (or svix-id) is missing"),
            "{}",
            answer.body
        );
    }
    let body = fixture("flat-open.json");
    let signature = secret.sign("msg_real", at, &body);
    let answer = post_with(url, &body, &webhook_headers("msg_real", &ts, &signature)).await;
    assert_eq!(answer.body, r#"{"received":true}"#, "not a duplicate");
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let outcomes: Vec<&str> = deliveries
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["rejected", "rejected", "rejected", "accepted"]);
    assert_eq!(
        lookup(&scratch.db(), "user_4821").unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn ed25519_signatures_from_an_independent_signer_verify_with_its_public_key() {
    let good = fixture("flat-open.json");
    let later = fixture("flat-accepted.json");
    let ts = now();
    let signer = independent_signer(json!({
        "scheme": "ed25519",
        "messages": [message("msg_a", ts, &good), message("msg_b", ts, &later)],
    }));
    let public_key = signer["publicKey"].as_str().unwrap().to_owned();
    let signature = |i: usize| signer["signatures"][i].as_str().unwrap().to_owned();
    let ts = ts.to_string();

    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--signing-secret", &public_key]);
    let url = &monitor.webhook_url;
    let answer = post_with(url, &good, &webhook_headers("msg_a", &ts, &signature(0))).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );

    // A tampered body, another delivery's signature, v1 entries alone: all refused, saying why.
    let mut tampered = later.clone();
    tampered[15] ^= 1;
    let v1_only =
        standard_webhooks_signature(&SharedSecret::generate().expose(), "msg_b", now(), &later);
    for (case, body, id, signature, hint) in [
        (
            "tampered body",
            &tampered,
            "msg_b",
            signature(1),
            "no v1a signature",
        ),
        (
            "another delivery's",
            &later,
            "msg_b",
            signature(0),
            "no v1a signature",
        ),
        ("v1 alone", &later, "msg_b", v1_only, "holds no v1a entry"),
    ] {
        let answer = post_with(url, body, &webhook_headers(id, &ts, &signature)).await;
        assert_eq!(answer.status, 401, "{case}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(hint), "{case}: {error}");
    }
    let answer = post_with(url, &later, &webhook_headers("msg_b", &ts, &signature(1))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        lookup(&scratch.db(), "user_4821").unwrap()["status"],
        "CLOSED"
    );

    // The same key from the environment and from the secret file beside the database.
    let from_env = Scratch::new();
    let mut child = Running(
        serve_command(&from_env.db())
            .env("KYC_MONITOR_SIGNING_SECRET", &public_key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let env_url = line.trim().strip_prefix("webhook: ").unwrap().to_owned();
    let from_file = Scratch::new();
    std::fs::write(
        kyc_monitor::secret_file::path_for(&from_file.db()),
        &public_key,
    )
    .unwrap();
    let file_monitor = Monitor::start(&from_file.db(), &[]);
    for url in [&env_url, &file_monitor.webhook_url] {
        assert_eq!(post(url, good.clone()).await.status, 401);
        let answer = post_with(url, &good, &webhook_headers("msg_a", &ts, &signature(0))).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    signal(&child.0, "TERM");
    assert!(child.0.wait().unwrap().success());
}

/// The counts in the emulator's `summary:` line.
fn summary_counts(out: &str) -> std::collections::HashMap<String, u64> {
    let line = out
        .lines()
        .find_map(|line| line.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary line in {out:?}"));
    line.split(' ')
        .map(|pair| {
            let (name, count) = pair.split_once('=').unwrap();
            (name.to_owned(), count.parse().unwrap())
        })
        .collect()
}

/// Every delivery the emulator saw acknowledged is in the monitor's database, verified.
fn assert_every_acked_delivery_is_stored(db: &std::path::Path, out: &str, validations: u64) {
    let summary = summary_counts(out);
    assert_eq!(summary["failed"], 0, "{out}");
    assert_eq!(summary["acked"], summary["sent"], "{out}");
    let deliveries = export_jsonl(db, "deliveries");
    assert!(
        deliveries.iter().all(|d| d["outcome"] != "rejected"),
        "every delivery verified: {deliveries:?}"
    );
    assert!(deliveries.iter().all(|d| d["webhookId"].is_string()));
    assert_eq!(deliveries.len() as u64, summary["acked"] + validations);
    assert_eq!(export_jsonl(db, "users").len() as u64, summary["users"]);
}

fn emulate(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--users",
            "3",
            "--speed",
            "100",
        ])
        .args(["--duplicates", "0.3", "--exit-when-done"])
        // A delivery that is refused gives up soon, so a failure ends the run instead of hanging it.
        .args(["--max-attempts", "2", "--retry-base-ms", "50"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

#[test]
fn the_emulator_signs_every_way_and_a_signed_monitor_keeps_every_acked_delivery() {
    let secret = SharedSecret::generate();
    let unpadded = secret.expose().trim_end_matches('=').to_owned();
    let key = Ed25519PrivateKey::generate();
    let private = key.expose();
    let public = key.public_key().expose();
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "webhook-* v1",
            &["--signing-secret", &unpadded],
            &secret.expose(),
        ),
        (
            "svix-* v1",
            &[
                "--signing-secret",
                &secret.expose(),
                "--signature-headers",
                "svix",
            ],
            &unpadded,
        ),
        ("webhook-* v1a", &["--signing-key", &private], &public),
        (
            "svix-* v1 and v1a",
            &[
                "--signing-secret",
                &secret.expose(),
                "--signing-key",
                &private,
                "--signature-headers",
                "svix",
            ],
            &public,
        ),
    ];
    for (case, signing, monitor_secret) in cases {
        let scratch = Scratch::new();
        let monitor = Monitor::start(&scratch.db(), &["--signing-secret", monitor_secret]);
        let output = emulate(signing)
            .args(["--webhook-url", &monitor.webhook_url])
            .output()
            .unwrap();
        let out = stdout(&output);
        assert!(
            output.status.success(),
            "{case}: {out}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_every_acked_delivery_is_stored(&scratch.db(), &out, 0);
        let printed = out
            .lines()
            .find_map(|l| l.strip_prefix("signing-public-key: "));
        if signing.contains(&"--signing-key") {
            assert_eq!(printed, Some(public.as_str()), "{case}");
        }
        assert!(
            !out.contains(&private[5..]),
            "{case}: the private key is never printed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_makes_a_key_pair_and_a_registration_keeps_its_public_key_for_serve() {
    let scratch = Scratch::new();
    let partner_key = scratch.dir.path().join("partner.pem");
    let mut emulator = Running(
        emulate(&["--new-signing-key", "--signature-headers", "svix"])
            .args(["--write-private-key", partner_key.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(emulator.0.stdout.take().unwrap());
    let mut printed = std::collections::HashMap::new();
    while !printed.contains_key("private-key") {
        let mut line = String::new();
        assert_ne!(
            lines.read_line(&mut line).unwrap(),
            0,
            "emulate ended early"
        );
        let (name, value) = line.trim_end().split_once(": ").unwrap();
        printed.insert(name.to_owned(), value.to_owned());
    }
    let public = printed["signing-public-key"].clone();
    assert!(public.starts_with("whpk_"), "{public}");

    // Unsigned until registration stores the key; the provider's test request is signed v1a.
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    let output = cli(
        &scratch.db(),
        &[
            "register",
            &monitor.webhook_url,
            "--api-base",
            &printed["api-base"],
            "--token-url",
            &printed["token-url"],
            "--client-id",
            &printed["client-id"],
            "--private-key",
            partner_key.to_str().unwrap(),
            "--signing-secret",
            &public,
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    assert!(emulator.0.wait().unwrap().success(), "{rest}");
    assert_every_acked_delivery_is_stored(&scratch.db(), &rest, 1);
    let kept = std::fs::read_to_string(kyc_monitor::secret_file::path_for(&scratch.db())).unwrap();
    assert_eq!(kept.trim(), public);
    let attempts = kyc_monitor::store::Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap()
        .registrations(1)
        .unwrap();
    assert_eq!(attempts[0].form, "webhookUrl", "a public key is never sent");
    assert_eq!(
        post(&monitor.webhook_url, fixture("flat-open.json"))
            .await
            .status,
        401
    );
}
