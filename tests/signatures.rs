//! Signed deliveries (Standard Webhooks) against the real listener.

mod support;

use kyc_monitor::signature::SigningSecret;
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

fn signed(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> Signed {
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

fn start_signed(scratch: &Scratch) -> (Monitor, SigningSecret) {
    let secret = SigningSecret::generate();
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
    let rotated_out = SigningSecret::generate().sign("msg_2", now(), &body);
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

    let wrong_key = signed(&SigningSecret::generate(), "m1", now(), &body);
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
            .contains("webhook-id header is missing"));
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
    let secret = SigningSecret::generate();
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
    let secret = SigningSecret::generate();
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
