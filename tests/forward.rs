//! Forwarding to the user's own backend (`serve --forward-to`) and retention
//! (`--keep-deliveries`): a real HTTP backend in this process that fails, times out and
//! recovers; the real binary, killed with -9 in the middle; signatures checked by the
//! `standardwebhooks` Python package, not by our code.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use kyc_monitor::signature::SharedSecret;
use serde_json::{json, Value};
use support::*;

/// One request the backend received, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Bytes,
    answered: u16,
}

/// How the backend answers: the first `fail` requests with 503 (Retry-After: 1), then `hang`
/// requests never (past the forwarder's timeout), then as `answer` says for the body.
struct Script {
    fail: usize,
    hang: usize,
    answer: fn(&[u8]) -> StatusCode,
    delay: Duration,
}

#[derive(Clone)]
struct Backend {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Backend {
    async fn start(script: Script) -> Backend {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let log = received.clone();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let (log, script) = (log.clone(), script.clone());
            async move {
                let (status, hang, delay) = {
                    let mut script = script.lock().unwrap();
                    if script.fail > 0 {
                        script.fail -= 1;
                        (StatusCode::SERVICE_UNAVAILABLE, false, script.delay)
                    } else if script.hang > 0 {
                        script.hang -= 1;
                        (StatusCode::OK, true, script.delay)
                    } else {
                        ((script.answer)(&body), false, script.delay)
                    }
                };
                if hang {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                }
                tokio::time::sleep(delay).await;
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                log.lock().unwrap().push(Received {
                    headers,
                    body,
                    answered: if hang { 0 } else { status.as_u16() },
                });
                (status, [("retry-after", "1")], "").into_response()
            }
        };
        let router = axum::Router::new().route("/hooks", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Backend { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The deliveries answered 2xx, by webhook-id, in the order they were first taken.
    fn delivered(&self) -> Vec<Received> {
        let mut seen = BTreeSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.answered / 100 == 2)
            .filter(|r| seen.insert(r.headers.get("webhook-id").cloned().unwrap_or_default()))
            .collect()
    }

    /// Waits until `count` distinct deliveries were taken.
    async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let delivered = self.delivered();
            if delivered.len() >= count {
                return delivered;
            }
            assert!(
                start.elapsed() < limit,
                "the backend took {} of {count} deliveries in {limit:?}: {:?}",
                delivered.len(),
                self.received()
                    .iter()
                    .map(|r| r.answered)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn always_ok(_: &[u8]) -> StatusCode {
    StatusCode::OK
}

fn forward_states(db: &std::path::Path) -> Vec<(i64, String, i64, Option<i64>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT delivery_id, state, attempts, last_status FROM forwards ORDER BY delivery_id",
        )
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepted_deliveries_reach_the_backend_in_order_through_failures_and_a_timeout() {
    let backend = Backend::start(Script {
        fail: 3,
        hang: 1,
        answer: always_ok,
        delay: Duration::ZERO,
    })
    .await;
    let secret = SharedSecret::generate().expose();
    let scratch = Scratch::new();
    let monitor = Monitor::start(
        &scratch.db(),
        &[
            "--forward-to",
            &backend.url,
            "--forward-signing-secret",
            &secret,
        ],
    );
    let client = client();
    let mut posted: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for status in ["NOT_STARTED", "OPEN", "CLOSED"] {
        for user in ["ann", "bob", "cid"] {
            let body = flat(user, if status == "CLOSED" { "ACCEPT" } else { "" }, status);
            let content_type = if user == "bob" {
                "application/json; charset=utf-8"
            } else {
                "application/json"
            };
            let answer = send(
                client
                    .post(&monitor.webhook_url)
                    .header("content-type", content_type)
                    .body(body.clone()),
            )
            .await;
            assert_eq!(answer.json(), json!({"received": true}));
            posted
                .entry(user.into())
                .or_default()
                .push((body, content_type.into()));
        }
    }
    // Neither a duplicate, a ping nor a refused delivery is forwarded.
    let duplicate = flat("ann", "ACCEPT", "CLOSED");
    assert_eq!(
        post(&monitor.webhook_url, duplicate).await.json()["duplicate"],
        true
    );
    assert_eq!(post(&monitor.webhook_url, "").await.json()["ping"], true);
    assert_eq!(post(&monitor.webhook_url, "[1]").await.status, 400);

    let delivered = backend.wait_for(9, Duration::from_secs(90)).await;
    // Once the projector has passed the last three deliveries, the outbox holds what will
    // ever go out: the 9 accepted ones, all delivered.
    let reader = kyc_monitor::store::Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap();
    assert_eq!(reader.settle(Duration::from_secs(30)).unwrap(), 0);
    let outbox = forward_states(&scratch.db());
    assert_eq!(
        outbox.len(),
        9,
        "nothing but the 9 accepted deliveries: {outbox:?}"
    );
    assert!(
        outbox.iter().all(|(_, state, _, _)| state == "delivered"),
        "{outbox:?}"
    );
    assert_eq!(backend.delivered().len(), 9);
    // Each user's deliveries arrived in the order they were accepted, byte for byte, with
    // their content type.
    for (user, expected) in &posted {
        let got: Vec<(String, String)> = delivered
            .iter()
            .filter(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["externalId"] == *user)
            .map(|r| {
                (
                    String::from_utf8(r.body.to_vec()).unwrap(),
                    r.headers["content-type"].clone(),
                )
            })
            .collect();
        assert_eq!(&got, expected, "{user}");
    }
    let received = backend.received();
    assert!(received.iter().filter(|r| r.answered == 503).count() == 3);
    // A retry carries the same webhook-id as the attempt it repeats.
    let retried: BTreeSet<&String> = received
        .iter()
        .filter(|r| r.answered != 200)
        .map(|r| &r.headers["webhook-id"])
        .collect();
    let ids: BTreeSet<&String> = delivered.iter().map(|r| &r.headers["webhook-id"]).collect();
    assert!(retried.is_subset(&ids), "{retried:?} {ids:?}");

    // Every attempt is signed so that the standardwebhooks library verifies it.
    let verified = independent_python(
        "verify.py",
        json!({
            "secret": secret,
            "deliveries": received.iter().map(|r| json!({
                "headers": r.headers, "body": String::from_utf8(r.body.to_vec()).unwrap(),
            })).collect::<Vec<_>>(),
        }),
    );
    assert!(
        verified["verified"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == true),
        "{verified}"
    );
    // The outbox says what happened to each.
    drop(monitor);
    let states = forward_states(&scratch.db());
    assert_eq!(states.len(), 9);
    assert!(states
        .iter()
        .all(|(_, state, _, status)| state == "delivered" && *status == Some(200)));
    assert_eq!(states.iter().map(|s| s.2).sum::<i64>(), 9 + 3 + 1);
}

fn refuse_on_hold(body: &[u8]) -> StatusCode {
    if String::from_utf8_lossy(body).contains("ON_HOLD") {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_the_backend_refuses_fails_alone_and_the_users_later_ones_go_on() {
    let backend = Backend::start(Script {
        fail: 0,
        hang: 0,
        answer: refuse_on_hold,
        delay: Duration::ZERO,
    })
    .await;
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--forward-to", &backend.url]);
    for status in ["OPEN", "ON_HOLD", "CLOSED"] {
        assert_eq!(
            post(&monitor.webhook_url, flat("dee", "", status))
                .await
                .status,
            200
        );
    }
    let delivered = backend.wait_for(2, Duration::from_secs(30)).await;
    let statuses: Vec<Value> = delivered
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("OPEN"), json!("CLOSED")]);
    // Unsigned without a forwarding secret.
    assert!(delivered
        .iter()
        .all(|r| !r.headers.contains_key("webhook-signature")));
    drop(monitor);
    let states: Vec<(String, Option<i64>)> = forward_states(&scratch.db())
        .into_iter()
        .map(|(_, state, _, status)| (state, status))
        .collect();
    assert_eq!(
        states,
        [
            ("delivered".into(), Some(200)),
            ("failed".into(), Some(422)),
            ("delivered".into(), Some(200))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_forwarding_loses_nothing_and_repeats_at_most_what_was_in_flight() {
    let backend = Backend::start(Script {
        fail: 0,
        hang: 0,
        answer: always_ok,
        delay: Duration::from_millis(150),
    })
    .await;
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--forward-to", &backend.url]);
    for n in 0..60 {
        let answer = post(&monitor.webhook_url, flat(&format!("user_{n}"), "", "OPEN")).await;
        assert_eq!(answer.status, 200);
    }
    backend.wait_for(8, Duration::from_secs(30)).await;
    monitor.kill_hard();
    let before_restart = backend.delivered().len();
    assert!(
        before_restart < 60,
        "all forwarded before the kill: the test proves nothing"
    );

    let _restarted = Monitor::start(&scratch.db(), &["--forward-to", &backend.url]);
    let delivered = backend.wait_for(60, Duration::from_secs(60)).await;
    let users: BTreeSet<String> = delivered
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["externalId"].to_string())
        .collect();
    assert_eq!(
        users.len(),
        60,
        "every accepted delivery reached the backend"
    );
    let taken = backend
        .received()
        .iter()
        .filter(|r| r.answered == 200)
        .count();
    // Only attempts started and not yet confirmed when the monitor died may go twice: at most
    // as many as it keeps going at once to one destination.
    let in_flight = kyc_monitor::forward::IN_FLIGHT;
    assert!(
        taken - 60 <= in_flight,
        "{} deliveries were sent twice: only the unconfirmed ones (at most {in_flight} in flight) may be",
        taken - 60
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_removes_old_raw_deliveries_and_keeps_users_and_timelines() {
    let scratch = Scratch::new();
    // 0.0001 days: 8.64 s. Retention looks every tenth of that.
    let monitor = Monitor::start(&scratch.db(), &["--keep-deliveries", "0.0001"]);
    for status in ["NOT_STARTED", "OPEN", "CLOSED"] {
        let body = flat(
            "old",
            if status == "CLOSED" { "ACCEPT" } else { "" },
            status,
        );
        assert_eq!(post(&monitor.webhook_url, body).await.status, 200);
    }
    assert_eq!(post(&monitor.webhook_url, "not json").await.status, 400);
    let before = lookup(&scratch.db(), "old").unwrap();
    // The four old ones lose their bodies once 8.64 s old.
    eventually("the old deliveries trimmed", || async {
        let deliveries = export_jsonl(&scratch.db(), "deliveries");
        match deliveries.iter().all(|d| d["body"].is_null()) {
            true => Ok(()),
            false => Err(format!("{} deliveries", deliveries.len())),
        }
    })
    .await;
    // Young deliveries keep everything; acknowledgements go on meanwhile.
    assert_eq!(
        post(&monitor.webhook_url, flat("young", "", "OPEN"))
            .await
            .status,
        200
    );
    drop(monitor);

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let (old, young): (Vec<&Value>, Vec<&Value>) = deliveries
        .iter()
        .partition(|d| !d["body"].as_str().unwrap_or_default().contains("young"));
    assert_eq!(
        old.len(),
        4,
        "the rows stay, as a record that something arrived"
    );
    assert!(
        old.iter()
            .all(|d| d["body"].is_null() && d.get("bodyBase64").is_none_or(Value::is_null)),
        "{old:?}"
    );
    assert_eq!(young.len(), 1);
    assert!(young[0]["body"].as_str().unwrap().contains("young"));
    // The user and the timeline are as they were, and a rebuild gives them back the same.
    assert_eq!(lookup(&scratch.db(), "old").unwrap(), before);
    let users = export_jsonl(&scratch.db(), "users");
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(export_jsonl(&scratch.db(), "users"), users);
    assert_eq!(lookup(&scratch.db(), "old").unwrap(), before);

    // The inspector's list still says what each trimmed delivery said, from its event.
    let reader = kyc_monitor::store::Store::open(&scratch.db())
        .unwrap()
        .reader()
        .unwrap();
    let said: Vec<(Option<String>, Option<String>)> = reader
        .deliveries_page(&Default::default(), 10)
        .unwrap()
        .into_iter()
        .map(kyc_monitor::monitor::DeliveryView::listed)
        .filter(|view| view.external_id.as_deref() == Some("old"))
        .map(|view| (view.status, view.decision))
        .collect();
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(
        said,
        [
            (some("CLOSED"), some("ACCEPT")),
            (some("OPEN"), some("")),
            (some("NOT_STARTED"), some("")),
        ]
    );
}
