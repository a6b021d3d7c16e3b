//! Alerts that reach people: the real monitor sends to a real SMTP server (Python's aiosmtpd,
//! started here) and to real HTTP receivers (Slack-shaped JSON, and a signed URL target checked
//! with the standardwebhooks library); the rules are driven with short windows; no secret is in
//! any alert, the logs or the database.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const SLACK_TOKEN: &str = "T0ALERTS/B0ALERTS/slacktokenNOTSHOWN";
const SMTP_PASSWORD: &str = "smtp-password-NOT-SHOWN";
const FORWARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SIGNING_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: std::collections::BTreeMap<String, String>,
    body: String,
    at: Instant,
}

/// A real HTTP server on a free port that keeps what it receives and answers with the status
/// `answer` gives for the request's index.
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Receiver {
        use axum::http::{HeaderMap, StatusCode};
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer = Arc::new(answer);
        let kept = seen.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (kept, answer) = (kept.clone(), answer.clone());
            async move {
                let mut seen = kept.lock().unwrap();
                let status = answer(seen.len());
                seen.push(Received {
                    headers: headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                        .collect(),
                    body,
                    at: Instant::now(),
                });
                StatusCode::from_u16(status).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, seen }
    }

    fn all(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `count` requests have come, and returns them.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} alert(s) at {}", self.base), || async {
            let all = self.all();
            if all.len() >= count {
                Ok(all)
            } else {
                Err(format!("{all:?}"))
            }
        })
        .await
    }
}

/// Python's aiosmtpd on a free port, taking `alerts` and [`SMTP_PASSWORD`].
struct SmtpSink {
    port: u16,
    child: Child,
    mail: Arc<Mutex<Vec<Value>>>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let python = std::env::var("KYC_MONITOR_TEST_PYTHON")
            .expect("KYC_MONITOR_TEST_PYTHON: run ./scripts/test, which installs aiosmtpd");
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/signers/smtp_sink.py");
        let mut child = Command::new(python)
            .args([script, &port.to_string(), "alerts", SMTP_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a line").expect("read");
        assert_eq!(first, "ready", "the SMTP sink did not start");
        let mail: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = mail.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        SmtpSink { port, child, mail }
    }

    async fn wait_for(&self, count: usize) -> Vec<Value> {
        eventually(&format!("{count} alert email(s)"), || async {
            let mail = self.mail.lock().unwrap().clone();
            if mail.len() >= count {
                Ok(mail)
            } else {
                Err(format!("{mail:?}"))
            }
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A monitor with the UI on, stderr kept, the SMTP password in its environment.
fn start_monitor(db: &std::path::Path, extra: &[&str]) -> (Monitor, String, String) {
    let mut command = Command::new(BIN);
    command
        .env("KYC_MONITOR_SMTP_PASSWORD", SMTP_PASSWORD)
        .stderr(Stdio::piped());
    let mut monitor = Monitor::start_with(db, true, extra, &mut command);
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn alerts_view(base: &str, token: &str) -> Value {
    let answer = send(
        client()
            .get(format!("{base}/api/alerts"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [
        SLACK_TOKEN,
        "slacktokenNOTSHOWN",
        SMTP_PASSWORD,
        FORWARD_SECRET,
        SIGNING_SECRET,
    ] {
        assert!(!text.contains(secret), "{what} holds a secret: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silence_alerts_once_by_slack_and_email_and_a_delivery_resolves_it_once() {
    let scratch = Scratch::new();
    let slack = Receiver::start(|_| 200).await;
    let smtp = SmtpSink::start();
    let slack_url = format!("slack:{}/services/{SLACK_TOKEN}", slack.base);
    let smtp_url = format!("smtp://alerts@127.0.0.1:{}", smtp.port);
    let (monitor, base, token) = start_monitor(
        &scratch.db(),
        &[
            "--alert-to",
            &slack_url,
            "--alert-to",
            "mailto:oncall@example.com",
            "--smtp-url",
            &smtp_url,
            "--alert-from",
            "KYC Monitor <monitor@example.com>",
            "--alert-silence",
            "2s",
            "--alert-settle",
            "300ms",
        ],
    );

    let started = slack.wait_for(1).await;
    let text = serde_json::from_str::<Value>(&started[0].body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("KYC Monitor alert: No delivery for 2s or more")
            && text.contains(&format!("Open: {base}/#/deliveries")),
        "{text}"
    );
    println!("the Slack message received:\n{}", started[0].body);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0]["rcpt_tos"], json!(["oncall@example.com"]));
    assert_eq!(mail[0]["mail_from"], "monitor@example.com");
    assert_eq!(
        mail[0]["auth_user"], "alerts",
        "signed in with the password"
    );
    let (headers, body) = mail_parts(mail[0]["data"].as_str().unwrap());
    assert!(
        headers["subject"].starts_with("[KYC Monitor] Alert: No delivery for 2s"),
        "{headers:?}"
    );
    assert_eq!(headers["to"], "oncall@example.com");
    assert!(
        headers["from"].contains("monitor@example.com"),
        "{headers:?}"
    );
    assert!(
        body.contains(&format!("Open: {base}/#/deliveries")),
        "{body}"
    );
    let view = alerts_view(&base, &token).await;
    assert_eq!(view["active"][0]["rule"], "silence", "{view}");

    // A delivery ends the silence: one resolve on each target.
    assert_eq!(
        post(&monitor.webhook_url, flat("u1", "", "OPEN"))
            .await
            .status,
        200
    );
    let both = slack.wait_for(2).await;
    let resolved = serde_json::from_str::<Value>(&both[1].body).unwrap();
    assert!(
        resolved["text"]
            .as_str()
            .unwrap()
            .starts_with("KYC Monitor resolved: No delivery"),
        "{resolved}"
    );
    let mails = smtp.wait_for(2).await;
    let (headers, _) = mail_parts(mails[1]["data"].as_str().unwrap());
    assert!(
        headers["subject"].starts_with("[KYC Monitor] Resolved:"),
        "{headers:?}"
    );
    // Once each: the second message is the resolve, not the start again.
    assert!(both[0].body.contains("alert: No delivery"));

    let view = alerts_view(&base, &token).await;
    assert_no_secret("the alerts view", &view.to_string());
    assert!(view["targets"][0]["shown"]
        .as_str()
        .unwrap()
        .ends_with("/***"));
    for message in slack.all() {
        assert_no_secret("a Slack alert", &message.body);
    }
    for message in smtp.mail.lock().unwrap().iter() {
        assert_no_secret("an alert email", &message["data"].to_string());
    }
    let db = monitor.db.clone();
    let log = monitor.killed_log();
    assert_no_secret("the log", &log);
    for secret in [SLACK_TOKEN, SMTP_PASSWORD] {
        assert!(!database_files_contain(&db, secret.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_url_target_gets_a_test_alert_the_standardwebhooks_library_verifies() {
    let scratch = Scratch::new();
    let hook = Receiver::start(|_| 204).await;
    let url = format!("{}/alerts?token=hooktoken", hook.base);
    let (monitor, base, token) = start_monitor(
        &scratch.db(),
        &[
            "--alert-to",
            &url,
            "--forward-signing-secret",
            FORWARD_SECRET,
        ],
    );
    let answer = send(
        client()
            .post(format!("{base}/api/alerts/test"))
            .bearer_auth(&token)
            .json(&json!({"target": 0})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["delivered"], true, "{}", answer.body);
    assert_eq!(answer.json()["target"]["sent"], 1);
    assert!(!answer.body.contains("hooktoken"), "{}", answer.body);
    let received = hook.wait_for(1).await;
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["type"], "alert.test");
    assert_eq!(body["link"], format!("{base}/#/settings"));
    let verified = independent_python(
        "verify.py",
        json!({
            "secret": FORWARD_SECRET,
            "deliveries": [{"headers": received[0].headers, "body": received[0].body}],
        }),
    );
    assert_eq!(verified["verified"], json!([true]), "{verified}");

    let unknown = send(
        client()
            .post(format!("{base}/api/alerts/test"))
            .bearer_auth(&token)
            .json(&json!({"target": 7})),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.json()["code"], "notFound", "{}", unknown.body);
    assert_no_secret("the log", &monitor.killed_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_refused_signatures_alert_and_the_burst_passing_resolves() {
    let scratch = Scratch::new();
    let slack = Receiver::start(|_| 200).await;
    let slack_url = format!("slack:{}/services/{SLACK_TOKEN}", slack.base);
    let (monitor, _base, _token) = start_monitor(
        &scratch.db(),
        &[
            "--signing-secret",
            SIGNING_SECRET,
            "--alert-to",
            &slack_url,
            "--alert-refused-window",
            "3s",
            "--alert-settle",
            "200ms",
        ],
    );
    for n in 0..9 {
        let answer = post(
            &monitor.webhook_url,
            flat(&format!("forged{n}"), "", "OPEN"),
        )
        .await;
        assert_eq!(answer.status, 401);
    }
    // Nine are not a burst; the tenth is.
    let answer = post(&monitor.webhook_url, flat("forged9", "", "OPEN")).await;
    assert_eq!(answer.status, 401);
    let started = slack.wait_for(1).await;
    assert!(
        started[0]
            .body
            .contains("10 deliveries refused for their signature within 3s"),
        "{}",
        started[0].body
    );
    // Once the window has passed them by, it resolves.
    let both = slack.wait_for(2).await;
    assert!(
        both[1].body.contains("KYC Monitor resolved: "),
        "{}",
        both[1].body
    );
    assert_eq!(slack.all().len(), 2, "once each");
    assert_no_secret("the log", &monitor.killed_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_refusing_commits_alerts_and_resolves_once_it_commits_again() {
    let scratch = Scratch::new();
    let slack = Receiver::start(|_| 200).await;
    let slack_url = format!("slack:{}/services/{SLACK_TOKEN}", slack.base);
    let (monitor, base, _token) = start_monitor(
        &scratch.db(),
        &["--alert-to", &slack_url, "--alert-settle", "200ms"],
    );
    // Another program holds the write lock: deliveries are answered 503.
    let blocker = rusqlite::Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert_eq!(
        post(&monitor.webhook_url, flat("during", "", "OPEN"))
            .await
            .status,
        503
    );
    let started = slack.wait_for(1).await;
    let text = serde_json::from_str::<Value>(&started[0].body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("KYC Monitor alert: The database refuses commits")
            && text.contains("write lock")
            && text.ends_with(&format!("Open: {base}/#/")),
        "{text}"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert_eq!(
        post(&monitor.webhook_url, flat("during", "", "OPEN"))
            .await
            .status,
        200
    );
    let both = slack.wait_for(2).await;
    assert!(
        both[1]
            .body
            .contains("KYC Monitor resolved: The database refuses commits"),
        "{}",
        both[1].body
    );
    drop(monitor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_target_is_retried_with_backoff_and_its_failures_show_in_the_api() {
    let scratch = Scratch::new();
    // The first two attempts fail; the third is taken.
    let slack = Receiver::start(|n| if n < 2 { 500 } else { 200 }).await;
    let slack_url = format!("slack:{}/services/{SLACK_TOKEN}", slack.base);
    // Forwarding to a port nobody listens on fails from the first attempt.
    let dead = format!("http://127.0.0.1:{}/kyc", free_port());
    let (monitor, base, token) = start_monitor(
        &scratch.db(),
        &[
            "--alert-to",
            &slack_url,
            "--forward-to",
            &dead,
            "--alert-forward-failing-for",
            "1s",
            "--alert-settle",
            "200ms",
        ],
    );
    assert_eq!(
        post(&monitor.webhook_url, flat("u1", "", "OPEN"))
            .await
            .status,
        200
    );
    let attempts = slack.wait_for(3).await;
    for attempt in &attempts {
        assert!(
            attempt
                .body
                .contains("KYC Monitor alert: Forwarding to http://127.0.0.1:"),
            "{}",
            attempt.body
        );
    }
    // Backoff: the first retry waits at least half a second (1 s, jittered), the next more.
    let first_wait = attempts[1].at - attempts[0].at;
    let second_wait = attempts[2].at - attempts[1].at;
    assert!(first_wait >= Duration::from_millis(500), "{first_wait:?}");
    assert!(second_wait >= Duration::from_secs(1), "{second_wait:?}");
    let view = eventually("the target's record", || async {
        let view = alerts_view(&base, &token).await;
        if view["targets"][0]["sent"] == 1 {
            Ok(view)
        } else {
            Err(view.to_string())
        }
    })
    .await;
    let target = &view["targets"][0];
    assert_eq!(target["failedAttempts"], 2, "{view}");
    assert_eq!(
        target["failures"][0]["error"],
        "the target answered HTTP 500"
    );
    assert_eq!(view["active"][0]["rule"], "forwarding-failing", "{view}");
    assert_no_secret("the alerts view", &view.to_string());
    assert_no_secret("the log", &monitor.killed_log());
}

#[test]
fn unusable_targets_are_refused_at_start_without_their_secrets() {
    let scratch = Scratch::new();
    let refused = |args: &[&str]| {
        let output = serve_command(&scratch.db()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let plain = refused(&[
        "--alert-to",
        &format!("slack:http://hooks.example.com/services/{SLACK_TOKEN}"),
    ]);
    assert!(
        plain.contains("loopback") && !plain.contains("slacktoken"),
        "{plain}"
    );
    let no_smtp = refused(&["--alert-to", "mailto:oncall@example.com"]);
    assert!(no_smtp.contains("--smtp-url"), "{no_smtp}");
    let inline = refused(&[
        "--alert-to",
        "mailto:oncall@example.com",
        "--smtp-url",
        &format!("smtp://alerts:{SMTP_PASSWORD}@mail.example.com"),
    ]);
    assert!(
        inline.contains("KYC_MONITOR_SMTP_PASSWORD") && !inline.contains(SMTP_PASSWORD),
        "{inline}"
    );

    // `config` shows the Slack URL masked.
    let output = Command::new(BIN)
        .args(["config", "--db"])
        .arg(scratch.db())
        .args([
            "--alert-to",
            &format!("slack:https://hooks.slack.com/services/{SLACK_TOKEN}"),
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("\n# alert-to = [\"slack:https://hooks.slack.com/***\"]"),
        "{shown}"
    );
    assert_no_secret("config", &shown);
    let _ = std::io::stdout().flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_case_past_the_sla_alerts_once_and_its_decision_resolves_it() {
    let scratch = Scratch::new();
    let slack = Receiver::start(|_| 200).await;
    let slack_url = format!("slack:{}/services/{SLACK_TOKEN}", slack.base);
    let (monitor, base, token) = start_monitor(
        &scratch.db(),
        &[
            "--review-sla",
            "1s",
            "--alert-to",
            &slack_url,
            "--alert-settle",
            "200ms",
        ],
    );
    let answer = post(&monitor.webhook_url, flat("sla_1", "REVIEW", "ON_HOLD")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The case passes its SLA: one alert, linked to the review queue, counted in the overview.
    let started = slack.wait_for(1).await;
    assert!(
        started[0]
            .body
            .contains("1 review case is over the review SLA of"),
        "{}",
        started[0].body
    );
    assert!(started[0].body.contains("/#/review"), "{}", started[0].body);
    let overview = send(
        client()
            .get(format!("{base}/api/overview"))
            .bearer_auth(&token),
    )
    .await;
    let attention = &overview.json()["attention"];
    assert_eq!(attention["overSla"], 1, "{attention}");
    assert!(
        attention["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|active| active["rule"] == "review-sla"),
        "{attention}"
    );
    // The decision takes the case out of the queue: resolved, once.
    let answer = post(&monitor.webhook_url, flat("sla_1", "ACCEPT", "CLOSED")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let both = slack.wait_for(2).await;
    assert!(
        both[1].body.contains("KYC Monitor resolved: "),
        "{}",
        both[1].body
    );
    assert_eq!(slack.all().len(), 2, "once each");
    assert_no_secret("the log", &monitor.killed_log());
}
