//! The local UI API: the guard (token, Host, Origin), each view, replay, and the live feed with
//! resume. The server runs in-process on port 0 with a real SQLite file; everything goes over
//! real HTTP.

mod support;

use std::time::Duration;

use kyc_monitor::serve::{ServeConfig, Server};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Running {
    webhook_url: String,
    ui_base: String,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _scratch: Scratch,
}

impl Running {
    async fn start() -> Running {
        Running::start_in(Scratch::new()).await
    }

    /// Serves the database in `scratch`, as it is.
    async fn start_in(scratch: Scratch) -> Running {
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
            outbound: Default::default(),
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

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        client()
            .get(format!("{}{path}", self.ui_base))
            .bearer_auth(&self.token)
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let answer = send(self.get(path)).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    }

    /// Stops the server. The bound is half the drain limit (10 s): an open live feed must end
    /// when the server stops rather than hold it until the limit drops it.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("the server stops without waiting out the drain limit")
            .unwrap();
    }
}

#[tokio::test]
async fn the_token_is_required_and_the_first_visit_sets_a_cookie() {
    let ui = Running::start().await;
    let bare = send(client().get(format!("{}/api/overview", ui.ui_base))).await;
    assert_eq!(bare.status, 401);
    assert!(bare.json()["message"]
        .as_str()
        .unwrap()
        .contains("ui: line"));
    let wrong = send(
        client()
            .get(format!("{}/api/overview", ui.ui_base))
            .bearer_auth("0".repeat(32)),
    )
    .await;
    assert_eq!(wrong.status, 401);

    let first = send(client().get(format!("{}/api/overview?token={}", ui.ui_base, ui.token))).await;
    assert_eq!(first.status, 200);
    let cookie = first.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = send(
        client()
            .get(format!("{}/api/overview", ui.ui_base))
            .header("cookie", pair),
    )
    .await;
    assert_eq!(with_cookie.status, 200);
    ui.stop().await;
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let ui = Running::start().await;
    let rebinding = send(
        ui.get("/api/overview")
            .header("host", "attacker.example:8788"),
    )
    .await;
    assert_eq!(rebinding.status, 403);
    let cross_site = send(
        ui.get("/api/overview")
            .header("origin", "http://attacker.example"),
    )
    .await;
    assert_eq!(cross_site.status, 403);
    let same_origin = send(ui.get("/api/overview").header("origin", ui.ui_base.clone())).await;
    assert_eq!(same_origin.status, 200);
    let localhost = ui.ui_base.replace("127.0.0.1", "localhost");
    let by_name = send(
        ui.get("/api/overview")
            .header("host", localhost.trim_start_matches("http://")),
    )
    .await;
    assert_eq!(by_name.status, 200);
    ui.stop().await;
}

#[tokio::test]
async fn the_ui_is_never_reachable_through_the_webhook_listener() {
    let ui = Running::start().await;
    let webhook_base = ui
        .webhook_url
        .split("/kyc-webhook")
        .next()
        .unwrap()
        .to_owned();
    for path in ["/api/overview", "/api/feed", "/"] {
        let answer = send(
            client()
                .get(format!("{webhook_base}{path}"))
                .bearer_auth(&ui.token),
        )
        .await;
        assert_eq!(answer.status, 404, "{path}");
    }
    ui.stop().await;
}

#[tokio::test]
async fn the_ui_refuses_to_listen_beyond_loopback() {
    let scratch = Scratch::new();
    let config = ServeConfig {
        db: scratch.db(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ui_listen: Some("0.0.0.0:0".parse().unwrap()),
        ui_port_fallback: false,
        webhook_token: true,
        max_body: 1024,
        signing_secrets: Vec::new(),
        rotation_grace: kyc_monitor::secret_file::DEFAULT_GRACE,
        demo: Default::default(),
        tunnel: kyc_monitor::tunnel::TunnelSpec::None,
        tunnel_options: Default::default(),
        outbound: Default::default(),
        team: None,
        metrics_listen: None,
        polling: Default::default(),
        review_sla: kyc_monitor::monitor::DEFAULT_REVIEW_SLA,
        ui_deadline: kyc_monitor::serve::UI_REQUEST_DEADLINE,
    };
    let error = Server::bind(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn views_show_counts_board_search_user_and_deliveries() {
    let ui = Running::start().await;
    for body in [
        flat("user_1", "", "OPEN"),
        flat("user_2", "REVIEW", "ON_HOLD"),
        flat("user_10", "ACCEPT", "CLOSED"),
        flat("user_1", "", "OPEN"),
        flat("odd", "MAYBE", "FROZEN"),
    ] {
        assert_eq!(post(&ui.webhook_url, body).await.status, 200);
    }
    post(&ui.webhook_url, b"[]".to_vec()).await;

    let overview = ui.json("/api/overview").await;
    assert_eq!(overview["totalUsers"], 4);
    assert_eq!(overview["webhookUrl"], ui.webhook_url.as_str());
    assert!(overview["counts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "FROZEN" && c["users"] == 1));

    let open = ui.json("/api/board/OPEN").await;
    assert_eq!(open["users"][0]["externalId"], "user_1");
    assert_eq!(open["users"][0]["eventCount"], 2);
    assert!(open["next"].is_null());
    let frozen = ui.json("/api/board/FROZEN").await;
    assert_eq!(frozen["users"][0]["knownStatus"], false);
    assert_eq!(frozen["users"][0]["knownDecision"], false);

    let found = ui.json("/api/search?q=user_1").await;
    let ids: Vec<&str> = found["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["externalId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["user_1", "user_10"]);

    let user = ui.json("/api/users/user_1").await;
    assert_eq!(user["user"]["status"], "OPEN");
    let timeline = user["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1]["duplicate"], true);
    assert!(timeline[0]["body"]
        .as_str()
        .unwrap()
        .contains("\"externalId\":\"user_1\""));
    assert!(timeline[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "host"));
    let missing = send(ui.get("/api/users/nobody")).await;
    assert_eq!(missing.status, 404);
    // An externalId that needs escaping in a path.
    post(&ui.webhook_url, flat("a/b c?", "", "OPEN")).await;
    assert_eq!(
        ui.json("/api/users/a%2Fb%20c%3F").await["user"]["externalId"],
        "a/b c?"
    );

    let rejected = ui.json("/api/deliveries?outcome=rejected").await;
    assert_eq!(rejected["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(rejected["deliveries"][0]["httpStatus"], 400);
    let newest = ui.json("/api/deliveries?limit=2").await;
    let first_id = newest["deliveries"][0]["id"].as_i64().unwrap();
    let older = ui
        .json(&format!("/api/deliveries?before={first_id}&limit=100"))
        .await;
    assert!(older["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["id"].as_i64().unwrap() < first_id));
    let searched = ui.json("/api/deliveries?q=MAYBE").await;
    assert_eq!(searched["deliveries"].as_array().unwrap().len(), 1);
    ui.stop().await;
}

#[tokio::test]
async fn replay_sends_a_stored_delivery_through_the_normal_path() {
    let ui = Running::start().await;
    post(&ui.webhook_url, flat("user_r", "", "OPEN")).await;
    post(&ui.webhook_url, flat("user_r", "ACCEPT", "CLOSED")).await;
    let deliveries = ui.json("/api/deliveries").await;
    let first = deliveries["deliveries"][1]["id"].as_i64().unwrap();

    let replayed = send(
        client()
            .post(format!("{}/api/deliveries/{first}/replay", ui.ui_base))
            .bearer_auth(&ui.token),
    )
    .await;
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    let answer = replayed.json();
    assert_eq!(
        (answer["outcome"].as_str(), answer["replayOf"].as_i64()),
        (Some("accepted"), Some(first))
    );
    let user = ui.json("/api/users/user_r").await;
    assert_eq!(
        user["user"]["status"], "OPEN",
        "the replayed state is the newest"
    );
    let newest = ui.json("/api/deliveries?limit=1").await;
    assert_eq!(newest["deliveries"][0]["replayOf"], first);
    assert_eq!(newest["deliveries"][0]["remoteAddr"], "replay");

    let missing = send(
        client()
            .post(format!("{}/api/deliveries/999/replay", ui.ui_base))
            .bearer_auth(&ui.token),
    )
    .await;
    assert_eq!(missing.status, 404);
    ui.stop().await;
}

/// Reads Server-Sent Events from a raw connection: (event, id, data) triples.
struct Feed {
    lines: tokio::io::Lines<BufReader<tokio::net::TcpStream>>,
}

impl Feed {
    async fn open(ui: &Running, last_event_id: Option<i64>) -> Feed {
        let addr = ui.ui_base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /api/feed HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n{resume}\r\n",
            ui.token
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut lines = BufReader::new(stream).lines();
        let status = lines.next_line().await.unwrap().unwrap();
        assert!(status.contains("200"), "{status}");
        Feed { lines }
    }

    async fn next(&mut self) -> (String, i64, serde_json::Value) {
        let (mut event, mut id, mut data) = (String::new(), 0, String::new());
        let deadline = Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout(deadline, self.lines.next_line())
                .await
                .expect("an event in time")
                .unwrap()
                .unwrap();
            // Chunked transfer encoding puts size lines between the event lines.
            if let Some(value) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
                event = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                id = value.trim().parse().unwrap();
            } else if let Some(value) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                data = value.trim().to_owned();
            } else if line.is_empty() && !event.is_empty() {
                return (event, id, serde_json::from_str(&data).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn the_feed_pushes_each_commit_and_resumes_after_a_reconnect() {
    let ui = Running::start().await;
    post(&ui.webhook_url, flat("before_feed", "", "OPEN")).await;
    let mut feed = Feed::open(&ui, None).await;
    post(&ui.webhook_url, flat("user_f", "", "OPEN")).await;
    let (event, first_id, data) = feed.next().await;
    assert_eq!(event, "change");
    assert_eq!(
        data["externalId"], "user_f",
        "only changes after connecting"
    );
    assert_eq!(data["user"]["status"], "OPEN");
    post(&ui.webhook_url, b"{}".to_vec()).await;
    let (_, _, ping) = feed.next().await;
    assert_eq!(
        (ping["outcome"].as_str(), ping["externalId"].is_null()),
        (Some("ping"), true)
    );
    drop(feed);

    // While nobody follows, two more commits; a reconnect with Last-Event-ID gets both, in order.
    post(&ui.webhook_url, flat("user_f", "REVIEW", "ON_HOLD")).await;
    post(&ui.webhook_url, flat("user_g", "", "NOT_STARTED")).await;
    let mut resumed = Feed::open(&ui, Some(first_id + 1)).await;
    let (_, a, first) = resumed.next().await;
    let (_, b, second) = resumed.next().await;
    assert_eq!(
        (first["externalId"].as_str(), second["externalId"].as_str()),
        (Some("user_f"), Some("user_g"))
    );
    assert_eq!(first["user"]["status"], "ON_HOLD");
    assert!(a < b);
    post(&ui.webhook_url, flat("user_h", "", "OPEN")).await;
    assert_eq!(
        resumed.next().await.2["externalId"],
        "user_h",
        "and goes on live"
    );
    ui.stop().await;
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let ui = Running::start().await;
    let page = send(client().get(format!("{}/?token={}", ui.ui_base, ui.token))).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let script = page
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script tag");
    let asset = send(ui.get(script)).await;
    assert_eq!(asset.status, 200);
    assert!(asset.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(
        send(client().get(format!("{}/", ui.ui_base))).await.status,
        401,
        "no token, no page"
    );
    assert_eq!(send(ui.get("/nothing-here.js")).await.status, 404);
    ui.stop().await;
}

#[tokio::test]
async fn stats_give_totals_rates_median_and_the_last_hour() {
    let ui = Running::start().await;
    for body in [
        flat("a", "", "OPEN"),
        flat("b", "REJECT", "CLOSED"),
        flat("c", "ACCEPT", "CLOSED"),
        flat("d", "", "OPEN"),
        flat("a", "ACCEPT", "CLOSED"),
    ] {
        assert_eq!(post(&ui.webhook_url, body).await.status, 200);
    }
    assert_eq!(post(&ui.webhook_url, b"[]".to_vec()).await.status, 400);
    let stats = ui.json("/api/stats").await;
    assert_eq!(stats["totalUsers"], 4);
    assert_eq!(
        (
            stats["byStatus"]["CLOSED"].as_i64(),
            stats["byStatus"]["OPEN"].as_i64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(stats["byDecision"]["ACCEPT"], 2);
    let approval = stats["approvalRate"].as_f64().unwrap();
    let rejection = stats["rejectionRate"].as_f64().unwrap();
    assert!((approval - 2.0 / 3.0).abs() < 1e-9 && (rejection - 1.0 / 3.0).abs() < 1e-9);
    // b and c closed when first seen (0 ms), a later: the median of three is 0.
    assert_eq!(stats["medianTimeToCloseMs"], 0);
    let minutes = stats["perMinute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let sum = |key: &str| {
        minutes
            .iter()
            .map(|m| m[key].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!((sum("deliveries"), sum("rejected")), (6, 1));
    assert!(minutes
        .windows(2)
        .all(
            |w| w[1]["minuteStart"].as_i64().unwrap() - w[0]["minuteStart"].as_i64().unwrap()
                == 60_000
        ));
    ui.stop().await;
}

#[tokio::test]
async fn stats_on_an_empty_store_have_no_rates_and_no_median() {
    let ui = Running::start().await;
    let stats = ui.json("/api/stats").await;
    assert_eq!(stats["totalUsers"], 0);
    assert!(stats["approvalRate"].is_null() && stats["medianTimeToCloseMs"].is_null());
    ui.stop().await;
}

impl Running {
    async fn post_json(&self, path: &str, body: serde_json::Value) -> Answer {
        send(
            client()
                .post(format!("{}{path}", self.ui_base))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_register_view_registers_keeps_history_and_reconciles() {
    use kyc_monitor::provider::{Emulator, EmulatorConfig, FlowConfig, PrivateKey};
    let running = Running::start().await;
    let key = PrivateKey::generate();
    let emulator = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: "ui-partner".into(),
        public_key: key.public_key(),
        flows: FlowConfig {
            users: 2,
            speed: 200.0,
            ..FlowConfig::default()
        },
        validation_timeout: Duration::from_secs(2),
        rate_limit: 1000,
    })
    .await
    .unwrap();
    let key_path = running._scratch.dir.path().join("partner.pem");
    std::fs::write(&key_path, key.expose_pem()).unwrap();

    let before = running.json("/api/provider").await;
    assert_eq!(before["webhookUrl"], running.webhook_url.as_str());
    assert_eq!(before["profile"], serde_json::Value::Null);
    assert_eq!(before["registrations"], serde_json::json!([]));
    assert_eq!(
        before["environments"][0]["endpoints"]["tokenUrl"],
        "https://pmx-dev01.us.auth0.com/oauth/token"
    );
    assert_eq!(before["demoAllowed"], true);

    let reconcile = running
        .post_json("/api/reconcile", serde_json::json!({}))
        .await;
    assert_eq!(reconcile.status, 409, "{}", reconcile.body);
    assert!(reconcile.json()["message"]
        .as_str()
        .unwrap()
        .contains("register the webhook first"));

    let form = |key_path: &str, client_id: &str| {
        serde_json::json!({
            "environment": null, "apiBase": emulator.api_base(), "tokenUrl": emulator.token_url(),
            "clientId": client_id, "privateKeyPath": key_path,
            "webhookUrl": running.webhook_url, "signing": "none"
        })
    };
    let missing = running
        .post_json("/api/register", form("/nowhere/key.pem", "ui-partner"))
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["message"]
        .as_str()
        .unwrap()
        .contains("cannot read the key file /nowhere/key.pem"));

    let wrong_client = running
        .post_json("/api/register", form(key_path.to_str().unwrap(), "someone"))
        .await;
    assert_eq!(wrong_client.status, 502, "{}", wrong_client.body);
    assert!(wrong_client.json()["message"]
        .as_str()
        .unwrap()
        .contains("401"));

    let registered = running
        .post_json(
            "/api/register",
            form(key_path.to_str().unwrap(), "ui-partner"),
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    let answer = registered.json();
    assert_eq!(answer["attempt"]["validated"], true);
    assert_eq!(
        answer["attempt"]["message"],
        "Webhook URL validated successfully"
    );
    assert_eq!(answer["newSecretStored"], false);

    let after = running.json("/api/provider").await;
    assert_eq!(after["profile"]["clientId"], "ui-partner");
    assert_eq!(
        after["profile"]["endpoints"]["apiBase"],
        emulator.api_base()
    );
    let history: Vec<_> = after["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["validated"].clone())
        .collect();
    assert_eq!(
        history,
        vec![serde_json::json!(true), serde_json::Value::Null],
        "newest first; the failed ask kept"
    );
    assert!(
        !after.to_string().contains("BEGIN"),
        "no key material in the UI"
    );

    tokio::time::timeout(Duration::from_secs(60), emulator.finished())
        .await
        .unwrap();
    let reconcile = running
        .post_json("/api/reconcile", serde_json::json!({}))
        .await;
    assert_eq!(reconcile.status, 200, "{}", reconcile.body);
    assert_eq!(reconcile.json()["asked"], 0, "every demo user is CLOSED");
    emulator.stop().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_demo_runs_on_an_empty_database_and_refuses_one_with_real_users() {
    let running = Running::start().await;
    let started = running.post_json("/api/demo", serde_json::json!({})).await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert!(started.json()["apiBase"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let again = running.post_json("/api/demo", serde_json::json!({})).await;
    assert_eq!(
        again.status, 200,
        "a running demo is reported, not started twice"
    );
    assert_eq!(again.json()["apiBase"], started.json()["apiBase"]);
    let provider = running.json("/api/provider").await;
    assert_eq!(provider["demo"]["apiBase"], started.json()["apiBase"]);
    assert_eq!(provider["registrations"][0]["validated"], true);
    running.stop().await;

    let real = Running::start().await;
    assert_eq!(
        post(&real.webhook_url, flat("real-user", "", "OPEN"))
            .await
            .status,
        200
    );
    let refused = real.post_json("/api/demo", serde_json::json!({})).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .contains("kyc-monitor serve --demo"));
    assert_eq!(real.json("/api/provider").await["demoAllowed"], false);
    real.stop().await;
}

#[tokio::test]
async fn every_ui_answer_carries_the_security_headers() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[],
        &mut std::process::Command::new(BIN),
    );
    let (base, token) = monitor.ui();
    assert_eq!(
        post(&monitor.webhook_url, fixture("flat-open.json"))
            .await
            .status,
        200
    );

    let authorised = |request: reqwest::RequestBuilder| request.bearer_auth(&token);
    let url = |path: &str| format!("{base}{path}");
    let data_answers = [
        (
            "overview",
            authorised(client().get(url("/api/overview"))),
            200,
        ),
        (
            "user",
            authorised(client().get(url("/api/users/user_4821"))),
            200,
        ),
        (
            "deliveries",
            authorised(client().get(url("/api/deliveries"))),
            200,
        ),
        (
            "unknown user",
            authorised(client().get(url("/api/users/nobody"))),
            404,
        ),
        (
            "unknown API route",
            authorised(client().get(url("/api/nothing"))),
            404,
        ),
        (
            "unknown replay",
            authorised(client().post(url("/api/deliveries/999999/replay"))),
            404,
        ),
        (
            "wrong method",
            authorised(client().delete(url("/api/overview"))),
            405,
        ),
        ("no token", client().get(url("/api/overview")), 401),
        ("no token, page", client().get(url("/")), 401),
        (
            "foreign host",
            authorised(client().get(url("/api/overview"))).header("host", "evil.example"),
            403,
        ),
        (
            "foreign origin",
            authorised(client().get(url("/api/overview"))).header("origin", "http://evil.example"),
            403,
        ),
        (
            "missing file",
            authorised(client().get(url("/nothing-here.js"))),
            404,
        ),
    ];
    for (what, request, status) in data_answers {
        let answer = send(request).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
        assert!(
            header("content-type").starts_with("application/json"),
            "{what}"
        );
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
    }

    // The live feed: its own caching rule, the same protections.
    let feed = authorised(client().get(url("/api/feed")))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    assert_eq!(feed.headers()["x-content-type-options"], "nosniff");
    assert_eq!(feed.headers()["x-frame-options"], "DENY");
    drop(feed);

    // The page keeps its own policy (its scripts and styles still load) and caching.
    let page = send(client().get(format!("{base}/?token={token}"))).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("style-src 'self'"),
        "{policy}"
    );
    assert_eq!(page.headers["cache-control"], "no-cache");
    let script = page
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script tag");
    let asset = send(authorised(client().get(url(script)))).await;
    assert_eq!(asset.status, 200);
    assert_eq!(asset.headers["x-content-type-options"], "nosniff");
    assert!(asset.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn board_columns_take_the_review_queues_filters_and_count_what_they_let_through() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let held = |id: &str, decision: &str, sub_status: &str| {
        format!(
            r#"{{"externalId":"{id}","decision":"{decision}","status":"ON_HOLD","subStatus":"{sub_status}","participantId":"","account":""}}"#
        )
    };
    for body in [
        held("held_old", "REVIEW", "Document Request Initiated"),
        held("held_manual", "REVIEW", "Manual Review"),
        held("held_none", "", "Document Request Initiated"),
        held("held_new", "REVIEW", "Document Request Initiated"),
        flat("closed_yes", "ACCEPT", "CLOSED"),
        flat("closed_no", "REJECT", "CLOSED"),
    ] {
        assert_eq!(post(&monitor.webhook_url, body).await.status, 200);
    }
    assert_eq!(monitor.terminate(), 0);
    // Three hours ago, as far as the stored deliveries (the source of truth) tell: rebuilt.
    rusqlite::Connection::open(scratch.db())
        .unwrap()
        .execute(
            "UPDATE deliveries SET received_at = received_at - 3 * 3600 * 1000
              WHERE CAST(body AS TEXT) LIKE '%\"held_old\"%'",
            [],
        )
        .unwrap();
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    let ui = Running::start_in(scratch).await;

    let column = |query: &str| {
        let path = format!("/api/board/ON_HOLD{query}");
        let ui = &ui;
        async move {
            let page = ui.json(&path).await;
            let ids: Vec<String> = page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["externalId"].as_str().unwrap().to_owned())
                .collect();
            (page["total"].as_i64().unwrap(), ids)
        }
    };
    let (total, ids) = column("").await;
    assert_eq!(total, 4);
    assert_eq!(ids.last().map(String::as_str), Some("held_old"), "{ids:?}");
    assert_eq!(column("?decision=REVIEW").await.0, 3);
    assert_eq!(
        column("?decision=").await,
        (1, vec!["held_none".to_owned()]),
        "an empty decision is no decision"
    );
    assert_eq!(
        column("?subStatus=Manual%20Review").await,
        (1, vec!["held_manual".to_owned()])
    );
    assert_eq!(
        column("?minAgeMinutes=60").await,
        (1, vec!["held_old".to_owned()])
    );
    assert_eq!(
        column("?decision=REVIEW&subStatus=Document%20Request%20Initiated").await,
        (2, vec!["held_new".to_owned(), "held_old".to_owned()])
    );
    assert_eq!(
        column("?decision=REVIEW&minAgeMinutes=60&subStatus=Manual%20Review").await,
        (0, vec![])
    );
    let closed = ui.json("/api/board/CLOSED?decision=ACCEPT").await;
    assert_eq!(closed["total"], 1);
    assert_eq!(closed["users"][0]["externalId"], "closed_yes");

    // Filtered pages continue where the last one stopped, and the count stays the filter's.
    let first = ui.json("/api/board/ON_HOLD?decision=REVIEW&limit=2").await;
    let next = &first["next"];
    let rest = ui
        .json(&format!(
            "/api/board/ON_HOLD?decision=REVIEW&limit=2&afterSince={}&afterId={}",
            next["afterSince"],
            next["afterId"].as_str().unwrap()
        ))
        .await;
    let paged: Vec<_> = [&first, &rest]
        .iter()
        .flat_map(|page| page["users"].as_array().unwrap().clone())
        .map(|u| u["externalId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paged, ["held_new", "held_manual", "held_old"]);
    assert_eq!(
        (first["total"].as_i64(), rest["total"].as_i64()),
        (Some(3), Some(3))
    );

    let mismatch = send(ui.get("/api/board/ON_HOLD?status=OPEN")).await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_has_the_one_error_body_whatever_refused_it() {
    let ui = Running::start().await;
    let base = ui.ui_base.clone();
    let post = |path: &str, body: Vec<u8>| {
        client()
            .post(format!("{base}{path}"))
            .bearer_auth(&ui.token)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (
            "no token",
            client().get(format!("{base}/api/overview")),
            401,
            "unauthorized",
            "ui: line",
        ),
        (
            "another site",
            ui.get("/api/overview")
                .header("origin", "http://evil.example"),
            403,
            "forbidden",
            "other sites",
        ),
        (
            "no such route",
            ui.get("/api/nothing-here"),
            404,
            "notFound",
            "no such API route",
        ),
        (
            "no such user",
            ui.get("/api/users/nobody"),
            404,
            "notFound",
            "nobody",
        ),
        (
            "wrong method",
            client()
                .delete(format!("{base}/api/overview"))
                .bearer_auth(&ui.token),
            405,
            "invalid",
            "DELETE",
        ),
        (
            "malformed query",
            ui.get("/api/deliveries?limit=lots"),
            400,
            "invalid",
            "the request is not what this route takes",
        ),
        (
            "malformed JSON",
            post("/api/backup", b"{\"path\":".to_vec()),
            400,
            "invalid",
            "the request is not what this route takes",
        ),
        (
            "JSON of the wrong shape",
            post("/api/backup", b"{\"path\": 7}".to_vec()),
            400,
            "invalid",
            "the request is not what this route takes",
        ),
        (
            "a body over the limit",
            // Just over the 1 MiB: a body much larger may still be on its way when the refusal
            // closes the connection, and the client then sees a broken pipe, not the answer.
            post("/api/backup", vec![b' '; 1024 * 1024 + 1]),
            413,
            "invalid",
            "over what the UI API takes",
        ),
        (
            "a refusal of the core",
            post("/api/backup", b"{\"path\": \"relative.db\"}".to_vec()),
            400,
            "invalid",
            "not an absolute path",
        ),
    ];
    for (case, request, status, code, says) in cases {
        let answer = send(request).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert_eq!(
            answer.headers["content-type"], "application/json",
            "{case}: {}",
            answer.body
        );
        let body = answer.json();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "message"], "{case}: {body}");
        assert_eq!(body["code"], code, "{case}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{case}: {body}"
        );
    }
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_counts_every_late_case_not_only_the_listed_ones() {
    let scratch = Scratch::new();
    {
        // 130 users on hold for review for two days (late: over the default review SLA of a
        // day), 20 for a minute, written as if they had arrived then.
        let store = kyc_monitor::store::Store::open(&scratch.db()).unwrap();
        let writer = store.start_writer().unwrap();
        let now = kyc_monitor::time::now_millis();
        for n in 0..150_i64 {
            let (user, waited) = match n < 130 {
                true => (format!("late_{n:03}"), 2 * 24 * 60 * 60 * 1000 + n),
                false => (format!("fresh_{n:03}"), 60 * 1000),
            };
            let delivery = delivery_at(now - waited, flat(&user, "REVIEW", "ON_HOLD"));
            writer.record(delivery).await.unwrap();
        }
        writer.projected(std::time::Duration::from_secs(30)).await;
        writer.finish().await;
    }
    let ui = Running::start_in(scratch).await;
    let page = ui.json("/api/review?limit=100").await;
    assert_eq!(page["users"].as_array().unwrap().len(), 100);
    assert_eq!(page["reviewSlaMs"], 24 * 60 * 60 * 1000, "{page}");
    assert_eq!(page["settings"].get("warnAfterMinutes"), None, "{page}");
    assert_eq!(
        (&page["total"], &page["overSla"]),
        (&150.into(), &130.into()),
        "{page}"
    );
    // Under a filter, both count what it lets through.
    let page = ui.json("/api/review?minAgeMinutes=120&limit=10").await;
    assert_eq!(page["users"].as_array().unwrap().len(), 10);
    assert_eq!(
        (&page["total"], &page["overSla"]),
        (&130.into(), &130.into()),
        "{page}"
    );
    ui.stop().await;
}
