//! `serve --metrics-listen`: the real binary on port 0, real deliveries over HTTP, and `/metrics`
//! read by Prometheus's own Python parser (prometheus_client, installed by ./scripts/test), not
//! by our code; `/healthz` and `/readyz` as the contract's "Service operation" says.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use support::*;

/// The address `serve` printed on its `metrics:` start-up line (the UI is off, so it is next).
fn metrics_url(monitor: &mut Monitor) -> String {
    let line = monitor.next_line();
    line.strip_prefix("metrics: ")
        .unwrap_or_else(|| panic!("serve printed {line:?} instead of a metrics: line"))
        .to_owned()
}

/// `/healthz` or `/readyz` beside the `/metrics` URL.
fn beside(metrics: &str, path: &str) -> String {
    metrics.replace("/metrics", path)
}

async fn scrape(metrics: &str) -> String {
    let answer = send(client().get(metrics)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        answer.headers
    );
    answer.body
}

/// Expositions as Prometheus's parser reads them.
fn parsed(expositions: &[String]) -> Vec<Families> {
    let python = std::env::var("KYC_MONITOR_TEST_PYTHON").expect(
        "KYC_MONITOR_TEST_PYTHON is not set: run ./scripts/test, which installs prometheus_client",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus/parse.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let request = json!({ "expositions": expositions }).to_string();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), request.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client could not parse /metrics: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        expositions.join("\n---\n")
    );
    let all: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    all.into_iter().map(Families).collect()
}

async fn scraped(metrics: &str) -> Families {
    parsed(&[scrape(metrics).await]).remove(0)
}

/// One parsed exposition.
struct Families(Value);

impl Families {
    fn kind(&self, family: &str) -> &str {
        self.0[family]["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no family {family} in {}", self.0))
    }

    /// The samples named `sample` whose labels include `labels`.
    fn samples(&self, sample: &str, labels: &[(&str, &str)]) -> Vec<(Value, f64)> {
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.strip_suffix(suffix))
            .filter(|name| self.0.get(name).is_some())
            .unwrap_or(sample);
        self.0[family]["samples"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][k] == *v))
            .map(|s| (s[1].clone(), s[2].as_f64().unwrap()))
            .collect()
    }

    /// The one sample named `sample` with `labels`.
    fn value(&self, sample: &str, labels: &[(&str, &str)]) -> f64 {
        match self.samples(sample, labels).as_slice() {
            [(_, value)] => *value,
            found => panic!("{sample}{labels:?}: {found:?} in {}", self.0),
        }
    }

    fn delivered(&self, outcome: &str) -> f64 {
        self.value("kyc_monitor_deliveries_total", &[("outcome", outcome)])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_move_with_deliveries_lag_forwarding_and_the_review_queue() {
    let scratch = Scratch::new();
    // A backend that is down: what is forwarded to it stays pending.
    let down = format!("http://127.0.0.1:{}/kyc", free_port());
    let mut monitor = Monitor::start(
        &scratch.db(),
        &["--metrics-listen", "127.0.0.1:0", "--forward-to", &down],
    );
    let metrics = metrics_url(&mut monitor);

    let before = scraped(&metrics).await;
    for (family, kind) in [
        ("kyc_monitor_deliveries", "counter"),
        ("kyc_monitor_ack_seconds", "histogram"),
        ("kyc_monitor_projection_lag", "gauge"),
        ("kyc_monitor_review_oldest_seconds", "gauge"),
        ("kyc_monitor_forward_pending", "gauge"),
    ] {
        assert_eq!(before.kind(family), kind, "{family}");
    }
    for outcome in ["accepted", "duplicate", "ping", "rejected", "not_stored"] {
        assert_eq!(before.delivered(outcome), 0.0, "{outcome}");
    }
    assert_eq!(before.value("kyc_monitor_ack_seconds_count", &[]), 0.0);
    assert_eq!(before.value("kyc_monitor_review_oldest_seconds", &[]), 0.0);
    assert_eq!(before.value("kyc_monitor_review_queue_users", &[]), 0.0);
    assert_eq!(before.value("kyc_monitor_forward_pending", &[]), 0.0);

    let url = monitor.webhook_url.clone();
    assert_eq!(
        post(&url, flat("held", "REVIEW", "ON_HOLD")).await.status,
        200
    );
    assert_eq!(post(&url, flat("open_1", "", "OPEN")).await.status, 200);
    let again = post(&url, flat("open_1", "", "OPEN")).await;
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(post(&url, "not json").await.status, 400);
    assert_eq!(send(client().get(&url)).await.status, 200);

    let after = scraped(&metrics).await;
    for (outcome, count) in [
        ("accepted", 2.0),
        ("duplicate", 1.0),
        ("rejected", 1.0),
        ("ping", 1.0),
        ("not_stored", 0.0),
    ] {
        assert_eq!(after.delivered(outcome), count, "{outcome}");
    }
    // The histogram counts every answer; its buckets only grow, up to +Inf, which is the count.
    let count = after.value("kyc_monitor_ack_seconds_count", &[]);
    assert_eq!(count, 5.0);
    assert!(after.value("kyc_monitor_ack_seconds_sum", &[]) > 0.0);
    let buckets: Vec<f64> = after
        .samples("kyc_monitor_ack_seconds_bucket", &[])
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(
        after.value("kyc_monitor_ack_seconds_bucket", &[("le", "+Inf")]),
        count
    );
    assert_eq!(
        after.value("kyc_monitor_users", &[("status", "ON_HOLD")]),
        1.0
    );
    assert_eq!(after.value("kyc_monitor_users", &[("status", "OPEN")]), 1.0);
    assert_eq!(after.value("kyc_monitor_review_queue_users", &[]), 1.0);
    // Only accepted deliveries are forwarded; the backend is down, so both wait.
    let pending = after.samples("kyc_monitor_forward_pending", &[]);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].0["destination"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{pending:?}"
    );
    assert_eq!(pending[0].1, 2.0);
    eventually("the review queue's oldest wait to grow", || async {
        let waited = scraped(&metrics)
            .await
            .value("kyc_monitor_review_oldest_seconds", &[]);
        (waited > 0.0).then_some(()).ok_or(format!("{waited}"))
    })
    .await;

    // Lag: scraped while bursts of deliveries are acknowledged faster than they are projected.
    let mut sent = 0;
    eventually("the projection lag to show during a burst", || {
        let (url, metrics) = (url.clone(), metrics.clone());
        sent += 1;
        let burst = sent;
        async move {
            let posts = futures_util::future::join_all((0..300).map(|n| {
                let url = url.clone();
                async move { post(&url, flat(&format!("burst_{burst}_{n}"), "", "OPEN")).await }
            }));
            let scrapes = async {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    seen.push(scrape(&metrics).await);
                }
                seen
            };
            let (answers, seen) = tokio::join!(posts, scrapes);
            assert!(answers.iter().all(|a| a.status == 200));
            let lags: Vec<f64> = parsed(&seen)
                .iter()
                .map(|f| f.value("kyc_monitor_projection_lag", &[]))
                .collect();
            lags.iter()
                .any(|lag| *lag > 0.0)
                .then_some(())
                .ok_or(format!("{lags:?}"))
        }
    })
    .await;
    eventually("the projection to catch up", || async {
        let now = scraped(&metrics).await;
        let lag = now.value("kyc_monitor_projection_lag", &[]);
        let open = now.value("kyc_monitor_users", &[("status", "OPEN")]);
        (lag == 0.0 && open == 1.0 + 300.0 * sent as f64)
            .then_some(())
            .ok_or(format!("lag {lag}, OPEN {open}"))
    })
    .await;
    let last = scraped(&metrics).await;
    assert_eq!(last.delivered("accepted"), 2.0 + 300.0 * sent as f64);
    assert_eq!(
        last.value("kyc_monitor_forward_pending", &[]),
        2.0 + 300.0 * sent as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_is_503_with_the_reason_while_the_store_refuses_commits() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start(&scratch.db(), &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_url(&mut monitor);
    let get = |path: &str| send(client().get(beside(&metrics, path)));
    assert_eq!(get("/healthz").await.status, 200);
    assert_eq!(get("/readyz").await.status, 200);
    assert_eq!(get("/elsewhere").await.status, 404);

    // Another program (the sqlite3 shell, say) holds the write lock: nothing commits.
    let blocker = rusqlite::Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let refused = post(&monitor.webhook_url, flat("during", "", "OPEN")).await;
    assert_eq!(refused.status, 503);
    let ready = get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.contains("does not commit") && ready.body.contains("write lock"),
        "{}",
        ready.body
    );
    assert_eq!(get("/healthz").await.status, 200, "the process still runs");
    let during = scraped(&metrics).await;
    assert_eq!(during.delivered("not_stored"), 1.0);
    assert_eq!(during.value("kyc_monitor_ready", &[]), 0.0);

    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let retried = post(&monitor.webhook_url, flat("during", "", "OPEN")).await;
    assert_eq!(retried.status, 200);
    assert_eq!(get("/readyz").await.status, 200);
    assert_eq!(scraped(&metrics).await.value("kyc_monitor_ready", &[]), 1.0);
}

#[test]
fn metrics_on_the_network_without_sign_in_is_a_usage_error() {
    let scratch = Scratch::new();
    let output = cli(
        &scratch.db(),
        &["config", "--metrics-listen", "0.0.0.0:9187"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--metrics-listen 0.0.0.0:9187") && stderr.contains("loopback"),
        "{stderr}"
    );
    let loopback = cli(
        &scratch.db(),
        &["config", "--metrics-listen", "127.0.0.1:9187"],
    );
    assert!(loopback.status.success());
    assert!(
        stdout(&loopback).contains("metrics-listen = \"127.0.0.1:9187\""),
        "{}",
        stdout(&loopback)
    );
}
