//! Journal-first ingestion: the acknowledgement appends to the journal, the projector follows
//! it; `rebuild` is the same projector from zero, and may run beside a live monitor.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

fn watermark(db: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT through, (SELECT coalesce(max(id), 0) FROM deliveries) FROM projection",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_beside_a_live_monitor_swaps_in_what_the_projector_would_have() {
    const STATUSES: [&str; 4] = ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"];
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let refused = Arc::new(Mutex::new(0));
    let sending = Arc::new(AtomicBool::new(true));
    let senders: Vec<_> = (0..6)
        .map(|sender| {
            let (url, acked, refused, sending) = (
                monitor.webhook_url.clone(),
                acked.clone(),
                refused.clone(),
                sending.clone(),
            );
            tokio::spawn(async move {
                let client = client();
                let mut n = 0;
                while sending.load(Ordering::Relaxed) {
                    let participant = format!("p_{sender}_{n}");
                    let body = serde_json::json!({
                        "externalId": format!("user_{sender}_{}", n % 40),
                        "status": STATUSES[n % 4],
                        "decision": if n % 8 == 3 { "REJECT" } else if n % 4 == 3 { "ACCEPT" } else { "" },
                        "participantId": participant,
                    });
                    let answer = client.post(&url).body(body.to_string()).send().await.unwrap();
                    match answer.status().as_u16() {
                        200 => drop(acked.lock().unwrap().insert(participant)),
                        // The swap holds the write lock for a moment; the provider would retry.
                        503 => *refused.lock().unwrap() += 1,
                        other => panic!("unexpected answer {other}"),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let rebuilt = cli(&scratch.db(), &["rebuild"]);
        assert!(
            rebuilt.status.success(),
            "{}",
            String::from_utf8_lossy(&rebuilt.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sending.store(false, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "{} acked, {} answered 503 during the rebuilds",
        acked.len(),
        refused.lock().unwrap()
    );
    assert!(acked.len() > 200, "only {} acked", acked.len());

    // The monitor's projector carried on over the swapped-in tables: nothing missing, nothing
    // counted twice, and the same as yet another rebuild from zero. It projects what was just
    // acknowledged right after answering, so the last few may still be on their way: it is
    // given a moment (a guard against a hang, not a timing check).
    let mut waited = Duration::ZERO;
    let (through, newest) = loop {
        let (through, newest) = watermark(&scratch.db());
        if through == newest || waited >= Duration::from_secs(5) {
            break (through, newest);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    };
    assert_eq!(
        through, newest,
        "the live projector caught up after the swaps"
    );
    let live_users = export_jsonl(&scratch.db(), "users");
    let live_events = export_jsonl(&scratch.db(), "events");
    let stored: BTreeSet<String> = live_events
        .iter()
        .map(|e| e["participantId"].as_str().unwrap().to_owned())
        .collect();
    assert!(acked.is_subset(&stored), "an acked delivery has no event");
    let rebuilt = cli(&scratch.db(), &["rebuild"]);
    assert!(rebuilt.status.success());
    assert_eq!(export_jsonl(&scratch.db(), "users"), live_users);
    assert_eq!(export_jsonl(&scratch.db(), "events"), live_events);
    let total: i64 = live_users
        .iter()
        .map(|u| u["eventCount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        total as usize,
        live_events.len(),
        "every event counted once"
    );
    assert_eq!(monitor.terminate(), 0);
}

#[tokio::test]
async fn the_journal_decides_duplicates_before_the_projection_has_the_user() {
    // Sent back to back, the second arrives while the first may not be projected yet: the
    // decision must come from the journal, not from the users table.
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let client = client();
    let mut answers = Vec::new();
    for _ in 0..3 {
        for body in [flat("pair", "", "OPEN"), flat("pair", "", "OPEN")] {
            answers.push(
                send(client.post(&monitor.webhook_url).body(body))
                    .await
                    .json(),
            );
        }
    }
    assert_eq!(answers[0], serde_json::json!({"received": true}));
    assert!(
        answers[1..].iter().all(|a| a["duplicate"] == true),
        "{answers:?}"
    );
    let user = lookup(&scratch.db(), "pair").unwrap();
    assert_eq!(user["events"].as_array().unwrap().len(), 6);
    assert_eq!(
        user["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["duplicate"] == true)
            .count(),
        5
    );
}

#[tokio::test]
async fn lookup_sees_a_delivery_the_moment_it_is_acknowledged() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    for n in 0..20 {
        let id = format!("quick_{n}");
        assert_eq!(
            post(&monitor.webhook_url, flat(&id, "", "OPEN"))
                .await
                .status,
            200
        );
        let output = cli(&scratch.db(), &["lookup", &id, "--json"]);
        assert!(
            output.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A table's columns (name, type, not null, key), as SQLite describes them.
type Columns = Vec<(String, String, bool, i64)>;

/// Each derived table's columns.
fn derived_columns(db: &std::path::Path) -> Vec<(String, Columns)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    [
        "users",
        "events",
        "user_counts",
        "delivery_minutes",
        "close_times",
        "decision_days",
        "status_reached",
        "status_stays",
        "projection",
    ]
    .iter()
    .map(|table| {
        let mut statement = conn
            .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")
            .unwrap();
        let columns = statement
            .query_map([table], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (table.to_string(), columns)
    })
    .collect()
}

#[tokio::test]
async fn the_tables_a_rebuild_swaps_in_are_the_ones_the_migrations_make() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    assert_eq!(
        post(&monitor.webhook_url, flat("u", "", "OPEN"))
            .await
            .status,
        200
    );
    drop(monitor);
    let migrated = derived_columns(&scratch.db());
    assert!(migrated.iter().all(|(_, columns)| !columns.is_empty()));
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(derived_columns(&scratch.db()), migrated);
    // And the indexes the queries rely on are there again, under their names.
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for index in ["events_by_event_id", "events_by_user", "users_by_status"] {
        assert!(
            indexes.iter().any(|i| i == index),
            "{index} missing: {indexes:?}"
        );
    }
    // So are the search index's triggers, which went with the users table it replaced.
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for trigger in [
        "users_search_delete",
        "users_search_insert",
        "users_search_update",
    ] {
        assert!(
            triggers.iter().any(|t| t == trigger),
            "{trigger} missing: {triggers:?}"
        );
    }
}
