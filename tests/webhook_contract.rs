//! The webhook listener's answers, row by row as CONTRACT.md lists them, against the real
//! binary over real HTTP with a real SQLite file.

mod support;

use support::*;

#[tokio::test]
async fn new_state_is_accepted_stored_and_looked_up() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let answer = post(&monitor.webhook_url, fixture("flat-accepted.json")).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );
    assert_eq!(answer.headers["content-type"], "application/json");

    let user = lookup(&scratch.db(), "user_4821").expect("user stored");
    assert_eq!(user["decision"], "ACCEPT");
    assert_eq!(user["status"], "CLOSED");
    assert_eq!(
        user["participantId"],
        "firms/ISV-Participant-Acme/users/user_4821"
    );
    assert_eq!(user["account"], "firms/ISV-Acme/accounts/7c1e9a02b4d6");
    assert_eq!(user["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_users_journey_is_kept_in_order() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    for name in [
        "flat-not-started.json",
        "flat-open.json",
        "flat-docs-requested.json",
        "flat-accepted.json",
    ] {
        assert_eq!(
            post(&monitor.webhook_url, fixture(name)).await.status,
            200,
            "{name}"
        );
    }
    let user = lookup(&scratch.db(), "user_4821").unwrap();
    let statuses: Vec<&str> = user["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"]);
    assert_eq!(user["events"][2]["subStatus"], "Document Request Initiated");
    assert_eq!(user["events"][2]["decision"], "REVIEW");
    assert_eq!(user["status"], "CLOSED");
}

#[tokio::test]
async fn identical_state_is_a_duplicate_kept_and_marked() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    post(&monitor.webhook_url, fixture("flat-open.json")).await;
    let again = post(&monitor.webhook_url, fixture("flat-open.json")).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (200, r#"{"received":true,"duplicate":true}"#)
    );

    // Same user, one field different: a new state, not a duplicate.
    let changed = String::from_utf8(fixture("flat-open.json"))
        .unwrap()
        .replace("pending", "pending documents");
    let answer = post(&monitor.webhook_url, changed).await;
    assert_eq!(answer.body, r#"{"received":true}"#);

    let user = lookup(&scratch.db(), "user_4821").unwrap();
    let duplicates: Vec<bool> = user["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["duplicate"].as_bool().unwrap())
        .collect();
    assert_eq!(duplicates, [false, true, false]);
    let users = export_jsonl(&scratch.db(), "users");
    assert_eq!(users[0]["eventCount"], 3);
}

#[tokio::test]
async fn envelope_form_is_understood_and_repeated_event_ids_are_duplicates() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let answer = post(&monitor.webhook_url, fixture("envelope-approved.json")).await;
    assert_eq!(answer.body, r#"{"received":true}"#);
    let user = lookup(&scratch.db(), "user_6630").unwrap();
    assert_eq!(
        (user["decision"].as_str(), user["status"].as_str()),
        (Some("ACCEPT"), Some("CLOSED"))
    );
    assert_eq!(
        user["participantId"],
        "firms/ISV-Participant-Acme/users/user_6630"
    );
    assert_eq!(user["account"], "firms/ISV-Acme/accounts/0b93f7de1a52");
    assert_eq!(user["subStatus"], "");

    let rejected = post(&monitor.webhook_url, fixture("envelope-rejected.json")).await;
    assert_eq!(rejected.body, r#"{"received":true}"#);
    assert_eq!(
        lookup(&scratch.db(), "user_6631").unwrap()["decision"],
        "REJECT"
    );

    // The same event_id again, even with another body, is a redelivery.
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("envelope-approved.json")).unwrap();
    body["data"]["provisioned_account"] = "firms/ISV-Acme/accounts/changed".into();
    let again = post(&monitor.webhook_url, body.to_string()).await;
    assert_eq!(again.body, r#"{"received":true,"duplicate":true}"#);
    assert_eq!(
        lookup(&scratch.db(), "user_6630").unwrap()["account"],
        "firms/ISV-Acme/accounts/0b93f7de1a52"
    );

    // Another event type naming a user keeps data.status verbatim.
    let other = r#"{"event_type":"kyc.resubmit","event_id":"evt_x","data":{"external_id":"user_7","status":"KYC_STATUS_RESUBMIT"}}"#;
    assert_eq!(post(&monitor.webhook_url, other).await.status, 200);
    let user = lookup(&scratch.db(), "user_7").unwrap();
    assert_eq!(
        (user["decision"].as_str(), user["status"].as_str()),
        (Some(""), Some("KYC_STATUS_RESUBMIT"))
    );
}

#[tokio::test]
async fn validation_and_test_requests_are_pings() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{}".to_vec(),
        br#"{"hello":"world"}"#.to_vec(),
        fixture("envelope-test.json"),
    ];
    for body in bodies {
        let answer = post(&monitor.webhook_url, body.clone()).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, r#"{"received":true,"ping":true}"#),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(
        export_jsonl(&scratch.db(), "users").is_empty(),
        "a ping names no user"
    );
    let outcomes: Vec<String> = export_jsonl(&scratch.db(), "deliveries")
        .iter()
        .map(|d| d["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["ping"; 4]);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_with_a_reason() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let bodies: [&[u8]; 7] = [
        b"{",
        b"not json",
        b"[1,2]",
        b"42",
        b"\"text\"",
        b"null",
        b"\xff\xfe\x00{",
    ];
    for body in bodies {
        let answer = post(&monitor.webhook_url, body.to_vec()).await;
        assert_eq!(answer.status, 400, "{body:?}");
        assert_eq!(answer.headers["content-type"], "application/json");
        let error = answer.json()["error"]
            .as_str()
            .expect("an error sentence")
            .to_owned();
        assert!(error.contains("send the notification"), "{error}");
    }
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert_eq!(deliveries.len(), 7, "refused requests are still recorded");
    assert!(deliveries
        .iter()
        .all(|d| d["outcome"] == "rejected" && d["httpStatus"] == 400));
    // The invalid UTF-8 body is kept byte for byte.
    assert_eq!(deliveries[6]["bodyBase64"], "//4Aew==");
}

#[tokio::test]
async fn unusable_fields_are_422_with_the_field_named() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    for (body, named) in [
        (r#"{"externalId":null,"status":"OPEN"}"#, "externalId"),
        (r#"{"externalId":"","status":"OPEN"}"#, "externalId"),
        (r#"{"externalId":42}"#, "externalId"),
        (r#"{"externalId":["u"]}"#, "externalId"),
        (r#"{"externalId":"u1","status":7}"#, "status"),
        (r#"{"externalId":"u1","decision":true}"#, "decision"),
        (r#"{"externalId":"u1","subStatus":{}}"#, "subStatus"),
        (r#"{"externalId":"u1","participantId":1}"#, "participantId"),
        (r#"{"externalId":"u1","account":[]}"#, "account"),
        (
            r#"{"event_type":"kyc.approved","data":{}}"#,
            "data.external_id",
        ),
        (
            r#"{"event_type":"kyc.approved","data":{"external_id":""}}"#,
            "data.external_id",
        ),
        (r#"{"event_type":"kyc.approved"}"#, "data.external_id"),
    ] {
        let answer = post(&monitor.webhook_url, body).await;
        assert_eq!(answer.status, 422, "{body}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with(named), "{body}: {error}");
    }
    assert!(export_jsonl(&scratch.db(), "users").is_empty());
    assert_eq!(export_jsonl(&scratch.db(), "deliveries").len(), 12);
}

#[tokio::test]
async fn unknown_values_and_fields_are_kept_verbatim() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let body = r#"{"externalId":"u<img src=x>","decision":"ESCALATE","status":"FROZEN","subStatus":"é ✓","riskScore":0.7}"#;
    assert_eq!(
        post(&monitor.webhook_url, body).await.body,
        r#"{"received":true}"#
    );
    let user = lookup(&scratch.db(), "u<img src=x>").unwrap();
    assert_eq!(
        (user["decision"].as_str(), user["status"].as_str()),
        (Some("ESCALATE"), Some("FROZEN"))
    );
    assert_eq!(user["subStatus"], "é ✓");
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert_eq!(
        deliveries[0]["body"], body,
        "extra fields stay in the raw body"
    );
}

#[tokio::test]
async fn content_type_is_not_required() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
    ] {
        let body = flat(&format!("user_{content_type}"), "", "OPEN");
        let answer = send(
            client()
                .post(&monitor.webhook_url)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
        assert_eq!(answer.status, 200, "{content_type}");
    }
    assert_eq!(export_jsonl(&scratch.db(), "users").len(), 3);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_recorded_without_the_body() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--max-body", "1K"]);
    let exactly = format!(
        r#"{{"externalId":"u1","status":"OPEN","pad":"{}"}}"#,
        "x".repeat(1024 - 44)
    );
    assert_eq!(exactly.len(), 1024);
    assert_eq!(
        post(&monitor.webhook_url, exactly).await.status,
        200,
        "the limit itself is allowed"
    );

    let big = format!(r#"{{"externalId":"u2","pad":"{}"}}"#, "x".repeat(2000));
    let answer = post(&monitor.webhook_url, big.clone()).await;
    assert_eq!(answer.status, 413);
    assert!(answer.json()["error"]
        .as_str()
        .unwrap()
        .contains("--max-body"));

    // Without a Content-Length (chunked), the limit holds too.
    let path = monitor
        .webhook_url
        .trim_start_matches(&monitor.base_url())
        .to_owned();
    let half = big.len() / 2;
    let chunked = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        half,
        &big[..half],
        big.len() - half,
        &big[half..]
    );
    let answer = raw_http(&monitor.base_url(), chunked.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert_eq!(deliveries.len(), 3);
    for refused in &deliveries[1..] {
        assert_eq!(
            (refused["outcome"].as_str(), refused["httpStatus"].as_i64()),
            (Some("rejected"), Some(413))
        );
        assert!(refused["body"].is_null() && refused["bodyBase64"].is_null());
    }
    assert_eq!(deliveries[1]["bodySize"], big.len());
    assert!(lookup(&scratch.db(), "u2").is_none());
}

#[tokio::test]
async fn reachability_checks_methods_and_paths() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let url = &monitor.webhook_url;
    assert_eq!(send(client().get(url)).await.status, 200);
    let head = send(client().head(url)).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let answer = send(client().request(method.parse().unwrap(), url)).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.headers["allow"], "GET, HEAD, POST");
        assert!(answer.json()["error"].as_str().unwrap().contains("POST"));
    }
    let base = monitor.base_url();
    for path in [
        "/",
        "/kyc-webhook",
        "/kyc-webhook/",
        "/kyc-webhook/wrong-token",
        "/api/users",
        &format!("{}/x", url.trim_start_matches(&base)),
    ] {
        let answer = post(&format!("{base}{path}"), flat("intruder", "", "OPEN")).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.headers["content-type"], "application/json");
    }
    let outcomes: Vec<(String, i64)> = export_jsonl(&scratch.db(), "deliveries")
        .iter()
        .map(|d| {
            (
                d["outcome"].as_str().unwrap().to_owned(),
                d["httpStatus"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![("ping".to_owned(), 200), ("ping".to_owned(), 200)];
    expected.extend(std::iter::repeat_n(("rejected".to_owned(), 405), 4));
    assert_eq!(
        outcomes, expected,
        "only requests to the webhook path are recorded"
    );
    assert!(lookup(&scratch.db(), "intruder").is_none());
}

#[tokio::test]
async fn the_webhook_token_is_long_random_and_stable_across_restarts() {
    let scratch = Scratch::new();
    let first = Monitor::start(&scratch.db(), &[]);
    let url = first.webhook_url.clone();
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(
        token.len() * 4 >= 128 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(first.terminate(), 0);

    let second = Monitor::start(&scratch.db(), &[]);
    assert_eq!(second.webhook_url.rsplit('/').next().unwrap(), token);
    let other = Scratch::new();
    let elsewhere = Monitor::start(&other.db(), &[]);
    assert_ne!(
        elsewhere.webhook_url.rsplit('/').next().unwrap(),
        token,
        "each database has its own"
    );
}

#[tokio::test]
async fn no_webhook_token_serves_the_bare_path() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--no-webhook-token"]);
    assert!(
        monitor.webhook_url.ends_with("/kyc-webhook"),
        "{}",
        monitor.webhook_url
    );
    assert_eq!(
        post(&monitor.webhook_url, fixture("flat-open.json"))
            .await
            .status,
        200
    );
    let token_path = format!("{}/abc", monitor.webhook_url);
    assert_eq!(
        post(&token_path, fixture("flat-open.json")).await.status,
        404
    );
}

#[tokio::test]
async fn every_delivery_keeps_time_remote_address_headers_and_outcome() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let before = kyc_monitor::time::now_millis();
    send(
        client()
            .post(&monitor.webhook_url)
            .header("x-trace", "t-1")
            .header("authorization", "Bearer sekrit")
            .body(fixture("flat-open.json")),
    )
    .await;
    let delivery = &export_jsonl(&scratch.db(), "deliveries")[0];
    assert_eq!(delivery["outcome"], "accepted");
    assert_eq!(delivery["httpStatus"], 200);
    assert!(delivery["error"].is_null());
    assert!(delivery["remoteAddr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let headers = delivery["headers"].as_array().unwrap();
    assert!(headers.iter().any(|h| h[0] == "x-trace" && h[1] == "t-1"));
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "authorization" && h[1] == "[redacted]"),
        "credentials are not stored"
    );
    assert!(!database_files_contain(&scratch.db(), b"sekrit"));
    let received = delivery["receivedAt"].as_str().unwrap();
    assert!(
        received.ends_with('Z') && received.len() == 24,
        "{received}"
    );
    assert!(received >= kyc_monitor::time::rfc3339_millis(before).as_str());
}

#[tokio::test]
async fn hostile_bodies_are_refused_without_harm() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &["--max-body", "64k"]);
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    assert_eq!(post(&monitor.webhook_url, deep).await.status, 400);
    let deep_object = format!(
        r#"{{"externalId":"u","x":{}1{}}}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    assert_eq!(post(&monitor.webhook_url, deep_object).await.status, 400);
    let long_id = format!(
        r#"{{"externalId":"{}","status":"OPEN"}}"#,
        "x".repeat(60_000)
    );
    assert_eq!(post(&monitor.webhook_url, long_id).await.status, 200);
    let nul = "{\"externalId\":\"a\\u0000b\",\"status\":\"OPEN\"}";
    assert_eq!(post(&monitor.webhook_url, nul).await.status, 200);
    // A NUL cannot travel in argv, so the export shows it was kept.
    assert!(export_jsonl(&scratch.db(), "users")
        .iter()
        .any(|u| u["externalId"] == "a\u{0}b"));
    // Still serving.
    assert_eq!(
        post(&monitor.webhook_url, fixture("flat-open.json"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn ctrl_c_stops_gracefully_too() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    assert_eq!(
        post(&monitor.webhook_url, fixture("flat-open.json"))
            .await
            .status,
        200
    );
    let mut monitor = monitor;
    signal(&monitor.child, "INT");
    let status = monitor.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(lookup(&scratch.db(), "user_4821").is_some());
}

/// Standard Webhooks signing done here, independently of the monitor's own code.
struct Sender {
    key: [u8; 32],
}

impl Sender {
    fn new() -> Sender {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).unwrap();
        Sender { key }
    }

    fn secret(&self) -> String {
        use base64::Engine;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(self.key)
        )
    }

    async fn post(&self, url: &str, webhook_id: &str, body: &str) -> Answer {
        use base64::Engine;
        use hmac::Mac;
        let timestamp = kyc_monitor::time::now_millis() / 1000;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key).unwrap();
        mac.update(format!("{webhook_id}.{timestamp}.{body}").as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        send(
            client()
                .post(url)
                .header("webhook-id", webhook_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", format!("v1,{signature}"))
                .body(body.to_owned()),
        )
        .await
    }
}

/// The kept counters agree with the users they count.
fn assert_counters_match_users(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let rows = |sql: &str| -> Vec<(String, String, i64)> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        rows("SELECT status, decision, users FROM user_counts WHERE users != 0 ORDER BY 1, 2"),
        rows("SELECT status, decision, count(*) FROM users GROUP BY 1, 2 ORDER BY 1, 2"),
    );
    let (closed_counted, closed): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT coalesce(sum(users), 0) FROM close_times),
                    (SELECT count(*) FROM users WHERE status = 'CLOSED')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(closed_counted, closed);
}

const DUPLICATE: &str = r#"{"received":true,"duplicate":true}"#;

#[tokio::test]
async fn a_replayed_webhook_id_never_creates_or_changes_a_user() {
    let scratch = Scratch::new();
    let sender = Sender::new();
    let monitor = Monitor::start(&scratch.db(), &["--signing-secret", &sender.secret()]);
    let url = &monitor.webhook_url;
    let first = sender.post(url, "msg_1", &flat("alice", "", "OPEN")).await;
    assert_eq!(first.body, r#"{"received":true}"#);

    // The same verified id with a body naming someone else: a redelivery, not a new user.
    let other = sender
        .post(url, "msg_1", &flat("mallory", "ACCEPT", "CLOSED"))
        .await;
    assert_eq!((other.status, other.body.as_str()), (200, DUPLICATE));
    assert!(lookup(&scratch.db(), "mallory").is_none());
    // Naming the same user with another state: counted as seen, the state unchanged.
    let changed = sender
        .post(url, "msg_1", &flat("alice", "REJECT", "CLOSED"))
        .await;
    assert_eq!(changed.body, DUPLICATE);

    let alice = lookup(&scratch.db(), "alice").unwrap();
    assert_eq!(
        (alice["status"].as_str(), alice["decision"].as_str()),
        (Some("OPEN"), Some(""))
    );
    let events = alice["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["duplicate"], true);
    assert_eq!(alice["lastSeenAt"], events[1]["receivedAt"]);
    let users = export_jsonl(&scratch.db(), "users");
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["eventCount"], 2);
    let outcomes: Vec<_> = export_jsonl(&scratch.db(), "deliveries")
        .iter()
        .map(|d| d["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["accepted", "duplicate", "duplicate"]);
    assert!(export_jsonl(&scratch.db(), "deliveries")[1]["body"]
        .as_str()
        .unwrap()
        .contains("mallory"));
    assert_counters_match_users(&scratch.db());

    let live = (
        export_jsonl(&scratch.db(), "users"),
        export_jsonl(&scratch.db(), "events"),
    );
    drop(monitor);
    let rebuilt = cli(&scratch.db(), &["rebuild"]);
    assert!(rebuilt.status.success());
    assert!(
        stdout(&rebuilt).contains("from 2 deliveries"),
        "{}",
        stdout(&rebuilt)
    );
    assert_eq!(export_jsonl(&scratch.db(), "users"), live.0);
    assert_eq!(export_jsonl(&scratch.db(), "events"), live.1);
    assert_counters_match_users(&scratch.db());
}

#[tokio::test]
async fn a_repeated_event_id_naming_a_new_user_creates_no_user() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let envelope = |user: &str, event_type: &str| {
        serde_json::json!({
            "event_type": event_type, "event_id": "evt_1", "event_time": "2026-11-26T10:00:00Z",
            "data": {"external_id": user, "status": "KYC_STATUS_APPROVED"}
        })
        .to_string()
    };
    let first = post(&monitor.webhook_url, envelope("bob", "kyc.approved")).await;
    assert_eq!(first.body, r#"{"received":true}"#);
    let again = post(&monitor.webhook_url, envelope("carol", "kyc.rejected")).await;
    assert_eq!((again.status, again.body.as_str()), (200, DUPLICATE));
    assert!(lookup(&scratch.db(), "carol").is_none());
    // carol's first real delivery makes her known, with that delivery as her first event.
    let real = r#"{"event_type":"kyc.rejected","event_id":"evt_2","data":{"external_id":"carol"}}"#;
    assert_eq!(
        post(&monitor.webhook_url, real).await.body,
        r#"{"received":true}"#
    );
    let carol = lookup(&scratch.db(), "carol").unwrap();
    assert_eq!(carol["events"].as_array().unwrap().len(), 1);
    assert_eq!(carol["events"][0]["duplicate"], false);
    assert_eq!(carol["decision"], "REJECT");
    assert_eq!(export_jsonl(&scratch.db(), "events").len(), 2);
    assert_counters_match_users(&scratch.db());

    let live = (
        export_jsonl(&scratch.db(), "users"),
        export_jsonl(&scratch.db(), "events"),
    );
    drop(monitor);
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(export_jsonl(&scratch.db(), "users"), live.0);
    assert_eq!(export_jsonl(&scratch.db(), "events"), live.1);
    assert_counters_match_users(&scratch.db());
}

#[tokio::test]
async fn credentials_in_headers_are_never_stored() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let secrets = [
        ("X-Api-Key", "secret-value-api-key"),
        ("X-AUTH-TOKEN", "secret-value-auth-token"),
        ("Client-Secret", "secret-value-client-secret"),
        ("Set-Cookie", "secret-value-set-cookie"),
        ("X-Session-Id", "secret-value-session"),
        ("X-Db-Password", "secret-value-password"),
        ("Proxy-Authorization", "Basic secret-value-proxy"),
        ("Authorization", "Bearer secret-value-bearer"),
        ("Cookie", "sid=secret-value-cookie"),
        ("x-amz-security-token", "secret-value-amz"),
        ("X-Hub-Key-Id", "secret-value-mixed-case"),
    ];
    let mut request = client()
        .post(&monitor.webhook_url)
        .header("X-Trace", "t-1")
        .header("webhook-id", "msg_kept")
        .header("webhook-timestamp", "1700000000")
        .header("webhook-signature", "v1,c2lnbmF0dXJl")
        .header("svix-id", "msg_svix");
    for (name, value) in secrets {
        request = request.header(name, value);
    }
    assert_eq!(
        send(request.body(fixture("flat-open.json"))).await.status,
        200
    );
    drop(monitor);

    let delivery = &export_jsonl(&scratch.db(), "deliveries")[0];
    let headers: Vec<(String, String)> = delivery["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    let stored = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    for (name, _) in secrets {
        assert_eq!(stored(name), Some("[redacted]"), "{name} in {headers:?}");
    }
    assert_eq!(stored("x-trace"), Some("t-1"));
    assert_eq!(stored("webhook-id"), Some("msg_kept"));
    assert_eq!(stored("webhook-timestamp"), Some("1700000000"));
    assert_eq!(stored("webhook-signature"), Some("v1,c2lnbmF0dXJl"));
    assert_eq!(stored("svix-id"), Some("msg_svix"));
    assert!(!database_files_contain(&scratch.db(), b"secret-value"));
}

#[tokio::test]
async fn headers_over_16_kib_are_cut_and_the_cut_is_marked() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    // About 50 KB of headers: within what the listener reads (64 KiB), three times what it keeps.
    let mut request = client()
        .post(&monitor.webhook_url)
        .header("webhook-id", "msg_big");
    for i in 0..12 {
        request = request.header(format!("x-filler-{i:02}"), "f".repeat(4000));
    }
    let request = request.header("x-api-key", format!("late-secret-{}", "s".repeat(100)));
    let answer = send(request.body(fixture("flat-open.json"))).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );
    assert!(lookup(&scratch.db(), "user_4821").is_some());
    drop(monitor);

    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let stored: String = conn
        .query_row("SELECT headers FROM deliveries", [], |r| r.get(0))
        .unwrap();
    assert!(stored.len() <= 16 * 1024, "{} bytes stored", stored.len());
    let pairs: Vec<(String, String)> = serde_json::from_str(&stored).unwrap();
    assert!(pairs
        .iter()
        .any(|(n, v)| n == "webhook-id" && v == "msg_big"));
    assert!(
        pairs
            .iter()
            .filter(|(n, _)| n.starts_with("x-filler-"))
            .count()
            >= 3
    );
    let (mark_name, mark) = pairs.last().unwrap();
    assert_eq!(mark_name, "[cut]", "{pairs:?}");
    assert!(
        mark.contains("headers") && mark.contains("left out") && mark.contains("16384"),
        "{mark}"
    );
    assert!(!database_files_contain(&scratch.db(), b"late-secret"));
}
