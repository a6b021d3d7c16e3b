//! The edges an attacker or a careless operator reaches: forwarding that cannot loop, stall or
//! wrap its waits; files named by the user that are not files; a flood of headers or of refused
//! requests; backups that stay in their folder; retention after a backend outage. Real binary,
//! real SQLite file, real HTTP backends in this process.

mod support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use support::*;
use tokio::sync::Notify;

/// What a test backend answers one request: a status, headers, and whether to hold the answer
/// until released.
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    hold: bool,
}

impl Reply {
    fn ok() -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            hold: false,
        }
    }

    fn status(status: u16, headers: &[(&'static str, &str)]) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            hold: false,
        }
    }
}

/// One request a backend received.
#[derive(Debug, Clone)]
struct Seen {
    body: String,
    webhook_id: String,
    /// The request's query and `Authorization` header (credentials from the destination's URL).
    query: String,
    authorization: String,
}

type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// A real HTTP backend: `script` decides each answer from the body and how many came before.
#[derive(Clone)]
struct Backend {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<Notify>,
}

impl Backend {
    async fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Backend {
        let script: Arc<Script> = Arc::new(script);
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let release = Arc::new(Notify::new());
        let (log, released) = (seen.clone(), release.clone());
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (log, released, script) = (log.clone(), released.clone(), script.clone());
            async move {
                let body = String::from_utf8_lossy(&body).into_owned();
                let reply = {
                    let mut log = log.lock().unwrap();
                    let reply = script(&body, log.len());
                    log.push(Seen {
                        body: body.clone(),
                        webhook_id: headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        query: uri.query().unwrap_or_default().to_owned(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                    });
                    reply
                };
                if reply.hold {
                    released.notified().await;
                }
                let mut response: Response = reply.status.into_response();
                for (name, value) in reply.headers {
                    response.headers_mut().insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_str(&value).unwrap(),
                    );
                }
                response
            }
        };
        let router = axum::Router::new().route("/hooks", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Backend { url, seen, release }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `what` holds of what the backend has seen.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        eventually(&format!("the backend to see {what}"), || async {
            let seen = self.seen();
            match done(&seen) {
                true => Ok(seen),
                false => Err(format!(
                    "{:?}",
                    seen.iter().map(|s| &s.body).collect::<Vec<_>>()
                )),
            }
        })
        .await
    }
}

/// `serve` with the UI on a free port; returns the monitor, the UI's base and its token.
fn serve_with_ui(db: &std::path::Path, extra: &[&str]) -> (Monitor, String, String) {
    let mut monitor = Monitor::start_with(db, true, extra, &mut Command::new(BIN));
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn api_get(base: &str, token: &str, path: &str) -> Value {
    let answer = send(client().get(format!("{base}{path}")).bearer_auth(token)).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.json()
}

/// The forwarding state of a delivery at its one destination, once `ready` holds of it.
async fn forward_state(base: &str, token: &str, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("delivery {id}'s forwarding state"), || async {
        let forwarding = api_get(base, token, &format!("/api/deliveries/{id}/forwards")).await;
        match forwarding["destinations"].get(0) {
            Some(state) if ready(state) => Ok(state.clone()),
            _ => Err(forwarding.to_string()),
        }
    })
    .await
}

/// The newest delivery's id in the inspector.
async fn newest_delivery(base: &str, token: &str) -> i64 {
    api_get(base, token, "/api/deliveries?limit=1").await["deliveries"][0]["id"]
        .as_i64()
        .unwrap()
}

// ---- Forwarding ---------------------------------------------------------------------------

/// Runs `kyc-monitor` with `args` to its exit, which must come within a minute.
fn run_to_exit(args: &[&str]) -> std::process::Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    waited
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kyc-monitor {args:?} was still running after a minute")
        })
}

#[test]
fn a_destination_that_is_the_monitor_itself_is_refused_at_start_in_any_spelling() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let db = db.to_str().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    for destination in [
        format!("http://127.0.0.1:{port}/kyc-webhook/anything"),
        format!("http://localhost:{port}/kyc-webhook"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://127.0.0.9:{port}/x"),
    ] {
        let output = run_to_exit(&[
            "serve",
            "--ui-listen",
            "off",
            "--listen",
            &listen,
            "--db",
            db,
            "--forward-to",
            &destination,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{destination}: {stderr}");
        assert!(
            stderr.contains("is this monitor's own webhook"),
            "{destination}: {stderr}"
        );
    }
    // The public URL of a `url:` tunnel is the monitor too.
    let output = run_to_exit(&[
        "serve",
        "--ui-listen",
        "off",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db,
        "--tunnel",
        "url:https://hooks.example.org/base",
        "--forward-to",
        "https://hooks.example.org/kyc-webhook/x",
    ]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_of_monitors_forwarding_to_each_other_does_not_loop() {
    // A forwards to B, and B back to A: A must recognise its own delivery coming back.
    let (scratch_a, scratch_b) = (Scratch::new(), Scratch::new());
    let (port_a, port_b) = (free_port(), free_port());
    let start = |db: std::path::PathBuf, port: u16, to: u16| {
        let mut child = Command::new(BIN)
            .args(["serve", "--no-webhook-token", "--ui-listen", "127.0.0.1:0"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(&db)
            .args([
                "--forward-to",
                &format!("http://127.0.0.1:{to}/kyc-webhook"),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let webhook = lines.next().unwrap().unwrap();
        let ui = lines.next().unwrap().unwrap();
        let (base, token) = ui
            .strip_prefix("ui: ")
            .and_then(|url| url.split_once("/?token="))
            .unwrap();
        (
            KillOnDrop(child),
            webhook.strip_prefix("webhook: ").unwrap().to_owned(),
            base.to_owned(),
            token.to_owned(),
        )
    };
    let (_a, webhook_a, base_a, token_a) = start(scratch_a.db(), port_a, port_b);
    let (_b, _, base_b, token_b) = start(scratch_b.db(), port_b, port_a);

    // Two states in a row: a delivery coming back is not the user's latest state, so only
    // the monitor's own webhook-id can tell it went round.
    for (decision, status) in [("", "OPEN"), ("ACCEPT", "CLOSED")] {
        let answer = post(&webhook_a, flat("looper", decision, status)).await;
        assert_eq!(answer.status, 200);
    }
    // A forwards both to B; B accepts them (new to B) and forwards them back to A...
    let at_b = wait_for_deliveries(&base_b, &token_b, 2).await;
    for delivery in &at_b {
        let id = delivery["id"].as_i64().unwrap();
        forward_state(&base_b, &token_b, id, |s| s["state"] == "delivered").await;
    }
    // ...where they are kept as duplicates, and not forwarded again.
    // (A's first forward may come back before the test's second post reaches A: the four
    // are told apart by the monitor's own webhook-id, not by their order.)
    let at_a = wait_for_deliveries(&base_a, &token_a, 4).await;
    let carries_own_id = |d: &&serde_json::Value| {
        d["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "webhook-id" && h[1].as_str().unwrap().starts_with("kycm_"))
    };
    let (came_back, posted): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        at_a.iter().partition(carries_own_id);
    assert_eq!((came_back.len(), posted.len()), (2, 2), "{at_a:?}");
    assert!(
        came_back.iter().all(|d| d["outcome"] == "duplicate")
            && posted.iter().all(|d| d["outcome"] == "accepted"),
        "{at_a:?}"
    );
    for came_back in &came_back {
        let id = came_back["id"].as_i64().unwrap();
        let forwarding =
            api_get(&base_a, &token_a, &format!("/api/deliveries/{id}/forwards")).await;
        assert_eq!(
            forwarding["destinations"],
            serde_json::json!([]),
            "{forwarding}"
        );
    }
    // A's own forwards to B are done, so nothing is left to go anywhere.
    for accepted in &posted {
        let id = accepted["id"].as_i64().unwrap();
        forward_state(&base_a, &token_a, id, |s| s["state"] == "delivered").await;
    }
    assert_eq!(wait_for_deliveries(&base_b, &token_b, 2).await.len(), 2);
    let user = lookup(&scratch_a.db(), "looper").unwrap();
    assert_eq!(
        (&user["status"], &user["decision"]),
        (&"CLOSED".into(), &"ACCEPT".into())
    );
    assert_eq!(user["events"].as_array().unwrap().len(), 4, "{user}");

    // An id made by a monitor outside the ring (or made up): it goes round once and stops.
    for (n, status) in [(1, "OPEN"), (2, "CLOSED")] {
        let answer = send(
            client()
                .post(&webhook_a)
                .header("webhook-id", format!("kycm_elsewhere_{n}"))
                .body(flat("ringed", "", status)),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // Each id once as posted (accepted), once back from B (a duplicate), in either order
    // between the two ids.
    let at_a = wait_for_deliveries(&base_a, &token_a, 8).await;
    for n in [1, 2] {
        let webhook_id = format!("kycm_elsewhere_{n}");
        let mut seen: Vec<&serde_json::Value> = at_a[..4]
            .iter()
            .filter(|d| d["webhookId"] == webhook_id.as_str())
            .collect();
        seen.sort_by_key(|d| d["id"].as_i64());
        let outcomes: Vec<&str> = seen
            .iter()
            .map(|d| d["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["accepted", "duplicate"],
            "{webhook_id}: {at_a:?}"
        );
    }
    for delivery in &wait_for_deliveries(&base_b, &token_b, 4).await[..2] {
        let id = delivery["id"].as_i64().unwrap();
        forward_state(&base_b, &token_b, id, |s| s["state"] == "delivered").await;
    }
    let settled = api_get(&base_a, &token_a, "/api/deliveries").await;
    assert_eq!(
        settled["deliveries"].as_array().unwrap().len(),
        8,
        "{settled}"
    );
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the inspector lists at least `count` deliveries; returns them, newest first.
async fn wait_for_deliveries(base: &str, token: &str, count: usize) -> Vec<Value> {
    eventually(&format!("{count} deliveries"), || async {
        let page = api_get(base, token, "/api/deliveries").await;
        let deliveries = page["deliveries"].as_array().unwrap().clone();
        match deliveries.len() >= count {
            true => Ok(deliveries),
            false => Err(format!("{} deliveries", deliveries.len())),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_that_leaves_one_user_unanswered_holds_up_nobody_else() {
    // The backend holds `slow`'s first delivery until the test releases it.
    let backend = Backend::start(|body, _| Reply {
        hold: body.contains("\"slow\"") && body.contains("NOT_STARTED"),
        ..Reply::ok()
    })
    .await;
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--forward-to", &backend.url]);
    assert_eq!(
        post(&monitor.webhook_url, flat("slow", "", "NOT_STARTED"))
            .await
            .status,
        200
    );
    let slow_first = newest_delivery(&base, &token).await;
    backend
        .wait_until("slow's first delivery", |seen| !seen.is_empty())
        .await;
    assert_eq!(
        post(&monitor.webhook_url, flat("slow", "", "OPEN"))
            .await
            .status,
        200
    );
    const OTHERS: usize = 40;
    for n in 0..OTHERS {
        let body = flat(&format!("other_{n}"), "", "OPEN");
        assert_eq!(post(&monitor.webhook_url, body).await.status, 200);
    }
    let seen = backend
        .wait_until("every other user's delivery", |seen| {
            seen.iter().filter(|s| s.body.contains("other_")).count() == OTHERS
        })
        .await;
    // All of them went through while slow's first attempt was still open (not yet given up
    // as a timeout and recorded): nobody waited behind it...
    let state = api_get(
        &base,
        &token,
        &format!("/api/deliveries/{slow_first}/forwards"),
    )
    .await;
    let slow_state = &state["destinations"][0];
    assert_eq!(
        slow_state["attempts"], 0,
        "other users waited for the unanswered one: {state}"
    );
    assert_eq!(slow_state["state"], "pending", "{state}");
    // ...but slow's own next one did: per user, order holds.
    assert!(!seen
        .iter()
        .any(|s| s.body.contains("\"slow\"") && s.body.contains("OPEN")));
    backend.release.notify_waiters();
    let seen = backend
        .wait_until("slow's second delivery", |seen| {
            seen.iter()
                .any(|s| s.body.contains("\"slow\"") && s.body.contains("OPEN"))
        })
        .await;
    let slow: Vec<&str> = seen
        .iter()
        .filter(|s| s.body.contains("\"slow\""))
        .map(|s| {
            if s.body.contains("NOT_STARTED") {
                "NOT_STARTED"
            } else {
                "OPEN"
            }
        })
        .collect();
    assert_eq!(slow, ["NOT_STARTED", "OPEN"]);
    // Each went out with this monitor's own id for it: kycm_, the instance, the delivery.
    let ids: std::collections::BTreeSet<String> =
        backend.seen().into_iter().map(|s| s.webhook_id).collect();
    assert!(
        ids.iter()
            .all(|id| id.starts_with("kycm_") && id.matches('_').count() == 2),
        "{ids:?}"
    );
    assert_eq!(ids.len(), OTHERS + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_of_any_size_and_form_is_honoured_and_capped_at_an_hour() {
    let in_two_minutes =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
    let backend = Backend::start(move |body, _| {
        let retry_after = if body.contains("huge") {
            "18446744073709551615".to_owned()
        } else if body.contains("dated") {
            in_two_minutes.clone()
        } else {
            "soon, perhaps".to_owned()
        };
        Reply {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: vec![("retry-after", retry_after)],
            hold: false,
        }
    })
    .await;
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--forward-to", &backend.url]);
    let wait_after_first = |user: &'static str| {
        let (monitor, base, token) = (&monitor, &base, &token);
        async move {
            assert_eq!(
                post(&monitor.webhook_url, flat(user, "", "OPEN"))
                    .await
                    .status,
                200
            );
            let id = newest_delivery(base, token).await;
            let state = forward_state(base, token, id, |s| s["attempts"] == 1).await;
            assert_eq!(state["state"], "pending", "{state}");
            state["nextTryAt"].as_i64().unwrap() - state["lastAttemptAt"].as_i64().unwrap()
        }
    };
    // 2^64 - 1 seconds: an hour, not a wrap into the past (and a storm of retries).
    assert_eq!(wait_after_first("huge").await, 3_600_000);
    // An HTTP-date two minutes ahead (to the second, as the header says).
    let dated = wait_after_first("dated").await;
    assert!((117_000..=121_000).contains(&dated), "{dated} ms");
    // Garbage: the usual backoff (the first retry after half a second to a second).
    let garbage = wait_after_first("garbage").await;
    assert!((500..=1_000).contains(&garbage), "{garbage} ms");
    // The huge one was tried once: no storm.
    let huge_tries = backend
        .seen()
        .iter()
        .filter(|s| s.body.contains("huge"))
        .count();
    assert_eq!(huge_tries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirect_is_said_to_be_one_and_not_followed() {
    let backend = Backend::start(|body, _| {
        let location = if body.contains("hostile") {
            "https://elsewhere.example/\u{202e}gpj.exe"
        } else {
            "https://elsewhere.example/kyc"
        };
        Reply {
            status: StatusCode::FOUND,
            headers: vec![("location", location.to_owned())],
            hold: false,
        }
    })
    .await;
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--forward-to", &backend.url]);
    assert_eq!(
        post(&monitor.webhook_url, flat("moved", "", "OPEN"))
            .await
            .status,
        200
    );
    let id = newest_delivery(&base, &token).await;
    let state = forward_state(&base, &token, id, |s| s["state"] == "failed").await;
    let error = state["lastError"].as_str().unwrap();
    assert!(
        error.contains("the backend answered a redirect (HTTP 302) to https://elsewhere.example/kyc; redirects are not followed"),
        "{error}"
    );
    assert_eq!(
        backend.seen().len(),
        1,
        "the redirect was followed or retried"
    );
    // What the backend named is stored and shown inert: a bidi override percent-encoded.
    assert_eq!(
        post(&monitor.webhook_url, flat("hostile", "", "OPEN"))
            .await
            .status,
        200
    );
    let id = newest_delivery(&base, &token).await;
    let state = forward_state(&base, &token, id, |s| s["state"] == "failed").await;
    let error = state["lastError"].as_str().unwrap();
    assert!(
        error.contains("to https://elsewhere.example/%E2%80%AEgpj.exe;"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_trims_deliveries_that_waited_through_a_backend_outage() {
    // The backend is down (503, Retry-After: 1) until the test brings it back.
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backend = {
        let up = up.clone();
        Backend::start(move |_, _| {
            if up.load(std::sync::atomic::Ordering::SeqCst) {
                Reply::ok()
            } else {
                Reply::status(503, &[("retry-after", "1")])
            }
        })
        .await
    };
    let scratch = Scratch::new();
    // 0.00002 days: 1.7 s.
    let (monitor, base, token) = serve_with_ui(
        &scratch.db(),
        &["--forward-to", &backend.url, "--keep-deliveries", "0.00002"],
    );
    assert_eq!(
        post(&monitor.webhook_url, flat("outage", "", "OPEN"))
            .await
            .status,
        200
    );
    let waited = newest_delivery(&base, &token).await;
    // Old enough to be trimmed while it still waits: a later delivery's trim shows a pass went
    // over it.
    backend
        .wait_until("two failed tries", |seen| seen.len() >= 2)
        .await;
    assert_eq!(
        post(&monitor.webhook_url, flat("later", "", "OPEN"))
            .await
            .status,
        200
    );
    let later = newest_delivery(&base, &token).await;
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    forward_state(&base, &token, later, |s| s["state"] == "delivered").await;
    forward_state(&base, &token, waited, |s| s["state"] == "delivered").await;
    // Both are trimmed once old enough, whatever order that happened in.
    eventually(
        "every delivery trimmed after the backend recovered",
        || async {
            let deliveries = export_jsonl(&scratch.db(), "deliveries");
            let untrimmed: Vec<&Value> =
                deliveries.iter().filter(|d| !d["body"].is_null()).collect();
            match untrimmed.is_empty() {
                true => Ok(()),
                false => Err(format!("{untrimmed:?}")),
            }
        },
    )
    .await;
}

// ---- Bounded inputs --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_key_path_that_is_not_a_regular_file_is_refused_at_once() {
    let scratch = Scratch::new();
    let fifo = scratch.db().with_file_name("key.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (_monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    for (path, says) in [
        ("/dev/zero".to_owned(), "it is a device, not a regular file"),
        (
            fifo.display().to_string(),
            "it is a FIFO (named pipe), not a regular file",
        ),
    ] {
        let form = serde_json::json!({
            "environment": "dev", "clientId": "c", "privateKeyPath": path,
            "webhookUrl": "https://example.org/kyc-webhook/x", "apiBase": "", "tokenUrl": "",
            "signing": "none"
        });
        let answer = tokio::time::timeout(
            Duration::from_secs(20),
            send(
                client()
                    .post(format!("{base}/api/register"))
                    .bearer_auth(&token)
                    .json(&form),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("registering with {path} hung"));
        assert!(
            answer.body.contains(says),
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            (400..500).contains(&answer.status),
            "{path}: {}",
            answer.status
        );
    }
    // The CLI says the same, and exits 1 at once.
    let output = Command::new(BIN)
        .args([
            "register",
            "https://example.org/kyc-webhook/x",
            "--env",
            "dev",
        ])
        .args(["--client-id", "c", "--private-key", "/dev/zero", "--db"])
        .arg(scratch.db().with_file_name("cli.db"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it is a device, not a regular file"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_with_many_headers_is_recorded_and_one_over_the_size_is_counted() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    let mut request = client()
        .post(&monitor.webhook_url)
        .body(flat("headers", "", "OPEN"));
    for n in 0..500 {
        request = request.header(format!("x-h{n}"), "v");
    }
    let answer = send(request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let user = lookup(&scratch.db(), "headers").unwrap();
    assert_eq!(user["status"], "OPEN");

    // Well over 64 KiB of headers: answered 431 by the HTTP layer, counted for the inspector.
    let answer = send(
        client()
            .post(&monitor.webhook_url)
            .header("x-big", "a".repeat(256 * 1024))
            .body(flat("too-big", "", "OPEN")),
    )
    .await;
    assert_eq!(answer.status, 431);
    // Over 1,024 headers, though their bytes fit: the same.
    let mut request = client()
        .post(&monitor.webhook_url)
        .body(flat("too-many", "", "OPEN"));
    for n in 0..1100 {
        request = request.header(format!("x-h{n}"), "v");
    }
    assert_eq!(send(request).await.status, 431);
    // Counted per minute: the two may fall in two.
    let too_large = |entries: &[Value]| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e["reason"] == "headers-too-large")
            .cloned()
            .collect()
    };
    let requests = |entries: &[Value]| -> i64 {
        entries
            .iter()
            .map(|e| e["requests"].as_i64().unwrap())
            .sum()
    };
    let counted =
        wait_for_counted(&base, &token, |entries| requests(&too_large(entries)) == 2).await;
    for entry in too_large(&counted) {
        assert_eq!(entry["remoteAddr"], "127.0.0.1");
    }
}

/// Waits until the inspector's counted refusals satisfy `done`.
async fn wait_for_counted(base: &str, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually("the counted refusals", || async {
        let page = api_get(base, token, "/api/deliveries?limit=1").await;
        let counted = page["counted"].as_array().unwrap().clone();
        match done(&counted) {
            true => Ok(counted),
            false => Err(format!("{counted:?}")),
        }
    })
    .await
}

/// The signing secret of the budget tests' monitors (deliveries without it are refused).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A monitor that requires signatures, started early enough in a minute of the clock that a
/// test's requests all fall in that minute's budget.
async fn budgeted_monitor(scratch: &Scratch) -> (Monitor, String, String) {
    let second_of_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second_of_minute > 40 {
        tokio::time::sleep(Duration::from_secs(61 - second_of_minute)).await;
    }
    serve_with_ui(&scratch.db(), &["--signing-secret", SECRET])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_requests_past_the_budget_are_counted_not_kept() {
    let (scratch, secret) = (Scratch::new(), SECRET);
    let (monitor, base, token) = budgeted_monitor(&scratch).await;
    const SENT: usize = 1_060;
    let http = client();
    for n in 0..SENT {
        let answer = send(
            http.post(&monitor.webhook_url)
                .body(flat(&format!("u{n}"), "", "OPEN")),
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    // A signed delivery still goes through, and is kept.
    let body = flat("signed", "", "OPEN");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = secret
        .parse::<kyc_monitor::signature::SharedSecret>()
        .unwrap()
        .sign("msg_1", now, body.as_bytes());
    let answer = send(
        http.post(&monitor.webhook_url)
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let counted = wait_for_counted(&base, &token, |entries| {
        entries
            .iter()
            .map(|e| e["requests"].as_i64().unwrap())
            .sum::<i64>()
            == (SENT - 1_000) as i64
    })
    .await;
    assert_eq!(counted[0]["remoteAddr"], "127.0.0.1");
    assert_eq!(counted[0]["reason"], "signature-over-budget");
    drop(monitor);
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let rejected = deliveries
        .iter()
        .filter(|d| d["outcome"] == "rejected")
        .count();
    assert_eq!(rejected, 1_000);
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d["outcome"] == "accepted")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_go_only_into_the_backup_folder() {
    let scratch = Scratch::new();
    let root = scratch.db().parent().unwrap().to_owned();
    let (folder, outside) = (root.join("backups"), root.join("elsewhere"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("escape")).unwrap();
    // Beside the database, the private folders of two earlier backups: one killed midway (its
    // temporary copy unlocked), one still copying (its copy locked, here by this test).
    let killed = root.join(".kyc-monitor-backup-killed");
    let running = root.join(".kyc-monitor-backup-running");
    for staging in [&killed, &running] {
        std::fs::create_dir(staging).unwrap();
        std::fs::write(staging.join(".old.db.42.partial"), vec![7u8; 1 << 20]).unwrap();
    }
    let held = std::fs::File::open(running.join(".old.db.42.partial")).unwrap();
    held.lock().unwrap();
    let (_monitor, base, token) =
        serve_with_ui(&scratch.db(), &["--backup-dir", folder.to_str().unwrap()]);
    let backup = |path: std::path::PathBuf| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            send(
                client()
                    .post(format!("{base}/api/backup"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "path": path })),
            )
            .await
        }
    };
    for refused in [
        outside.join("a.db"),
        folder.join("escape").join("b.db"),
        folder.join("..").join("elsewhere").join("c.db"),
        std::path::PathBuf::from("/etc/cron.d/kyc"),
    ] {
        let answer = backup(refused.clone()).await;
        assert_eq!(answer.status, 400, "{}: {}", refused.display(), answer.body);
        assert!(
            answer.json()["message"]
                .as_str()
                .unwrap()
                .contains("backups are written only into"),
            "{}",
            answer.body
        );
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    let answer = backup(folder.join("good.db")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(folder.join("good.db").is_file());
    assert!(!killed.exists(), "what the killed backup left is removed");
    assert!(
        running.join(".old.db.42.partial").is_file(),
        "a running one's is not"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_folder_swapped_for_a_link_while_backups_run_never_moves_one_out() {
    let scratch = Scratch::new();
    let root = scratch.db().parent().unwrap().to_owned();
    let (folder, outside) = (root.join("backups"), root.join("elsewhere"));
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("link")).unwrap();
    let (_monitor, base, token) =
        serve_with_ui(&scratch.db(), &["--backup-dir", folder.to_str().unwrap()]);
    // Another process keeps exchanging the folder and the link (renameat2 RENAME_EXCHANGE).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, folder) = (stop.clone(), folder.clone());
        std::thread::spawn(move || {
            use std::os::unix::ffi::OsStrExt;
            let sub = std::ffi::CString::new(folder.join("sub").as_os_str().as_bytes()).unwrap();
            let link = std::ffi::CString::new(folder.join("link").as_os_str().as_bytes()).unwrap();
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two valid paths; the call only renames.
                let done = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        sub.as_ptr(),
                        libc::AT_FDCWD,
                        link.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
                swaps += 1;
            }
            swaps
        })
    };
    let mut written = 0;
    for n in 0..150 {
        let path = folder.join("sub").join(format!("race{n}.db"));
        let answer = send(
            client()
                .post(format!("{base}/api/backup"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "path": path })),
        )
        .await;
        match answer.status {
            200 => written += 1,
            400 => assert!(
                answer.body.contains("backups are written only into"),
                "{}",
                answer.body
            ),
            other => panic!("{other}: {}", answer.body),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 1_000, "the swapper ran only {swaps} times");
    let escaped: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert!(
        escaped.is_empty(),
        "{} files written outside the folder: {escaped:?}",
        escaped.len()
    );
    assert!(written > 0, "no backup was written at all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_users_hanging_at_a_backend_leave_room_for_the_others() {
    // The backend holds every delivery of the `bad` users until released.
    let backend = Backend::start(|body, _| Reply {
        hold: body.contains("\"bad_"),
        ..Reply::ok()
    })
    .await;
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--forward-to", &backend.url]);
    const BAD: usize = 30;
    let mut bad_ids = Vec::new();
    for n in 0..BAD {
        assert_eq!(
            post(&monitor.webhook_url, flat(&format!("bad_{n}"), "", "OPEN"))
                .await
                .status,
            200
        );
        bad_ids.push(newest_delivery(&base, &token).await);
    }
    backend
        .wait_until("every bad user's first try", |seen| seen.len() == BAD)
        .await;
    for n in 0..3 {
        assert_eq!(
            post(&monitor.webhook_url, flat(&format!("good_{n}"), "", "OPEN"))
                .await
                .status,
            200
        );
    }
    backend
        .wait_until("the good users' deliveries", |seen| {
            seen.iter().filter(|s| s.body.contains("\"good_")).count() == 3
        })
        .await;
    // They went through while every bad user's first try was still open.
    for id in bad_ids {
        let state = api_get(&base, &token, &format!("/api/deliveries/{id}/forwards")).await;
        assert_eq!(state["destinations"][0]["attempts"], 0, "{state}");
    }
    backend.release.notify_waiters();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_budget_counts_bytes_and_reachability_checks_too() {
    let scratch = Scratch::new();
    let (monitor, base, token) = budgeted_monitor(&scratch).await;
    let http = client();
    // Unsigned 60 KB posts: 4 MiB a minute from one address are kept, the rest counted.
    let big = format!(
        "{{\"externalId\":\"big\",\"pad\":\"{}\"}}",
        "x".repeat(60_000)
    );
    for _ in 0..80 {
        assert_eq!(
            send(http.post(&monitor.webhook_url).body(big.clone()))
                .await
                .status,
            401
        );
    }
    // GET checks count against the same budget.
    for _ in 0..1_010 {
        assert_eq!(send(http.get(&monitor.webhook_url)).await.status, 200);
    }
    // Every request is either kept or counted (the counts are written once a second).
    let (kept_big, kept_checks) = eventually("every request kept or counted", || async {
        let page = api_get(&base, &token, "/api/deliveries?limit=1").await;
        let of = |reason: &str| {
            page["counted"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["reason"] == reason)
                .map(|e| e["requests"].as_i64().unwrap())
                .sum::<i64>() as usize
        };
        let deliveries = export_jsonl(&scratch.db(), "deliveries");
        let kept_big = deliveries
            .iter()
            .filter(|d| d["outcome"] == "rejected")
            .count();
        let kept_checks = deliveries.iter().filter(|d| d["outcome"] == "ping").count();
        let (big, checks) = (
            kept_big + of("signature-over-budget"),
            kept_checks + of("checks-over-budget"),
        );
        match (big, checks) {
            (80, 1_010) => Ok((kept_big, kept_checks)),
            _ => Err(format!(
                "{big} of 80 large posts and {checks} of 1,010 checks: {page}"
            )),
        }
    })
    .await;
    // 4 MiB of 60 KB posts (with their headers) is 68 of them; the checks are small.
    assert!(
        (60..70).contains(&kept_big),
        "{kept_big} large refusals kept"
    );
    assert!(
        (900..=1_000).contains(&kept_checks),
        "{kept_checks} checks kept"
    );
    drop(monitor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_destination_holds_no_delivery_back_from_retention() {
    let scratch = Scratch::new();
    // A backend that is never there: the deliveries wait for it...
    let dead = format!("http://127.0.0.1:{}/gone", free_port());
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--forward-to", &dead]);
    assert_eq!(
        post(&monitor.webhook_url, flat("waiting", "", "OPEN"))
            .await
            .status,
        200
    );
    let id = newest_delivery(&base, &token).await;
    forward_state(&base, &token, id, |s| s["attempts"].as_i64() >= Some(1)).await;
    drop(monitor);
    // ...until it is no longer given: then retention trims them like any other.
    let _monitor = Monitor::start(&scratch.db(), &["--keep-deliveries", "0.00002"]);
    eventually("the delivery trimmed", || async {
        let deliveries = export_jsonl(&scratch.db(), "deliveries");
        match deliveries.iter().all(|d| d["body"].is_null()) {
            true => Ok(()),
            false => Err(format!("{deliveries:?}")),
        }
    })
    .await;
}

#[test]
fn a_database_path_that_is_a_fifo_is_refused_at_once() {
    let scratch = Scratch::new();
    let fifo = scratch.db();
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let output = run_to_exit(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--ui-listen",
        "off",
        "--db",
        fifo.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it is a FIFO (named pipe), not a regular file"),
        "{stderr}"
    );
}

/// Whether `secret` is in the database's files (the main file and its WAL), as bytes, once
/// the WAL is checkpointed into the main file (as the monitor does within seconds).
fn in_database_files(db: &std::path::Path, secret: &str) -> bool {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    ["", "-wal"].iter().any(|suffix| {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        std::fs::read(path)
            .map(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            .unwrap_or(false)
    })
}

/// A destination's credentials go to the backend and nowhere else: not to the UI, the log or
/// the database (nor so its backups), even one an earlier version kept whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_in_a_destination_never_reach_the_ui_the_log_or_the_database() {
    let scratch = Scratch::new();
    let backend = Backend::start(|_, _| Reply::ok()).await;
    let destination = format!(
        "{}?api_key=SECRET123",
        backend.url.replace("http://", "http://fwduser:fwdpass@")
    );
    // A database where an earlier version kept this destination whole (id 1, the last run's),
    // and the same one with the credentials it had before (id 2, no longer given).
    let first = Monitor::start(&scratch.db(), &[]);
    assert_eq!(first.terminate(), 0);
    let before = destination.replace("fwduser:fwdpass", "aaaold:oldpass");
    let planted = rusqlite::Connection::open(scratch.db()).unwrap();
    for (url, active) in [(&destination, 1), (&before, 0)] {
        planted
            .execute(
                "INSERT INTO destinations (url, active, added_at) VALUES (?1, ?2, 0)",
                rusqlite::params![url, active],
            )
            .unwrap();
    }
    drop(planted);
    assert!(in_database_files(&scratch.db(), "SECRET123"));

    let log = scratch.db().with_file_name("serve.log");
    let mut command = Command::new(BIN);
    command
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap());
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &["--forward-to", &destination],
        &mut command,
    );
    let (base, token) = monitor.ui();
    assert_eq!(
        post(&monitor.webhook_url, flat("creds", "", "OPEN"))
            .await
            .status,
        200
    );
    let id = newest_delivery(&base, &token).await;
    let seen = backend
        .wait_until("the delivery", |seen| !seen.is_empty())
        .await;
    // fwduser:fwdpass, as HTTP Basic credentials.
    assert_eq!(seen[0].authorization, "Basic ZndkdXNlcjpmd2RwYXNz");
    assert_eq!(seen[0].query, "api_key=SECRET123");
    let state = forward_state(&base, &token, id, |s| s["state"] == "delivered").await;
    let destinations = api_get(&base, &token, "/api/destinations").await;
    assert_eq!(
        destinations["destinations"].as_array().map(Vec::len),
        Some(1),
        "{destinations}"
    );
    assert_eq!(
        destinations["destinations"][0]["id"], 1,
        "the last run's destination is the same one, not the one with old credentials: {destinations}"
    );
    monitor.terminate();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("forwarding accepted deliveries") && log.contains("api_key=***"),
        "{log}"
    );
    for shown in [state.to_string(), destinations.to_string(), log] {
        assert!(
            !shown.contains("fwdpass") && !shown.contains("SECRET123"),
            "{shown}"
        );
    }
    assert!(
        destinations.to_string().contains("api_key=***"),
        "{destinations}"
    );
    for secret in ["fwdpass", "SECRET123", "oldpass"] {
        assert!(
            !in_database_files(&scratch.db(), secret),
            "{secret} in the database"
        );
    }

    // Two destinations that differ only in their credentials would be one: refused at start.
    let twin = destination.replace("SECRET123", "OTHER456");
    let output = cli(
        &scratch.db(),
        &[
            "serve",
            "--ui-listen",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--forward-to",
            &destination,
            "--forward-to",
            &twin,
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("differ only in their credentials"), "{said}");
    assert!(
        !said.contains("SECRET123") && !said.contains("OTHER456"),
        "{said}"
    );
    // `config` refuses them as serve does; the same URL twice is one destination.
    let twins = cli(
        &scratch.db(),
        &[
            "config",
            "--forward-to",
            &destination,
            "--forward-to",
            &twin,
        ],
    );
    assert_eq!(twins.status.code(), Some(2));
    let same = cli(
        &scratch.db(),
        &[
            "config",
            "--forward-to",
            &destination,
            "--forward-to",
            &destination,
        ],
    );
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
}
