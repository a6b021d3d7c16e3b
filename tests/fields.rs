//! The newer envelope's own fields (issue 24, items 4 and 6), through the real listener: the
//! rejection reason and the provider's `status_set_at` in `lookup --json`, the exports and the
//! user page, kept by `rebuild`; the stats' time in a status counted from the provider's time;
//! and stats that pings, a replay from the inspector and a polled confirmation leave alone.

mod support;

use std::time::Duration;

use kyc_monitor::store::Store;
use serde_json::{json, Value};
use support::*;

const REJECTED: &str = "user_6631";
const APPROVED: &str = "user_6630";

fn stats_tables(db: &std::path::Path) -> Vec<(String, i64, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT 'stay ' || status, bucket, users FROM status_stays",
        "SELECT 'reached ' || status, 0, users FROM status_reached",
        "SELECT 'decided ' || decision, day, users FROM decision_days",
    ] {
        let mut statement = conn.prepare(sql).unwrap();
        let found = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .map(Result::unwrap);
        rows.extend(found);
    }
    rows.sort();
    rows
}

async fn projected(db: &std::path::Path) {
    let reader = Store::open(db).unwrap().reader().unwrap();
    assert_eq!(reader.settle(Duration::from_secs(5)).unwrap(), 0);
}

fn by_id<'a>(rows: &'a [Value], external_id: &str) -> &'a Value {
    rows.iter()
        .find(|row| row["externalId"] == external_id)
        .unwrap_or_else(|| panic!("no {external_id} in {rows:?}"))
}

#[tokio::test]
async fn the_rejection_reason_and_the_providers_time_reach_lookup_exports_and_a_rebuild() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let monitor = Monitor::start(&db, &[]);
    for name in ["envelope-rejected.json", "envelope-approved.json"] {
        assert_eq!(post(&monitor.webhook_url, fixture(name)).await.status, 200);
    }
    projected(&db).await;

    let rejected = lookup(&db, REJECTED).expect("the rejected user");
    assert_eq!(
        rejected["rejectionReason"],
        "identity could not be verified"
    );
    assert_eq!(rejected["statusSetAt"], "2026-11-26T14:05:39.660Z");
    assert_eq!(
        rejected["events"][0]["rejectionReason"],
        "identity could not be verified"
    );
    assert_eq!(
        rejected["events"][0]["statusSetAt"],
        "2026-11-26T14:05:39.660Z"
    );
    let approved = lookup(&db, APPROVED).expect("the approved user");
    assert_eq!(approved["rejectionReason"], Value::Null);
    assert_eq!(approved["statusSetAt"], "2026-11-26T14:03:11.902Z");

    // The exports name them as the user page does.
    let users = export_jsonl(&db, "users");
    assert_eq!(
        by_id(&users, REJECTED)["rejectionReason"],
        "identity could not be verified"
    );
    assert_eq!(
        by_id(&users, APPROVED)["statusSetAt"],
        "2026-11-26T14:03:11.902Z"
    );
    let events = export_jsonl(&db, "events");
    assert_eq!(
        by_id(&events, REJECTED)["statusSetAt"],
        "2026-11-26T14:05:39.660Z"
    );
    let csv = stdout(&cli(&db, &["export", "users"]));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let reason = header.iter().position(|c| *c == "rejectionReason").unwrap();
    let set_at = header.iter().position(|c| *c == "statusSetAt").unwrap();
    let row: Vec<&str> = lines
        .find(|line| line.starts_with(REJECTED))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(
        (row[reason], row[set_at]),
        ("identity could not be verified", "2026-11-26T14:05:39.660Z")
    );
    let events_csv = stdout(&cli(&db, &["export", "events"]));
    assert!(
        events_csv
            .lines()
            .next()
            .unwrap()
            .ends_with(",rejectionReason,statusSetAt,source"),
        "{events_csv}"
    );
    assert_eq!(monitor.terminate(), 0);

    // A rebuild from the journal alone gives the same users and events.
    let rebuilt = cli(&db, &["rebuild"]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert_eq!(export_jsonl(&db, "users"), users);
    assert_eq!(export_jsonl(&db, "events"), events);

    // A database from before the newer fields gets them from its stored bodies when opened.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "ALTER TABLE events DROP COLUMN rejection_reason; ALTER TABLE events DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN rejection_reason; ALTER TABLE users DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN stay_from; DROP TABLE case_notes; DROP TABLE cases;
         PRAGMA user_version = 11;",
    )
    .unwrap();
    drop(conn);
    Store::open(&db).unwrap();
    assert_eq!(export_jsonl(&db, "users"), users);
    assert_eq!(export_jsonl(&db, "events"), events);
}

fn envelope_rejected(external_id: &str, event_id: &str, set_at: i64) -> String {
    json!({
        "event_type": "kyc.rejected", "event_id": event_id,
        "event_time": kyc_monitor::time::rfc3339_millis(set_at + 2_000),
        "data": {
            "external_id": external_id, "status": "KYC_STATUS_REJECTED",
            "status_set_at": kyc_monitor::time::rfc3339_millis(set_at),
            "rejection_reason": "document expired", "date_of_birth": "1961-07-04"
        }
    })
    .to_string()
}

fn millis(rfc3339: &Value) -> i64 {
    kyc_monitor::kyc::parse_time(rfc3339.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn time_in_status_runs_on_the_providers_time_and_pings_replays_and_polled_confirmations_count_nowhere(
) {
    let scratch = Scratch::new();
    let db = scratch.db();
    // Logging all it can, to show that no personal data reaches the log.
    let log = scratch.dir.path().join("serve.log");
    let mut monitor = Monitor::start_with(
        &db,
        true,
        &[],
        std::process::Command::new(BIN)
            .env("RUST_LOG", "debug")
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let (base, token) = monitor.ui();
    let api = |path: String| {
        let request = client().get(format!("{base}{path}")).bearer_auth(&token);
        async move { send(request).await.json() }
    };

    // OPEN on arrival; CLOSED as the provider set it 300 ms later, told well over a second on.
    assert_eq!(
        post(&monitor.webhook_url, flat("late_news", "", "OPEN"))
            .await
            .status,
        200
    );
    projected(&db).await;
    let opened = millis(&lookup(&db, "late_news").unwrap()["events"][0]["receivedAt"]);
    let wait = (opened + 1_500 - kyc_monitor::time::now_millis()).max(0);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    let body = envelope_rejected("late_news", "evt_late", opened + 300);
    assert_eq!(post(&monitor.webhook_url, body).await.status, 200);
    projected(&db).await;
    let closed = lookup(&db, "late_news").unwrap();
    assert!(millis(&closed["events"][1]["receivedAt"]) >= opened + 1_500);

    let stats = api("/api/stats".into()).await;
    let open = stats["timeInStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "OPEN")
        .cloned()
        .unwrap_or_else(|| panic!("no OPEN stay: {stats}"));
    assert_eq!(
        (&open["stays"], &open["medianMs"]),
        (&json!(1), &json!(300)),
        "{open}"
    );
    let user = api("/api/users/late_news".into()).await;
    assert_eq!(
        user["user"]["rejectionReason"], "document expired",
        "{user}"
    );
    assert_eq!(user["user"]["statusSetAt"], opened + 300);
    assert_eq!(user["timeline"][1]["statusSetAt"], opened + 300);
    assert_eq!(user["timeline"][1]["dateOfBirth"], "1961-07-04");
    let open_delivery = user["timeline"][0]["deliveryId"].as_i64().unwrap();

    // A second user closed the ordinary way, for stays of every kind to compare.
    for status in ["NOT_STARTED", "OPEN"] {
        post(&monitor.webhook_url, flat("plain", "", status)).await;
    }
    post(&monitor.webhook_url, flat("plain", "ACCEPT", "CLOSED")).await;
    projected(&db).await;
    let before = api("/api/stats".into()).await;
    let tables = stats_tables(&db);

    // Pings, the envelope's webhook.test among them.
    for body in [fixture("envelope-test.json"), b"{}".to_vec(), Vec::new()] {
        let answer = post(&monitor.webhook_url, body).await;
        assert_eq!(answer.json()["ping"], true);
    }
    // A replay of the user's OPEN from the inspector moves the user back to OPEN...
    let replayed = send(
        client()
            .post(format!("{base}/api/deliveries/{open_delivery}/replay"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert_eq!(replayed.json()["outcome"], "accepted");
    projected(&db).await;
    assert_eq!(lookup(&db, "late_news").unwrap()["status"], "OPEN");
    // ...and the provider's redelivery of the rejection is a duplicate: the user stays OPEN.
    let again = envelope_rejected("late_news", "evt_late", opened + 300);
    assert_eq!(
        post(&monitor.webhook_url, again).await.json()["duplicate"],
        true
    );
    projected(&db).await;
    let after = api("/api/stats".into()).await;
    for key in ["funnel", "timeInStatus", "decisionsPerDay"] {
        assert_eq!(after[key], before[key], "{key} moved");
    }
    assert_eq!(stats_tables(&db), tables);
    assert_eq!(monitor.terminate(), 0);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.is_empty(), "nothing was logged at debug");
    assert!(
        !logged.contains("1961-07-04"),
        "the date of birth was logged"
    );

    // A poll confirming what the monitor already knows (a poll's answer racing the webhook).
    {
        let store = Store::open(&db).unwrap();
        let writer = store.start_writer().unwrap();
        let mut polled = delivery_at(
            kyc_monitor::time::now_millis(),
            flat("plain", "ACCEPT", "CLOSED"),
        );
        polled.polled = true;
        polled.method = "GET".into();
        let recorded = writer.record(polled).await.unwrap();
        assert_eq!(recorded.outcome, kyc_monitor::store::Outcome::Duplicate);
        writer.finish().await;
    }
    projected(&db).await;
    assert_eq!(stats_tables(&db), tables);

    // The journal alone gives the same stats.
    let rebuilt = cli(&db, &["rebuild"]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert_eq!(stats_tables(&db), tables);
}

/// The deliveries per minute in the stats are the webhook's traffic: a watch import and what a
/// poll learns are not requests to it, live or rebuilt.
#[tokio::test]
async fn watched_users_and_polled_states_are_not_counted_as_deliveries() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let mut monitor = Monitor::start_with_ui(&db, &[]);
    let (base, token) = monitor.ui();
    for status in ["OPEN", "ON_HOLD"] {
        assert_eq!(
            post(&monitor.webhook_url, flat("traffic", "", status))
                .await
                .status,
            200
        );
    }
    let ids: Vec<String> = (0..20).map(|n| format!("watched_{n:02}")).collect();
    let watched = cli(
        &db,
        &[
            &["watch"][..],
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(watched.status.success(), "{watched:?}");
    projected(&db).await;
    assert_eq!(lookup(&db, "watched_19").unwrap()["status"], "NOT_STARTED");
    let counted = || async {
        let request = client()
            .get(format!("{base}/api/stats"))
            .bearer_auth(&token);
        let stats = send(request).await.json();
        stats["perMinute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["deliveries"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(counted().await, 2);
    assert_eq!(monitor.terminate(), 0);

    // A poll learns a watched user's OPEN.
    {
        let store = Store::open(&db).unwrap();
        let writer = store.start_writer().unwrap();
        let mut polled = delivery_at(
            kyc_monitor::time::now_millis(),
            flat("watched_00", "", "OPEN"),
        );
        polled.polled = true;
        polled.method = "GET".into();
        let recorded = writer.record(polled).await.unwrap();
        assert_eq!(recorded.outcome, kyc_monitor::store::Outcome::Accepted);
        writer.finish().await;
    }
    projected(&db).await;
    assert_eq!(lookup(&db, "watched_00").unwrap()["status"], "OPEN");
    let minutes = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT coalesce(sum(deliveries), 0) FROM delivery_minutes",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert_eq!(minutes(&db), 2);
    let rebuilt = cli(&db, &["rebuild"]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert_eq!(minutes(&db), 2);
}
