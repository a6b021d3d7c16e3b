//! The provider side over real HTTP: the emulator's token endpoint, the API client's errors,
//! registration (CLI) against a real monitor, and onboarding flows delivered into it with
//! duplicates, reordering, drops, retries and signatures.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kyc_monitor::kyc::UserState;
use kyc_monitor::provider::jwt::Claims;
use kyc_monitor::provider::{
    Emulator, EmulatorConfig, Endpoints, FlowConfig, Outcome, PayloadForm, PrivateKey,
    ProviderClient, ProviderError,
};
use kyc_monitor::store::Store;
use support::{cli, export_jsonl, stdout, Monitor, Scratch};

const CLIENT_ID: &str = "test-partner";
/// A guard against a hang, not a performance assertion.
const FLOWS_LIMIT: Duration = Duration::from_secs(90);

fn quick_flows(users: u32) -> FlowConfig {
    FlowConfig {
        users,
        speed: 200.0,
        retry_base: Duration::from_millis(50),
        ..FlowConfig::default()
    }
}

async fn emulator(key: &PrivateKey, flows: FlowConfig) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows,
        validation_timeout: Duration::from_millis(800),
        rate_limit: 1000,
    })
    .await
    .expect("start the emulator")
}

fn client_for(emulator: &Emulator, key: &PrivateKey) -> ProviderClient {
    let endpoints = Endpoints::custom(emulator.api_base(), emulator.token_url()).unwrap();
    ProviderClient::new(endpoints, CLIENT_ID, key.clone()).unwrap()
}

async fn finished(emulator: &Emulator) -> kyc_monitor::provider::Summary {
    tokio::time::timeout(FLOWS_LIMIT, emulator.finished())
        .await
        .expect("the flows did not finish")
}

/// `register` through the CLI against an in-process emulator; returns (exit code, stdout, stderr).
fn register(
    db: &Path,
    emulator: &Emulator,
    key_file: &Path,
    url: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let key = key_file.to_str().unwrap();
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
        key,
    ];
    args.extend_from_slice(extra);
    let output = cli(db, &args);
    (
        output.status.code().unwrap_or(-1),
        stdout(&output),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn key_file(scratch: &Scratch, key: &PrivateKey) -> std::path::PathBuf {
    let path = scratch.dir.path().join("partner.pem");
    std::fs::write(&path, key.expose_pem()).unwrap();
    path
}

/// Every user's state as the monitor holds it.
fn monitor_users(db: &Path) -> BTreeMap<String, UserState> {
    export_jsonl(db, "users")
        .into_iter()
        .map(|u| {
            let text = |k: &str| u[k].as_str().unwrap().to_owned();
            (
                text("externalId"),
                UserState {
                    decision: text("decision"),
                    status: text("status"),
                    sub_status: text("subStatus"),
                    participant_id: text("participantId"),
                    account: text("account"),
                },
            )
        })
        .collect()
}

async fn token_answer(
    emulator: &Emulator,
    assertion: &str,
    audience: &str,
) -> (u16, serde_json::Value) {
    let response = support::client()
        .post(emulator.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_accepts_a_good_assertion_and_refuses_each_bad_one() {
    let key = PrivateKey::generate();
    let emulator = emulator(&key, quick_flows(0)).await;
    let now = kyc_monitor::time::now_millis() / 1000;
    let good = || Claims::assertion(CLIENT_ID, emulator.token_url(), now, 300);
    let api = emulator.api_base().to_owned();

    let assertion = key.sign(&good());
    let (status, body) = token_answer(&emulator, &assertion, &api).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    assert_eq!(body["expires_in"], 180);

    let (status, body) = token_answer(&emulator, &assertion, &api).await;
    assert_eq!(
        (status, body["error_description"].as_str().unwrap()),
        (401, "the assertion's jti was already used")
    );

    let other_key = PrivateKey::generate();
    let cases: Vec<(&str, String)> = vec![
        ("signed by another key", other_key.sign(&good())),
        (
            "expired",
            key.sign(&Claims {
                iat: now - 400,
                exp: now - 100,
                ..good()
            }),
        ),
        (
            "wrong audience",
            key.sign(&Claims {
                aud: format!("{api}/elsewhere"),
                ..good()
            }),
        ),
        (
            "another client",
            key.sign(&Claims {
                iss: "someone-else".into(),
                sub: "someone-else".into(),
                ..good()
            }),
        ),
        (
            "iss differs from sub",
            key.sign(&Claims {
                sub: "someone-else".into(),
                ..good()
            }),
        ),
        (
            "lives over 5 minutes",
            key.sign(&Claims {
                exp: now + 3600,
                ..good()
            }),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (case, assertion) in cases {
        let (status, body) = token_answer(&emulator, &assertion, &api).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"], "invalid_client", "{case}");
        assert!(
            !body["error_description"].as_str().unwrap().is_empty(),
            "{case}"
        );
    }
    // An HS256 token: the header names another algorithm.
    let header = "eyJhbGciOiJIUzI1NiJ9";
    let (status, body) = token_answer(&emulator, &format!("{header}.e30.c2ln"), &api).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not RS256"),
        "{body}"
    );

    let (status, _) =
        token_answer(&emulator, &key.sign(&good()), "https://another-api.example").await;
    assert_eq!(status, 403, "a token for another API is refused");
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_failures_are_sentences_that_say_what_to_do() {
    let key = PrivateKey::generate();
    let emulator = emulator(&key, quick_flows(0)).await;

    let wrong_key = client_for(&emulator, &PrivateKey::generate());
    let error = wrong_key.status("anyone").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error:?}");
    assert!(error.to_string().contains("check the client id"), "{error}");

    // The same server under another name: the token is asked for another audience.
    let port = emulator.addr().port();
    let other_name =
        Endpoints::custom(&format!("http://localhost:{port}"), emulator.token_url()).unwrap();
    let error = ProviderClient::new(other_name, CLIENT_ID, key.clone())
        .unwrap()
        .status("anyone")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Forbidden(_)), "{error:?}");
    assert!(
        error.to_string().contains("ask the provider to grant"),
        "{error}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = Endpoints::custom(
        &format!("http://127.0.0.1:{closed_port}"),
        &format!("http://127.0.0.1:{closed_port}/oauth/token"),
    )
    .unwrap();
    let error = ProviderClient::new(down, CLIENT_ID, key.clone())
        .unwrap()
        .status("anyone")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("cannot reach the provider"),
        "{error}"
    );

    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let slow = Endpoints::custom(
        &format!("http://{silent_addr}"),
        &format!("http://{silent_addr}/oauth/token"),
    )
    .unwrap();
    let error = ProviderClient::new(slow, CLIENT_ID, key.clone())
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .status("anyone")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer"), "{error}");

    // A provider in trouble, and one that reports a conflict: stand-ins answering only that.
    for (status, expected) in [
        (503, "the provider is failing (HTTP 503"),
        (409, "reports a conflict (409"),
    ] {
        let url = broken_listener(status, Duration::ZERO).await;
        let base = url.trim_end_matches("/kyc-webhook");
        let endpoints = Endpoints::custom(base, &format!("{base}/oauth/token")).unwrap();
        let error = ProviderClient::new(endpoints, CLIENT_ID, key.clone())
            .unwrap()
            .status("anyone")
            .await
            .unwrap_err();
        assert!(error.to_string().contains(expected), "{status}: {error}");
    }

    let good = client_for(&emulator, &key);
    assert_eq!(good.status("nobody-by-this-id").await.unwrap(), None);
    let error = ProviderClient::new(emulator_endpoints(&emulator), " ", key.clone()).unwrap_err();
    assert!(error.to_string().contains("client id is empty"), "{error}");
    emulator.stop().await;
}

fn emulator_endpoints(emulator: &Emulator) -> Endpoints {
    Endpoints::custom(emulator.api_base(), emulator.token_url()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_client_waits_as_asked_and_reuses_its_token() {
    let key = PrivateKey::generate();
    let emulator = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows: quick_flows(0),
        validation_timeout: Duration::from_secs(1),
        rate_limit: 2,
    })
    .await
    .unwrap();
    let client = client_for(&emulator, &key);
    // One token request, then three status requests: over 2 per second, so at least one 429.
    for _ in 0..3 {
        assert_eq!(client.status("nobody").await.unwrap(), None);
    }
    assert_eq!(
        emulator.tokens_issued(),
        1,
        "the bearer token is reused while it lasts"
    );
    let again = client_for(&emulator, &key);
    again.status("nobody").await.unwrap();
    assert_eq!(emulator.tokens_issued(), 2, "a new client asks for its own");
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn register_validates_a_live_monitor_and_keeps_the_attempt_without_secrets() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, quick_flows(3)).await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);

    let (code, out, err) = register(
        &scratch.db(),
        &emulator,
        &key_path,
        &monitor.webhook_url,
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "validated: true\nmessage: Webhook URL validated successfully\n"
    );
    assert_eq!(
        emulator.target_url().as_deref(),
        Some(monitor.webhook_url.as_str())
    );
    let summary = finished(&emulator).await;
    assert_eq!((summary.users, summary.failed), (3, 0), "{summary}");
    assert_eq!(
        monitor_users(&scratch.db()),
        emulator.users(),
        "the board holds what the provider sent"
    );

    let pings = export_jsonl(&scratch.db(), "deliveries")
        .into_iter()
        .filter(|d| d["outcome"] == "ping")
        .count();
    assert_eq!(pings, 1, "the validation request was recorded as a ping");

    let attempts = Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap()
        .registrations(10)
        .unwrap();
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert_eq!(attempt.validated, Some(true));
    assert_eq!(
        (attempt.form.as_str(), attempt.http_status),
        ("webhookUrl", Some(200))
    );
    assert_eq!(
        (attempt.api_base.as_str(), attempt.client_id.as_str()),
        (emulator.api_base(), CLIENT_ID)
    );
    let pem = key.expose_pem();
    let key_body = pem.lines().nth(3).unwrap();
    assert!(
        !support::database_files_contain(&scratch.db(), key_body.as_bytes()),
        "the private key is not stored"
    );

    // The profile is remembered: reconcile needs no options now.
    let output = cli(&scratch.db(), &["reconcile"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), "reconciled: asked=0 learned=0 unknown=0\n");
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn register_and_reconcile_ask_a_running_monitor_or_say_to_stop_it_when_its_ui_is_off() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, quick_flows(1)).await;

    // The UI off: nothing to ask, and no second writer is started beside it.
    let quiet = Monitor::start(&scratch.db(), &[]);
    let (code, out, err) = register(&scratch.db(), &emulator, &key_path, &quiet.webhook_url, &[]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("is running on")
            && err.contains("with its web UI off")
            && err.contains("stop it, or run it with the UI on"),
        "{err}"
    );
    let output = cli(&scratch.db(), &["reconcile"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("with its web UI off"));
    assert_eq!(emulator.target_url(), None, "the provider was not asked");
    assert_eq!(quiet.terminate(), 0);

    // The UI on: the running monitor registers (its own writer keeps the attempt).
    let mut running = Monitor::start_with_ui(&scratch.db(), &[]);
    let (base, token) = running.ui();
    let (code, out, err) = register(
        &scratch.db(),
        &emulator,
        &key_path,
        &running.webhook_url,
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "validated: true\nmessage: Webhook URL validated successfully\n"
    );
    let answer = support::send(
        support::client()
            .get(format!("{base}/api/provider"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        answer.json()["registrations"][0]["validated"],
        true,
        "{}",
        answer.body
    );
    let output = cli(&scratch.db(), &["reconcile"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer = support::send(
        support::client()
            .get(format!("{base}/api/work"))
            .bearer_auth(&token),
    )
    .await;
    assert!(
        answer.body.contains("reconcile"),
        "the running monitor did the work: {}",
        answer.body
    );
    emulator.stop().await;
}

/// A stand-in for a broken partner endpoint: answers every request with `status`, after `delay`.
async fn broken_listener(status: u16, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                tokio::time::sleep(delay).await;
                let answer = format!(
                    "HTTP/1.1 {status} Broken\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/kyc-webhook")
}

#[tokio::test(flavor = "multi_thread")]
async fn register_is_refused_when_the_listener_is_down_failing_or_slow() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, quick_flows(1)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/kyc-webhook", closed.local_addr().unwrap());
    drop(closed);
    let failing = broken_listener(500, Duration::ZERO).await;
    let slow = broken_listener(200, Duration::from_secs(3)).await;

    for (url, expected) in [
        (&down, "could not be delivered"),
        (&failing, "got HTTP 500 (a 2xx is required)"),
        (&slow, "got no answer within 0.8 s"),
    ] {
        let (code, out, err) = register(&scratch.db(), &emulator, &key_path, url, &[]);
        assert_eq!(code, 1, "{url}: {out}{err}");
        assert!(
            out.starts_with("validated: false\nmessage: Webhook validation failed: "),
            "{out}"
        );
        assert!(out.contains(expected), "{url}: {out}");
    }
    assert_eq!(
        emulator.target_url(),
        None,
        "nothing was delivered anywhere"
    );
    let attempts = Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap()
        .registrations(10)
        .unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.validated).collect::<Vec<_>>(),
        vec![Some(false); 3]
    );

    // The provider cannot be asked at all: the reason on stderr, nothing on stdout, exit 1.
    let wrong = scratch.dir.path().join("other.pem");
    std::fs::write(&wrong, PrivateKey::generate().expose_pem()).unwrap();
    let (code, out, err) = register(&scratch.db(), &emulator, &wrong, &down, &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("refused the client credentials (401"), "{err}");
    let attempts = Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap()
        .registrations(10)
        .unwrap();
    assert_eq!(
        attempts[0].validated, None,
        "kept with the reason: {attempts:?}"
    );
    assert!(attempts[0].message.contains("401"));
    emulator.stop().await;
}

#[test]
fn register_explains_missing_or_bad_options() {
    let scratch = Scratch::new();
    let output = cli(
        &scratch.db(),
        &["register", "https://example.test/kyc-webhook"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--env dev|preprod|prod"));

    let output = cli(
        &scratch.db(),
        &[
            "register",
            "https://x.test/h",
            "--env",
            "dev",
            "--client-id",
            "c",
            "--private-key",
            "/nonexistent/key.pem",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("cannot read the key file /nonexistent/key.pem"));

    let not_a_key = scratch.dir.path().join("notes.txt");
    std::fs::write(&not_a_key, "hello").unwrap();
    let output = cli(
        &scratch.db(),
        &[
            "register",
            "https://x.test/h",
            "--env",
            "dev",
            "--client-id",
            "c",
            "--private-key",
            not_a_key.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not an RSA private key in PEM form")
    );

    let output = cli(
        &scratch.db(),
        &[
            "register",
            "https://x.test/h",
            "--env",
            "dev",
            "--signing-secret",
            "nope",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("--signing-secret: the signing secret is too short"));

    let output = cli(&scratch.db(), &["register", "not a url", "--env", "dev"]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn flows_with_duplicates_and_reordering_arrive_and_reconcile_repairs_the_order() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let flows = FlowConfig {
        duplicate_rate: 0.5,
        reorder_rate: 0.6,
        review_rate: 0.5,
        ..quick_flows(24)
    };
    let emulator = emulator(&key, flows).await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    assert_eq!(
        register(
            &scratch.db(),
            &emulator,
            &key_path,
            &monitor.webhook_url,
            &[]
        )
        .0,
        0
    );
    let summary = finished(&emulator).await;
    assert_eq!(
        (summary.users, summary.failed, summary.retried),
        (24, 0, 0),
        "{summary}"
    );
    assert!(summary.duplicates > 0, "{summary}");
    assert_eq!(summary.acked, summary.sent);

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let about_users = deliveries
        .iter()
        .filter(|d| d["outcome"] == "accepted" || d["outcome"] == "duplicate")
        .count();
    assert_eq!(
        about_users as u64, summary.acked,
        "every acked delivery is stored, once"
    );
    let duplicates = deliveries
        .iter()
        .filter(|d| d["outcome"] == "duplicate")
        .count();
    assert!(
        duplicates as u64 >= summary.duplicates,
        "resent deliveries are marked: {duplicates} < {summary}"
    );

    let truth = emulator.users();
    let before = monitor_users(&scratch.db());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
    let wrong: Vec<_> = truth
        .iter()
        .filter(|(id, state)| before[*id] != **state)
        .collect();
    assert!(
        !wrong.is_empty(),
        "with this much reordering some user ends on an older state"
    );

    let output = cli(&scratch.db(), &["reconcile"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    assert!(
        text.ends_with(&format!("learned={} unknown=0\n", wrong.len())),
        "{text}"
    );
    assert_eq!(
        monitor_users(&scratch.db()),
        truth,
        "after reconcile the monitor agrees with the provider"
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_fills_the_gap_a_dropped_delivery_left_and_marks_it_as_polled() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(
        &key,
        FlowConfig {
            drop_rate: 0.6,
            ..quick_flows(30)
        },
    )
    .await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    assert_eq!(
        register(
            &scratch.db(),
            &emulator,
            &key_path,
            &monitor.webhook_url,
            &[]
        )
        .0,
        0
    );
    let summary = finished(&emulator).await;
    assert!(summary.dropped > 0, "{summary}");

    let truth = emulator.users();
    let before = monitor_users(&scratch.db());
    let gaps: Vec<&String> = before
        .iter()
        .filter(|(id, state)| truth[*id] != **state)
        .map(|(id, _)| id)
        .collect();
    assert!(
        !gaps.is_empty(),
        "some user's last step was dropped: {summary}"
    );

    let output = cli(&scratch.db(), &["reconcile"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = monitor_users(&scratch.db());
    for id in &gaps {
        assert_eq!(after[*id], truth[*id], "{id} was repaired");
    }
    let polled: Vec<_> = export_jsonl(&scratch.db(), "deliveries")
        .into_iter()
        .filter(|d| d["source"] == "poll")
        .collect();
    assert_eq!(
        polled.len(),
        gaps.len(),
        "one polled delivery per repaired user"
    );
    assert!(polled
        .iter()
        .all(|d| d["outcome"] == "accepted" && d["remoteAddr"] == emulator.api_base()));
    // A second reconcile finds nothing new.
    let output = cli(&scratch.db(), &["reconcile"]);
    assert!(
        stdout(&output).contains(" learned=0 "),
        "{}",
        stdout(&output)
    );
    // Rebuilding from deliveries alone keeps what reconcile learned.
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(monitor_users(&scratch.db()), after);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_answered_503_are_retried_until_stored() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let flows = FlowConfig {
        max_attempts: 20,
        ..quick_flows(2)
    };
    let emulator = emulator(&key, flows).await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);

    // Hold the database's write lock: the monitor answers 503 with Retry-After.
    let blocker = rusqlite::Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    emulator.deliver_to(&monitor.webhook_url, None);
    while emulator.summary().retried == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);

    let summary = finished(&emulator).await;
    assert_eq!(summary.failed, 0, "{summary}");
    assert_eq!(summary.acked, summary.sent, "{summary}");
    let refused = export_jsonl(&scratch.db(), "deliveries").len() as u64;
    assert_eq!(
        refused, summary.acked,
        "503s keep nothing; every retried delivery is stored once"
    );
    assert_eq!(monitor_users(&scratch.db()), emulator.users());
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_flows_are_verified_with_the_secret_made_at_registration() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(
        &key,
        FlowConfig {
            form: PayloadForm::Envelope,
            ..quick_flows(4)
        },
    )
    .await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);

    let (code, out, err) = register(
        &scratch.db(),
        &emulator,
        &key_path,
        &monitor.webhook_url,
        &["--new-signing-secret"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let secret = out
        .lines()
        .find_map(|line| line.strip_prefix("signing-secret: "))
        .expect("the new secret is printed once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(
        err.contains("not shown again") && !err.contains(&secret),
        "{err}"
    );
    let summary = finished(&emulator).await;
    assert_eq!(
        (summary.acked, summary.failed),
        (summary.sent, 0),
        "{summary}"
    );

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert!(
        deliveries.iter().all(|d| d["outcome"] != "rejected"),
        "every signed delivery verified"
    );
    assert!(
        deliveries.iter().all(|d| d["webhookId"].is_string()),
        "each carries its verified webhook-id"
    );
    assert_eq!(monitor_users(&scratch.db()), emulator.users());

    // The running monitor now requires signatures: an unsigned delivery is refused.
    let answer = support::post(
        &monitor.webhook_url,
        support::flat("intruder", "ACCEPT", "CLOSED"),
    )
    .await;
    assert_eq!(answer.status, 401, "{}", answer.body);

    let attempts = Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap()
        .registrations(10)
        .unwrap();
    assert_eq!(attempts[0].form, "webhook_url");
    let bare = secret.strip_prefix("whsec_").unwrap();
    assert!(
        !support::database_files_contain(&scratch.db(), bare.as_bytes()),
        "the secret is not in the database"
    );
    let kept = std::fs::read_to_string(kyc_monitor::secret_file::path_for(&scratch.db())).unwrap();
    assert_eq!(kept.trim(), secret, "kept beside the database for serve");

    // A monitor started later reads it too.
    drop(monitor);
    let restarted = Monitor::start_with_ui(&scratch.db(), &[]);
    let answer = support::post(
        &restarted.webhook_url,
        support::flat("intruder", "ACCEPT", "CLOSED"),
    )
    .await;
    assert_eq!(answer.status, 401);
    emulator.stop().await;
}

fn last_form(db: &Path) -> String {
    Store::open(db)
        .unwrap()
        .reader()
        .unwrap()
        .registrations(1)
        .unwrap()[0]
        .form
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn register_keeps_the_stored_secret_unless_told_unsigned() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, quick_flows(0)).await;
    let monitor = Monitor::start_with_ui(&db, &[]);
    let url = monitor.webhook_url.clone();
    let secret_path = kyc_monitor::secret_file::path_for(&db);
    let unsigned_status = || async {
        support::post(&url, support::flat("someone", "", "OPEN"))
            .await
            .status
    };

    let (code, out, err) = register(&db, &emulator, &key_path, &url, &["--new-signing-secret"]);
    assert_eq!(code, 0, "{out}{err}");
    let secret = std::fs::read_to_string(&secret_path).unwrap();

    // No signing option: the stored secret is sent again, so the signed test request verifies.
    let (code, out, err) = register(&db, &emulator, &key_path, &url, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("signing secret kept in"), "{err}");
    assert!(!out.contains("signing-secret:") && !err.contains(secret.trim()));
    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    assert_eq!(last_form(&db), "webhook_url");
    assert_eq!(unsigned_status().await, 401);

    // --unsigned that does not validate changes nothing.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/kyc-webhook", closed.local_addr().unwrap());
    drop(closed);
    assert_eq!(
        register(&db, &emulator, &key_path, &down, &["--unsigned"]).0,
        1
    );
    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    assert_eq!(unsigned_status().await, 401);

    // --unsigned: the documented form; once validated, signatures are no longer required.
    let (code, out, err) = register(&db, &emulator, &key_path, &url, &["--unsigned"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("removed"), "{err}");
    assert!(!secret_path.exists());
    assert_eq!(last_form(&db), "webhookUrl");
    assert_eq!(unsigned_status().await, 200);

    // A provider that signs with its own Ed25519 key: its whpk_ key is kept the same way.
    let provider_key = kyc_monitor::signature::Ed25519PrivateKey::generate();
    emulator.sign_with(kyc_monitor::provider::DeliverySigning {
        key: Some(provider_key.clone()),
        ..Default::default()
    });
    let public = provider_key.public_key().expose();
    for extra in [&["--signing-secret", public.as_str()][..], &[]] {
        let (code, out, err) = register(&db, &emulator, &key_path, &url, extra);
        assert_eq!(code, 0, "{extra:?}: {out}{err}");
        assert_eq!(last_form(&db), "webhookUrl", "a public key is never sent");
        assert_eq!(
            std::fs::read_to_string(&secret_path).unwrap().trim(),
            public
        );
    }
    assert_eq!(unsigned_status().await, 401);

    // Conflicting choices are usage errors.
    for flags in [
        &["--unsigned", "--new-signing-secret"][..],
        &["--unsigned", "--signing-secret", secret.trim()],
        &["--new-signing-secret", "--signing-secret", secret.trim()],
    ] {
        let (code, _, err) = register(&db, &emulator, &key_path, &url, flags);
        assert_eq!(code, 2, "{flags:?}: {err}");
        assert!(err.contains("cannot be used with"), "{err}");
        assert!(
            !err.contains(secret.trim().trim_start_matches("whsec_")),
            "{err}"
        );
    }
    emulator.stop().await;
}

/// Polls `lookup` until every one of `count` users of the demo is CLOSED.
fn wait_for_closed_users(db: &Path, count: usize) -> Vec<serde_json::Value> {
    let start = std::time::Instant::now();
    loop {
        // The demo's database appears a moment before its schema: until then, no users.
        let export = cli(db, &["export", "users", "--format", "jsonl"]);
        let users: Vec<serde_json::Value> = if export.status.success() {
            stdout(&export)
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        } else {
            Vec::new()
        };
        if users.len() == count && users.iter().all(|u| u["status"] == "CLOSED") {
            return users;
        }
        assert!(
            start.elapsed() < FLOWS_LIMIT,
            "the demo did not bring {count} closed users: {users:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_demo_registers_with_the_built_in_emulator_and_fills_its_own_database() {
    let scratch = Scratch::new();
    let data = scratch.dir.path().join("data");
    let mut child = std::process::Command::new(support::BIN)
        .args([
            "serve",
            "--demo",
            "--demo-users",
            "4",
            "--demo-speed",
            "100",
        ])
        // Everyone finishes, so that the test knows when the demo is over.
        .args(["--demo-hold-rate", "0", "--demo-abandon-rate", "0"])
        .args(["--listen", "127.0.0.1:0", "--ui-listen", "off"])
        .env("XDG_DATA_HOME", &data)
        .env_remove("KYC_MONITOR_DB")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let demo_db = data.join("kyc-monitor/kyc-monitor-demo.db");
    let users = wait_for_closed_users(&demo_db, 4);
    assert!(
        users
            .iter()
            .all(|u| u["decision"] == "ACCEPT" || u["decision"] == "REJECT"),
        "{users:?}"
    );
    assert!(
        !data.join("kyc-monitor/kyc-monitor.db").exists(),
        "demo users never mix with real ones"
    );
    let attempts = Store::open(&demo_db)
        .unwrap()
        .reader()
        .unwrap()
        .registrations(10)
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].validated, Some(true), "{attempts:?}");
    assert!(attempts[0].api_base.starts_with("http://127.0.0.1:"));
    support::signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_demo_on_a_database_with_a_stored_secret_keeps_it_and_is_signed_with_it() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let secret_path = kyc_monitor::secret_file::path_for(&db);
    let secret = kyc_monitor::signature::SharedSecret::generate().expose();
    std::fs::write(&secret_path, &secret).unwrap();
    let monitor = Monitor::start(
        &db,
        &[
            "--demo",
            "--demo-users",
            "3",
            "--demo-speed",
            "100",
            "--demo-hold-rate",
            "0",
            "--demo-abandon-rate",
            "0",
        ],
    );
    wait_for_closed_users(&db, 3);
    let kept = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(kept.trim(), secret);
    let deliveries = export_jsonl(&db, "deliveries");
    assert!(
        deliveries
            .iter()
            .all(|d| d["outcome"] != "rejected" && d["webhookId"].is_string()),
        "every demo delivery was signed with the kept secret: {deliveries:?}"
    );
    assert_eq!(monitor.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_again_replaces_the_url_deliveries_go_to() {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, quick_flows(0)).await;
    let first = Monitor::start(&scratch.dir.path().join("first.db"), &[]);
    let second = Monitor::start(&scratch.dir.path().join("second.db"), &[]);
    let db = scratch.db();
    assert_eq!(
        register(&db, &emulator, &key_path, &first.webhook_url, &[]).0,
        0
    );
    assert_eq!(
        emulator.target_url().as_deref(),
        Some(first.webhook_url.as_str())
    );
    assert_eq!(
        register(&db, &emulator, &key_path, &second.webhook_url, &[]).0,
        0
    );
    assert_eq!(
        emulator.target_url().as_deref(),
        Some(second.webhook_url.as_str())
    );
    // A refused URL leaves the last validated one in place.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/kyc-webhook", closed.local_addr().unwrap());
    drop(closed);
    assert_eq!(register(&db, &emulator, &key_path, &down, &[]).0, 1);
    assert_eq!(
        emulator.target_url().as_deref(),
        Some(second.webhook_url.as_str())
    );
    emulator.stop().await;
}

#[test]
fn emulate_delivers_to_a_given_url_with_a_given_public_key_and_prints_a_summary() {
    let scratch = Scratch::new();
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    let key = PrivateKey::generate();
    let public = scratch.dir.path().join("partner.pub.pem");
    std::fs::write(&public, key.public_key().to_pem()).unwrap();
    let output = std::process::Command::new(support::BIN)
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--public-key",
            public.to_str().unwrap(),
        ])
        .args([
            "--webhook-url",
            &monitor.webhook_url,
            "--users",
            "3",
            "--speed",
            "100",
        ])
        .args([
            "--review-rate",
            "1",
            "--reject-rate",
            "0",
            "--exit-when-done",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = stdout(&output);
    assert!(out.starts_with("api-base: http://127.0.0.1:"), "{out}");
    assert!(
        !out.contains("private-key:"),
        "no key is made when one is given: {out}"
    );
    assert!(
        out.ends_with(
            "summary: users=3 sent=15 acked=15 retried=0 failed=0 dropped=0 duplicates=0 \
             approved=3 rejected=0 held=0 abandoned=0\n"
        ),
        "{out}"
    );
    let users = monitor_users(&scratch.db());
    assert_eq!(users.len(), 3);
    for state in users.values() {
        assert_eq!(
            (state.decision.as_str(), state.status.as_str()),
            ("ACCEPT", "CLOSED")
        );
        assert!(state
            .participant_id
            .starts_with("firms/ISV-Participant-Emulator/users/user-"));
    }
    // Every user went through ON_HOLD for documents on the way (review rate 1).
    let on_hold = export_jsonl(&scratch.db(), "events")
        .into_iter()
        .filter(|e| {
            e["status"] == "ON_HOLD"
                && e["decision"] == "REVIEW"
                && e["subStatus"] == "Document Request Initiated"
        })
        .count();
    assert_eq!(on_hold, 3);

    let output = std::process::Command::new(support::BIN)
        .args(["emulate", "--reject-rate", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a share between 0 and 1"));
}

/// The flows' outcome mix, in a story: approved, rejected, left on hold, abandoned.
fn story_flows(seed: u64) -> FlowConfig {
    FlowConfig {
        seed: Some(seed),
        reject_rate: 0.2,
        hold_rate: 0.25,
        abandon_rate: 0.15,
        review_rate: 0.5,
        ..quick_flows(24)
    }
}

/// Runs `flows` into a fresh monitor until every flow is delivered; returns each user's
/// outcome, the summary, and every user's state as the monitor holds it.
async fn run_story(
    flows: FlowConfig,
) -> (
    BTreeMap<String, Outcome>,
    kyc_monitor::provider::Summary,
    BTreeMap<String, UserState>,
) {
    let scratch = Scratch::new();
    let key = PrivateKey::generate();
    let key_path = key_file(&scratch, &key);
    let emulator = emulator(&key, flows).await;
    let monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    let registered = register(
        &scratch.db(),
        &emulator,
        &key_path,
        &monitor.webhook_url,
        &[],
    );
    assert_eq!(registered.0, 0, "{registered:?}");
    let summary = finished(&emulator).await;
    let users = monitor_users(&scratch.db());
    assert_eq!(
        users,
        emulator.users(),
        "the monitor holds what the provider holds"
    );
    let outcomes = emulator.outcomes();
    emulator.stop().await;
    (outcomes, summary, users)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_simulated_user_ends_as_its_outcome_says_and_every_outcome_occurs() {
    let flows = story_flows(14);
    let expected = flows.outcome_counts();
    assert_eq!(
        expected.values().sum::<u32>(),
        24,
        "the shares are dealt to every user: {expected:?}"
    );
    let (outcomes, summary, users) = run_story(flows.clone()).await;

    let mut dealt: BTreeMap<Outcome, u32> = BTreeMap::new();
    for outcome in outcomes.values() {
        *dealt.entry(*outcome).or_default() += 1;
    }
    assert_eq!(dealt, expected, "the shares, dealt exactly");
    for outcome in [
        Outcome::Approved,
        Outcome::Rejected,
        Outcome::Held,
        Outcome::Abandoned,
    ] {
        assert!(
            dealt.get(&outcome).copied().unwrap_or(0) > 0,
            "{outcome:?} occurs: {dealt:?}"
        );
    }
    assert_eq!(
        (summary.planned, summary.users, summary.failed),
        (24, 24, 0),
        "{summary}"
    );
    assert_eq!(
        [
            summary.approved,
            summary.rejected,
            summary.held,
            summary.abandoned
        ],
        [
            Outcome::Approved,
            Outcome::Rejected,
            Outcome::Held,
            Outcome::Abandoned
        ]
        .map(|o| u64::from(expected[&o])),
        "the summary counts each ending: {summary}"
    );

    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        outcomes.keys().collect::<Vec<_>>()
    );
    for (id, outcome) in &outcomes {
        let state = &users[id];
        let seen = (state.status.as_str(), state.decision.as_str());
        match outcome {
            Outcome::Approved => {
                assert_eq!(seen, ("CLOSED", "ACCEPT"), "{id}");
                assert!(
                    state.participant_id.ends_with(&format!("/users/{id}")),
                    "{id}: {state:?}"
                );
                assert!(!state.account.is_empty(), "{id}: {state:?}");
            }
            Outcome::Rejected => {
                assert_eq!(seen, ("CLOSED", "REJECT"), "{id}");
                assert_eq!(
                    (state.participant_id.as_str(), state.account.as_str()),
                    ("", "")
                );
            }
            Outcome::Held => {
                assert_eq!(seen, ("ON_HOLD", "REVIEW"), "{id}");
                assert!(!state.sub_status.is_empty(), "{id}: why it waits");
            }
            Outcome::Abandoned => assert!(
                matches!(seen, ("NOT_STARTED", "") | ("OPEN", "")),
                "{id} stopped early: {state:?}"
            ),
        }
    }

    let (again, _, _) = run_story(story_flows(14)).await;
    assert_eq!(
        again, outcomes,
        "one seed, one story: the same ids and endings"
    );
}

#[test]
fn outcome_shares_over_one_are_refused() {
    let scratch = Scratch::new();
    let output = cli(
        &scratch.db(),
        &[
            "serve",
            "--demo-hold-rate",
            "0.6",
            "--demo-reject-rate",
            "0.5",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at most 1 together"), "{stderr}");
    assert!(!scratch.db().exists(), "nothing started");
}
