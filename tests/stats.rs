//! The compliance stats (decisions per day, the funnel through the statuses, the time in each)
//! come from aggregates the projector keeps. Over a scripted history ingested through the real
//! listener they equal what the journal says when read independently here; duplicates and
//! refused deliveries change nothing; `rebuild` and the migration that fills them for an older
//! database give the same tables.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use kyc_monitor::store::Store;
use support::*;

/// The three aggregates, each in its key order: `decision_days`, `status_reached`,
/// `status_stays`, and each user's `statuses_reached`.
#[derive(Debug, PartialEq, Eq)]
struct Aggregates {
    decision_days: Vec<(i64, String, i64)>,
    status_reached: Vec<(String, i64)>,
    status_stays: Vec<(String, i64, i64)>,
    users_reached: Vec<(String, i64)>,
}

fn aggregates(db: &Path) -> Aggregates {
    let conn = rusqlite::Connection::open(db).unwrap();
    Aggregates {
        decision_days: rows(
            &conn,
            "SELECT day, decision, users FROM decision_days ORDER BY 1, 2",
        ),
        status_reached: rows(&conn, "SELECT status, users FROM status_reached ORDER BY 1"),
        status_stays: rows(
            &conn,
            "SELECT status, bucket, users FROM status_stays ORDER BY 1, 2",
        ),
        users_reached: rows(
            &conn,
            "SELECT external_id, statuses_reached FROM users ORDER BY 1",
        ),
    }
}

fn rows<T: FromRow>(conn: &rusqlite::Connection, sql: &str) -> Vec<T> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], T::from_row)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

trait FromRow: Sized {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self>;
}

impl<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql> FromRow for (A, B) {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql, C: rusqlite::types::FromSql> FromRow
    for (A, B, C)
{
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

/// What the stats must say, worked out here from the journal alone: each accepted delivery's
/// body read as the contract describes the two forms, user by user in arrival order.
#[derive(Debug, Default)]
struct Expected {
    /// (UTC day, decision) -> users whose decision became it that day.
    decisions: BTreeMap<(i64, String), i64>,
    /// Documented status -> users ever in it.
    reached: BTreeMap<String, i64>,
    /// Status -> the lengths of the stays in it that ended, in milliseconds.
    stays: BTreeMap<String, Vec<i64>>,
}

fn expected_from_journal(db: &Path) -> Expected {
    const DOCUMENTED: [&str; 4] = ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"];
    let conn = rusqlite::Connection::open(db).unwrap();
    let accepted: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT received_at, body FROM deliveries WHERE outcome = 'accepted' ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Per user: decision, status, when it entered the status, the statuses it was in.
    let mut users: BTreeMap<String, (String, String, i64, Vec<String>)> = BTreeMap::new();
    let mut expected = Expected::default();
    for (at, body) in accepted {
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        let (user, decision, status) = match body["event_type"].as_str() {
            Some("kyc.approved") => (
                text(&body["data"]["external_id"]),
                "ACCEPT".into(),
                "CLOSED".into(),
            ),
            Some("kyc.rejected") => (
                text(&body["data"]["external_id"]),
                "REJECT".into(),
                "CLOSED".into(),
            ),
            Some(_) => (
                text(&body["data"]["external_id"]),
                String::new(),
                text(&body["data"]["status"]),
            ),
            None => (
                text(&body["externalId"]),
                text(&body["decision"]),
                text(&body["status"]),
            ),
        };
        let day = at.div_euclid(86_400_000);
        let known = users.get_mut(&user);
        let decided = match &known {
            None => !decision.is_empty(),
            Some((before, ..)) => !decision.is_empty() && *before != decision,
        };
        if decided {
            *expected
                .decisions
                .entry((day, decision.clone()))
                .or_default() += 1;
        }
        let entered = match known {
            None => {
                users.insert(user.clone(), (decision, status.clone(), at, vec![]));
                true
            }
            Some(state) => {
                state.0 = decision;
                if state.1 != status {
                    expected
                        .stays
                        .entry(state.1.clone())
                        .or_default()
                        .push(at - state.2);
                    state.1 = status.clone();
                    state.2 = at;
                    true
                } else {
                    false
                }
            }
        };
        let seen = &mut users.get_mut(&user).unwrap().3;
        if entered && DOCUMENTED.contains(&status.as_str()) && !seen.contains(&status) {
            seen.push(status.clone());
            *expected.reached.entry(status).or_default() += 1;
        }
    }
    expected
}

/// The floor((n - 1) * share)-th of the sorted lengths: what the histogram approximates.
fn exact_within(lengths: &[i64], share: f64) -> i64 {
    let mut sorted = lengths.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * share) as usize]
}

/// Exact below a second, within 0.5% above (and a millisecond of rounding).
fn close_enough(found: i64, exact: i64) -> bool {
    if exact < 1_000 {
        found == exact
    } else {
        (found - exact).abs() as f64 <= exact as f64 * 0.005 + 1.0
    }
}

fn envelope(event_type: &str, event_id: &str, external_id: &str, status: &str) -> String {
    serde_json::json!({
        "event_type": event_type, "event_id": event_id, "event_time": "2026-11-26T14:03:12.481Z",
        "data": {"external_id": external_id, "status": status},
    })
    .to_string()
}

/// Journeys that go back and forth, change decision within a status, leave a stay open, use
/// values the docs do not list, and arrive in both forms.
fn scripted_history() -> Vec<String> {
    let mut bodies = Vec::new();
    for (user, steps) in [
        (
            "full",
            &[
                ("", "NOT_STARTED"),
                ("", "OPEN"),
                ("REVIEW", "ON_HOLD"),
                ("", "OPEN"),
                ("ACCEPT", "CLOSED"),
            ][..],
        ),
        ("quick_reject", &[("", "OPEN"), ("REJECT", "CLOSED")][..]),
        (
            "waiting",
            &[("", "NOT_STARTED"), ("", "OPEN"), ("REVIEW", "ON_HOLD")][..],
        ),
        (
            "decided_on_hold",
            &[
                ("REVIEW", "ON_HOLD"),
                ("ACCEPT", "ON_HOLD"),
                ("ACCEPT", "CLOSED"),
            ][..],
        ),
        ("odd", &[("WEIRD", "KYC_STATUS_RESUBMIT"), ("", "OPEN")][..]),
        (
            "reopened",
            &[("ACCEPT", "CLOSED"), ("", "OPEN"), ("ACCEPT", "CLOSED")][..],
        ),
    ] {
        for (decision, status) in steps {
            bodies.push(flat(user, decision, status));
        }
    }
    bodies.push(envelope("kyc.status_changed", "ev_1", "enveloped", "OPEN"));
    bodies.push(envelope("kyc.approved", "ev_2", "enveloped", ""));
    bodies
}

/// Deliveries that must change nothing: the latest states again, a repeated `event_id` whose
/// body says something else, a duplicate naming nobody known, refusals and pings.
fn duplicates_and_refusals() -> Vec<(String, u16)> {
    vec![
        (flat("full", "ACCEPT", "CLOSED"), 200),
        (flat("waiting", "REVIEW", "ON_HOLD"), 200),
        (flat("odd", "", "OPEN"), 200),
        (envelope("kyc.rejected", "ev_2", "enveloped", ""), 200),
        (envelope("kyc.rejected", "ev_1", "nobody_yet", ""), 200),
        ("[]".into(), 400),
        (r#"{"externalId": null}"#.into(), 422),
        (r#"{"externalId": "full", "status": 5}"#.into(), 422),
        ("{}".into(), 200),
    ]
}

async fn ingest(monitor: &Monitor, bodies: impl IntoIterator<Item = (String, u16)>) {
    for (body, status) in bodies {
        let answer = post(&monitor.webhook_url, body.clone()).await;
        assert_eq!(answer.status, status, "{body}");
    }
    let reader = Store::open(&monitor.db).unwrap().reader().unwrap();
    assert_eq!(reader.settle(std::time::Duration::from_secs(5)).unwrap(), 0);
}

async fn stats_json(ui: &str) -> serde_json::Value {
    let (base, token) = ui.split_once("/?token=").expect("a token in the ui URL");
    let answer = send(client().get(format!("{base}/api/stats")).bearer_auth(token)).await;
    assert_eq!(answer.status, 200);
    answer.json()
}

#[tokio::test]
async fn compliance_stats_equal_the_journal_read_independently_and_survive_duplicates_and_rebuild()
{
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[],
        &mut std::process::Command::new(env!("CARGO_BIN_EXE_kyc-monitor")),
    );
    let ui = monitor.next_line().strip_prefix("ui: ").unwrap().to_owned();
    ingest(
        &monitor,
        scripted_history().into_iter().map(|body| (body, 200)),
    )
    .await;

    // The tables, against the journal read here.
    let expected = expected_from_journal(&scratch.db());
    let live = aggregates(&scratch.db());
    let days: BTreeMap<(i64, String), i64> = live
        .decision_days
        .iter()
        .map(|(day, decision, users)| ((*day, decision.clone()), *users))
        .collect();
    assert_eq!(days, expected.decisions);
    let total = |decision: &str| -> i64 {
        days.iter()
            .filter(|((_, d), _)| d == decision)
            .map(|(_, users)| users)
            .sum()
    };
    // full, decided_on_hold, reopened twice, enveloped; quick_reject; full, waiting,
    // decided_on_hold; odd.
    assert_eq!(
        [
            total("ACCEPT"),
            total("REJECT"),
            total("REVIEW"),
            total("WEIRD")
        ],
        [5, 1, 3, 1]
    );
    let reached: BTreeMap<String, i64> = live.status_reached.iter().cloned().collect();
    assert_eq!(reached, expected.reached);
    assert_eq!(
        ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"].map(|s| reached[s]),
        [2, 6, 3, 5],
        "each user once a status, back-and-forth included; other statuses left out"
    );
    let stays_in = |status: &str| -> i64 {
        live.status_stays
            .iter()
            .filter(|(s, ..)| s == status)
            .map(|(.., users)| users)
            .sum()
    };
    for (status, lengths) in &expected.stays {
        assert_eq!(stays_in(status), lengths.len() as i64, "stays in {status}");
    }
    // Ended stays only: waiting's ON_HOLD and everyone's last status are still open.
    assert_eq!(
        [
            "NOT_STARTED",
            "OPEN",
            "ON_HOLD",
            "CLOSED",
            "KYC_STATUS_RESUBMIT"
        ]
        .map(stays_in),
        [2, 6, 2, 1, 1]
    );

    // What the Stats view is given.
    let stats = stats_json(&ui).await;
    let per_day = stats["decisionsPerDay"].as_array().unwrap();
    assert_eq!(per_day.len(), 30);
    let today = per_day.last().unwrap();
    let today_number = today["dayStart"].as_i64().unwrap() / 86_400_000;
    let on = |decision: &str| {
        expected
            .decisions
            .get(&(today_number, decision.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    // Unless the history straddled midnight UTC, all of it is today's.
    if expected
        .decisions
        .keys()
        .all(|(day, _)| *day == today_number)
    {
        assert_eq!(
            [
                &today["accept"],
                &today["reject"],
                &today["review"],
                &today["other"]
            ]
            .map(|v| v.as_i64().unwrap()),
            [on("ACCEPT"), on("REJECT"), on("REVIEW"), on("WEIRD")]
        );
    }
    assert_eq!(
        stats["funnel"],
        serde_json::json!([
            {"status": "NOT_STARTED", "users": 2}, {"status": "OPEN", "users": 6},
            {"status": "ON_HOLD", "users": 3}, {"status": "CLOSED", "users": 5},
        ])
    );
    let times = stats["timeInStatus"].as_array().unwrap();
    assert_eq!(
        times
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "NOT_STARTED",
            "OPEN",
            "ON_HOLD",
            "CLOSED",
            "KYC_STATUS_RESUBMIT"
        ]
    );
    for time in times {
        let lengths = &expected.stays[time["status"].as_str().unwrap()];
        assert_eq!(time["stays"].as_i64().unwrap(), lengths.len() as i64);
        let (median, p90) = (
            time["medianMs"].as_i64().unwrap(),
            time["p90Ms"].as_i64().unwrap(),
        );
        assert!(
            close_enough(median, exact_within(lengths, 0.5)),
            "{time} {lengths:?}"
        );
        assert!(
            close_enough(p90, exact_within(lengths, 0.9)),
            "{time} {lengths:?}"
        );
    }

    // Duplicates (even one whose body says otherwise), refusals and pings change nothing.
    ingest(&monitor, duplicates_and_refusals()).await;
    assert_eq!(aggregates(&scratch.db()), live);
    let again = stats_json(&ui).await;
    for key in ["decisionsPerDay", "funnel", "timeInStatus"] {
        assert_eq!(again[key], stats[key], "{key}");
    }
    assert_eq!(monitor.terminate(), 0);

    // A rebuild from the journal alone makes the same tables.
    let rebuilt = cli(&scratch.db(), &["rebuild"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert_eq!(aggregates(&scratch.db()), live);
}

#[tokio::test]
async fn the_migration_fills_the_compliance_stats_as_the_projector_keeps_them() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(
        &monitor,
        scripted_history()
            .into_iter()
            .map(|body| (body, 200))
            .chain(duplicates_and_refusals()),
    )
    .await;
    drop(monitor);
    let live = aggregates(&scratch.db());
    assert!(!live.decision_days.is_empty() && !live.status_stays.is_empty());

    // The database as the version before the stats left it, then opened by this one.
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    conn.execute_batch(
        "DROP TABLE decision_days; DROP TABLE status_reached; DROP TABLE status_stays;
         ALTER TABLE users DROP COLUMN statuses_reached; DROP TABLE refused_counts;
         DROP TABLE audit_log; DROP TABLE audit_head; DROP TABLE sessions;
         ALTER TABLE deliveries DROP COLUMN watched;
         ALTER TABLE events DROP COLUMN rejection_reason; ALTER TABLE events DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN rejection_reason; ALTER TABLE users DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN stay_from;
         DROP TABLE case_notes; DROP TABLE cases;
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    Store::open(&scratch.db()).unwrap();
    assert_eq!(aggregates(&scratch.db()), live);
}
