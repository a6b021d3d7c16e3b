//! The deliveries inspector's routes: an edited replay, and each delivery's forwarding state
//! with retry now and pause/resume per destination. The monitor runs in-process on port 0 with
//! a real SQLite file and forwards to a real local HTTP backend; everything goes over real HTTP.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use kyc_monitor::serve::{Outbound, ServeConfig, Server};
use support::*;

struct Running {
    webhook_url: String,
    ui_base: String,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _scratch: Scratch,
}

impl Running {
    async fn start(forward_to: Vec<String>) -> Running {
        let scratch = Scratch::new();
        let config = ServeConfig {
            db: scratch.db(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ui_listen: Some("127.0.0.1:0".parse().unwrap()),
            ui_port_fallback: false,
            webhook_token: true,
            max_body: 64 * 1024,
            signing_secrets: Vec::new(),
            rotation_grace: kyc_monitor::secret_file::DEFAULT_GRACE,
            demo: Default::default(),
            tunnel: kyc_monitor::tunnel::TunnelSpec::None,
            tunnel_options: Default::default(),
            outbound: Outbound {
                forward_to,
                ..Default::default()
            },
            team: None,
            metrics_listen: None,
            polling: Default::default(),
            review_sla: kyc_monitor::monitor::DEFAULT_REVIEW_SLA,
            ui_deadline: kyc_monitor::serve::UI_REQUEST_DEADLINE,
        };
        let server = Server::bind(config).await.expect("bind");
        let webhook_url = server.webhook_url().to_owned();
        let ui_url = server.ui_url().expect("the UI listens").to_owned();
        let (base, token) = ui_url.split_once("/?token=").expect("token in the ui URL");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move { drop(stopped.await) })
                .await
                .expect("serve");
        });
        Running {
            webhook_url,
            ui_base: base.to_owned(),
            token: token.to_owned(),
            stop: Some(stop),
            task,
            _scratch: scratch,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        send(
            client()
                .get(format!("{}{path}", self.ui_base))
                .bearer_auth(&self.token),
        )
        .await
    }

    async fn post(&self, path: &str, json: Option<serde_json::Value>) -> Answer {
        let mut request = client()
            .post(format!("{}{path}", self.ui_base))
            .bearer_auth(&self.token);
        if let Some(json) = json {
            request = request.json(&json);
        }
        send(request).await
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

/// A backend that answers 503 while `failing`, 200 otherwise, counting the requests.
struct Backend {
    url: String,
    failing: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl Backend {
    async fn start() -> Backend {
        let failing = Arc::new(AtomicBool::new(true));
        let requests = Arc::new(AtomicUsize::new(0));
        let (fail, count) = (failing.clone(), requests.clone());
        let handler = move || {
            let (fail, count) = (fail.clone(), count.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                if fail.load(Ordering::SeqCst) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        };
        let router = axum::Router::new().route("/hooks", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Backend {
            url,
            failing,
            requests,
        }
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "waited for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_edited_replay_is_a_new_delivery_marked_as_a_replay_of_the_original() {
    let ui = Running::start(Vec::new()).await;
    post(&ui.webhook_url, flat("user_e", "", "OPEN")).await;
    let listed = ui.json("/api/deliveries").await;
    let original = &listed["deliveries"][0];
    let id = original["id"].as_i64().unwrap();
    assert_eq!(
        (original["status"].as_str(), original["decision"].as_str()),
        (Some("OPEN"), Some("")),
        "the list says what each delivery said"
    );

    // The same bytes again: the user's latest state is the same, so a duplicate.
    let same = ui.post(&format!("/api/deliveries/{id}/replay"), None).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.json()["outcome"], "duplicate");

    let edited = flat("user_e", "ACCEPT", "CLOSED");
    let answer = ui
        .post(
            &format!("/api/deliveries/{id}/replay"),
            Some(serde_json::json!({ "body": edited })),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    assert_eq!(
        (answer["outcome"].as_str(), answer["replayOf"].as_i64()),
        (Some("accepted"), Some(id))
    );
    let newest = ui.json("/api/deliveries?limit=1").await;
    let newest = &newest["deliveries"][0];
    assert_eq!(newest["id"], answer["deliveryId"]);
    assert_eq!(newest["replayOf"], id);
    assert_eq!(newest["remoteAddr"], "edited replay");
    assert_eq!(newest["edited"], true);
    assert_eq!(newest["body"], edited.as_str(), "the edited bytes are kept");
    let content_length = newest["headers"]
        .as_array()
        .and_then(|headers| headers.iter().find(|pair| pair[0] == "content-length"))
        .map(|pair| pair[1].clone());
    assert_eq!(
        content_length,
        Some(serde_json::json!(edited.len().to_string())),
        "the stored headers describe the body sent"
    );
    assert_eq!(newest["status"], "CLOSED");
    let user = ui.json("/api/users/user_e").await;
    assert_eq!(user["user"]["decision"], "ACCEPT");

    // A body that is not an event is refused as the listener would, and kept as refused.
    let broken = ui
        .post(
            &format!("/api/deliveries/{id}/replay"),
            Some(serde_json::json!({ "body": "{not json" })),
        )
        .await;
    assert_eq!(broken.status, 200, "{}", broken.body);
    assert_eq!(
        (
            broken.json()["outcome"].as_str(),
            broken.json()["httpStatus"].as_u64()
        ),
        (Some("rejected"), Some(400))
    );
    let missing = ui
        .post(
            "/api/deliveries/999/replay",
            Some(serde_json::json!({ "body": "{}" })),
        )
        .await;
    assert_eq!(missing.status, 404);
    ui.stop().await;
}

#[tokio::test]
async fn forwarding_state_retry_now_and_pause_per_destination() {
    let backend = Backend::start().await;
    let ui = Running::start(vec![backend.url.clone()]).await;

    let destinations = ui.json("/api/destinations").await;
    let destination = &destinations["destinations"][0];
    assert_eq!(destination["url"], backend.url.as_str());
    assert_eq!(destination["paused"], false);
    let destination_id = destination["id"].as_i64().unwrap();

    post(&ui.webhook_url, flat("user_f", "", "OPEN")).await;
    let listed = ui.json("/api/deliveries").await;
    let id = listed["deliveries"][0]["id"].as_i64().unwrap();
    let path = format!("/api/deliveries/{id}/forwards");

    // The backend answers 503: the delivery stays pending with its error and next try.
    wait_until("a failed attempt", || async {
        ui.json(&path).await["destinations"][0]["attempts"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    let state = ui.json(&path).await;
    let state = &state["destinations"][0];
    assert_eq!(state["state"], "pending", "{state}");
    assert_eq!(state["lastStatus"], 503);
    assert!(state["lastError"].as_str().is_some(), "{state}");
    assert!(state["nextTryAt"].as_i64().is_some(), "{state}");

    // Paused: nothing goes out, even when retried now.
    let paused = ui
        .post(
            &format!("/api/destinations/{destination_id}/pause"),
            Some(serde_json::json!({ "paused": true })),
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.json()["destinations"][0]["paused"], true);
    assert_eq!(ui.json(&path).await["destinations"][0]["paused"], true);
    // Every request the backend got is kept as an attempt: none is in flight any more.
    let attempts = support::eventually("the attempts in flight to be kept", || async {
        let attempts = ui.json(&path).await["destinations"][0]["attempts"]
            .as_i64()
            .unwrap_or(0);
        let requests = backend.requests.load(Ordering::SeqCst) as i64;
        match attempts == requests {
            true => Ok(attempts),
            false => Err(format!("{requests} requests, {attempts} attempts kept")),
        }
    })
    .await;
    backend.failing.store(false, Ordering::SeqCst);
    let before = backend.requests.load(Ordering::SeqCst);
    let retried = ui.post(&format!("/api/deliveries/{id}/retry"), None).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.json()["destinations"], 1);
    let state = ui.json(&path).await;
    assert_eq!(state["destinations"][0]["state"], "pending", "{state}");
    assert_eq!(state["destinations"][0]["attempts"], attempts, "{state}");

    // Resumed: the retry goes out at once, long before the backoff's next try.
    let resumed = ui
        .post(
            &format!("/api/destinations/{destination_id}/pause"),
            Some(serde_json::json!({ "paused": false })),
        )
        .await;
    assert_eq!(resumed.json()["destinations"][0]["paused"], false);
    wait_until("the delivery to reach the backend", || async {
        ui.json(&path).await["destinations"][0]["state"] == "delivered"
    })
    .await;
    let state = ui.json(&path).await;
    assert_eq!(state["destinations"][0]["lastStatus"], 200);
    assert_eq!(
        state["destinations"][0]["nextTryAt"],
        serde_json::Value::Null
    );
    // The one attempt after the pause is the one made once resumed: a paused destination
    // received nothing (an attempt while paused would be kept and counted here).
    assert_eq!(
        state["destinations"][0]["attempts"],
        attempts + 1,
        "{state}"
    );
    assert_eq!(backend.requests.load(Ordering::SeqCst), before + 1);
    let counts = ui.json("/api/destinations").await;
    assert_eq!(counts["destinations"][0]["pending"], 0);

    // Delivered everywhere: nothing to retry. Unknown ids are said to be unknown.
    let again = ui.post(&format!("/api/deliveries/{id}/retry"), None).await;
    assert_eq!(again.status, 409, "{}", again.body);
    // Each retry is audited: it sends a person's delivery out again.
    wait_until("both retries audited", || async {
        ui.json("/api/audit?action=forward-retried").await["entries"]
            .as_array()
            .map(Vec::len)
            == Some(2)
    })
    .await;
    let audited = ui.json("/api/audit?action=forward-retried").await;
    let entries: Vec<[&str; 3]> = audited["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| ["target", "outcome", "detail"].map(|k| e[k].as_str().unwrap()))
        .collect();
    let target = format!("delivery {id}");
    assert_eq!(entries.len(), 2, "{audited}");
    assert_eq!(
        entries[1],
        [target.as_str(), "ok", "sent again to 1 destinations"]
    );
    assert_eq!(entries[0][..2], [target.as_str(), "failed"]);
    assert_eq!(ui.get("/api/deliveries/999/forwards").await.status, 404);
    let unknown = ui
        .post(
            "/api/destinations/999/pause",
            Some(serde_json::json!({ "paused": true })),
        )
        .await;
    assert_eq!(unknown.status, 404);
    ui.stop().await;
}
