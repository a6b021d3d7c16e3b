//! The HTTPS clients trust the system's roots as well as Mozilla's: the real monitor sends alerts
//! (a URL target and a Slack one) and forwards deliveries (`--forward-to`) to a real HTTPS
//! server (Python's http.server behind its ssl module, started here) whose certificate a test
//! authority made here signed (Python's `cryptography`, `tests/signers/test_ca.py`). The monitor
//! trusts that authority through `SSL_CERT_FILE`, as it would a firm's internal CA installed in
//! the system store. Trusting another authority instead, the same targets fail, the failure
//! (over the alerts API and the delivery's forwarding state) says the certificate is not
//! trusted, and the server receives no request: the client refused it during the handshake.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use kyc_monitor::provider::PrivateKey;
use serde_json::{json, Value};
use support::tls::{certificates, Certificates, Reporter};
use support::*;

/// The HTTPS server (`tests/signers/https_sink.py`), reporting each request and each handshake
/// it could not complete.
struct HttpsSink {
    base: String,
    sink: Reporter,
}

impl HttpsSink {
    fn start(certs: &Certificates) -> HttpsSink {
        let (sink, first) = Reporter::start(
            "https_sink.py",
            &[certs.server.as_ref(), certs.key.as_ref()],
        );
        let port = first
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the HTTPS sink said {first:?}"));
        HttpsSink {
            base: format!("https://127.0.0.1:{port}"),
            sink,
        }
    }

    fn all(&self, event: &str) -> Vec<Value> {
        self.sink.all(event)
    }

    /// The requests received at `path`.
    fn requests(&self, path: &str) -> Vec<Value> {
        self.all("request")
            .into_iter()
            .filter(|r| r["path"] == path)
            .collect()
    }

    async fn wait_for(&self, what: &str, ready: impl Fn(&HttpsSink) -> bool) {
        self.sink.wait_until(what, |_| ready(self)).await
    }
}

/// A monitor with the UI on, alerting to the sink's `/alerts` (a URL) and `/slack` (Slack) and
/// forwarding to its `/hooks`, trusting `ssl_cert_file` (which replaces the system's store).
fn start_monitor(db: &Path, sink: &HttpsSink, ssl_cert_file: &Path) -> (Monitor, String, String) {
    let mut command = Command::new(BIN);
    command
        .env("SSL_CERT_FILE", ssl_cert_file)
        .env_remove("SSL_CERT_DIR");
    let alerts = format!("{}/alerts", sink.base);
    let slack = format!("slack:{}/slack", sink.base);
    let hooks = format!("{}/hooks", sink.base);
    let args = [
        "--alert-to",
        &alerts,
        "--alert-to",
        &slack,
        "--forward-to",
        &hooks,
    ];
    let mut monitor = Monitor::start_with(db, true, &args, &mut command);
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn api(base: &str, token: &str, path: &str, body: Option<Value>) -> Value {
    let request = match body {
        Some(body) => client().post(format!("{base}{path}")).json(&body),
        None => client().get(format!("{base}{path}")),
    };
    let answer = send(request.bearer_auth(token)).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json()
}

/// Posts one delivery to the webhook; its id in the inspector and the body sent.
async fn deliver(monitor: &Monitor, base: &str, token: &str) -> (i64, String) {
    let body = flat("tls-user", "ACCEPT", "CLOSED");
    let answer = post(&monitor.webhook_url, body.clone()).await;
    assert_eq!(answer.json(), json!({"received": true}), "{}", answer.body);
    let newest = api(base, token, "/api/deliveries?limit=1", None).await;
    (newest["deliveries"][0]["id"].as_i64().unwrap(), body)
}

/// The delivery's forwarding state at its one destination, once `ready` holds of it.
async fn forward_state(base: &str, token: &str, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("delivery {id}'s forwarding state"), || async {
        let forwarding = api(base, token, &format!("/api/deliveries/{id}/forwards"), None).await;
        match forwarding["destinations"].get(0) {
            Some(state) if ready(state) => Ok(state.clone()),
            _ => Err(forwarding.to_string()),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_and_forwarding_reach_an_https_server_whose_ca_is_in_ssl_cert_file() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1", "localhost"]);
    let sink = HttpsSink::start(&certs);
    let (monitor, base, token) = start_monitor(&scratch.db(), &sink, &certs.ca);

    // A test alert to each target, over TLS to the certificate the test CA signed.
    for (target, path) in [(0, "/alerts"), (1, "/slack")] {
        let answer = api(
            &base,
            &token,
            "/api/alerts/test",
            Some(json!({"target": target})),
        )
        .await;
        assert_eq!(answer["delivered"], true, "{path}: {answer}");
        // The sink records a request after answering it: waited for, not raced.
        sink.wait_for(path, |sink| !sink.requests(path).is_empty())
            .await;
        let received = sink.requests(path);
        assert_eq!(received.len(), 1, "{received:?}");
        let body: Value = serde_json::from_str(received[0]["body"].as_str().unwrap()).unwrap();
        assert!(
            body.to_string().contains("test alert"),
            "{path} received {body}"
        );
    }
    let view = api(&base, &token, "/api/alerts", None).await;
    for target in 0..2 {
        assert_eq!(view["targets"][target]["sent"], 1, "{view}");
    }

    // A delivery forwarded to https://127.0.0.1:PORT/hooks, byte for byte.
    let (id, body) = deliver(&monitor, &base, &token).await;
    let state = forward_state(&base, &token, id, |s| s["state"] != "pending").await;
    assert_eq!(state["state"], "delivered", "{state}");
    assert_eq!(state["lastStatus"], 200, "{state}");
    sink.wait_for("/hooks", |sink| !sink.requests("/hooks").is_empty())
        .await;
    let forwarded = sink.requests("/hooks");
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    assert_eq!(forwarded[0]["body"], body.as_str());
    assert!(sink.all("refused").is_empty(), "{:?}", sink.all("refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trusting_another_ca_the_same_targets_fail_saying_the_certificate_is_not_trusted() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1", "localhost"]);
    let sink = HttpsSink::start(&certs);
    // The monitor trusts only another authority (and Mozilla's roots).
    let (monitor, base, token) = start_monitor(&scratch.db(), &sink, &certs.other_ca);
    let says_untrusted = |error: &str| {
        error.contains("its certificate is not trusted")
            && error.contains("not signed by an authority this machine trusts")
            && error.contains("SSL_CERT_FILE")
            && error.contains("Mozilla")
            && error.contains("nothing was sent")
    };

    for target in [0, 1] {
        let answer = api(
            &base,
            &token,
            "/api/alerts/test",
            Some(json!({"target": target})),
        )
        .await;
        assert_eq!(answer["delivered"], false, "{answer}");
        let error = answer["error"].as_str().unwrap().to_owned();
        assert!(says_untrusted(&error), "{error}");
        // The Slack URL's path is its token: the failure does not repeat it.
        assert!(!error.contains("/slack"), "{error}");
        let view = api(&base, &token, "/api/alerts", None).await;
        let shown = &view["targets"][target];
        assert_eq!(shown["failures"][0]["error"], error.as_str(), "{view}");
        assert_eq!(shown["sent"], 0, "{view}");
        println!("the alert failure shown: {error}");
    }

    // Forwarding: the delivery stays pending, its last attempt's error says why.
    let (id, _) = deliver(&monitor, &base, &token).await;
    let state = forward_state(&base, &token, id, |s| s["lastError"].is_string()).await;
    assert_eq!(state["state"], "pending", "{state}");
    let error = state["lastError"].as_str().unwrap();
    assert!(
        says_untrusted(error) && error.starts_with("the backend: "),
        "{error}"
    );
    assert!(state["lastStatus"].is_null(), "{state}");
    println!("the forwarding failure shown: {error}");

    // The server saw the client give up in the handshake (one for each alert, at least one for
    // the forward) and received no request at all.
    sink.wait_for("three refused handshakes", |sink| {
        sink.all("refused").len() >= 3
    })
    .await;
    assert!(sink.all("request").is_empty(), "{:?}", sink.all("request"));
}

/// `register` against the sink as the provider, trusting `ssl_cert_file`: (exit code, stderr).
fn register(scratch: &Scratch, sink: &HttpsSink, ssl_cert_file: &Path) -> (Option<i32>, String) {
    let key = scratch.dir.path().join("partner.pem");
    std::fs::write(&key, PrivateKey::generate().expose_pem()).unwrap();
    let token_url = format!("{}/oauth/token", sink.base);
    let output = Command::new(BIN)
        .args(["register", "https://kyc.example.com/kyc-webhook/t"])
        .args(["--api-base", &sink.base, "--token-url", &token_url])
        .args(["--client-id", "tls-client", "--private-key"])
        .arg(&key)
        .arg("--db")
        .arg(scratch.db())
        .env("SSL_CERT_FILE", ssl_cert_file)
        .env_remove("SSL_CERT_DIR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run kyc-monitor register");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_provider_client_trusts_the_same_roots_and_says_when_a_certificate_is_not_trusted() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1", "localhost"]);
    let sink = HttpsSink::start(&certs);

    // Trusting another authority: refused in the handshake, nothing sent, the reason said.
    let (code, stderr) = register(&scratch, &sink, &certs.other_ca);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the provider at {}", sink.base))
            && stderr.contains("its certificate is not trusted")
            && stderr.contains("SSL_CERT_FILE"),
        "{stderr}"
    );
    assert!(sink.all("request").is_empty(), "{:?}", sink.all("request"));
    println!("register said: {stderr}");

    sink.wait_for("the refused handshake", |sink| {
        !sink.all("refused").is_empty()
    })
    .await;

    // Trusting the test authority: the token request reaches the server over TLS (which is no
    // provider: its empty answer then fails the registration, for another reason).
    let (code, stderr) = register(&scratch, &sink, &certs.ca);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("not trusted"), "{stderr}");
    sink.wait_for("/oauth/token", |sink| {
        !sink.requests("/oauth/token").is_empty()
    })
    .await;
    let token = sink.requests("/oauth/token");
    assert_eq!(token.len(), 1, "{:?}", sink.all("request"));
    assert!(
        token[0]["body"]
            .as_str()
            .unwrap()
            .contains("client_assertion"),
        "{token:?}"
    );
}
