//! The read side the UI is built on: counts, board pages, prefix search, timelines and the
//! deliveries inspector, over data ingested through the real listener.

mod support;

use kyc_monitor::store::{BoardCursor, DeliveryFilter, Store};
use support::*;

/// Posts `bodies` and waits until the projection holds them (the writer projects right after
/// acknowledging, in milliseconds).
async fn ingest(monitor: &Monitor, bodies: &[String]) {
    for body in bodies {
        assert!(post(&monitor.webhook_url, body.clone()).await.status < 500);
    }
    let reader = Store::open(&monitor.db).unwrap().reader().unwrap();
    assert_eq!(reader.settle(std::time::Duration::from_secs(5)).unwrap(), 0);
}

#[tokio::test]
async fn counts_follow_every_transition_and_survive_rebuild() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(
        &monitor,
        &[
            flat("a", "", "NOT_STARTED"),
            flat("b", "", "NOT_STARTED"),
            flat("a", "", "OPEN"),
            flat("a", "", "OPEN"), // duplicate: no transition
            flat("b", "REVIEW", "ON_HOLD"),
            flat("a", "ACCEPT", "CLOSED"),
            flat("c", "MAYBE", "FROZEN"),
        ],
    )
    .await;
    let expected = vec![
        ("CLOSED".to_owned(), "ACCEPT".to_owned(), 1),
        ("FROZEN".to_owned(), "MAYBE".to_owned(), 1),
        ("ON_HOLD".to_owned(), "REVIEW".to_owned(), 1),
    ];
    let counts = |db: &std::path::Path| {
        let reader = Store::open(db).unwrap().reader().unwrap();
        reader
            .user_counts()
            .unwrap()
            .into_iter()
            .map(|c| (c.status, c.decision, c.users))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&scratch.db()), expected);
    drop(monitor);
    // A projection corrupted by hand is repaired by a rebuild, counters included.
    rusqlite::Connection::open(scratch.db())
        .unwrap()
        .execute_batch("UPDATE user_counts SET users = 99")
        .unwrap();
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(counts(&scratch.db()), expected);
}

#[tokio::test]
async fn board_pages_are_newest_first_and_continue_without_gaps() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let bodies: Vec<String> = (0..25)
        .map(|i| flat(&format!("user_{i:02}"), "", "OPEN"))
        .collect();
    ingest(&monitor, &bodies).await;
    ingest(&monitor, &[flat("user_03", "REVIEW", "ON_HOLD")]).await;
    let reader = Store::open(&scratch.db()).unwrap().reader().unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<BoardCursor> = None;
    loop {
        let page = reader
            .board_page("OPEN", &Default::default(), cursor.as_ref(), 10)
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        let last = page.last().unwrap();
        cursor = Some(BoardCursor {
            status_since: last.status_since,
            external_id: last.external_id.clone(),
        });
        seen.extend(page.into_iter().map(|u| (u.status_since, u.external_id)));
    }
    assert_eq!(seen.len(), 24, "every OPEN user once, user_03 moved on");
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
        "newest first"
    );
    assert!(!seen.iter().any(|(_, id)| id == "user_03"));
    let on_hold = reader
        .board_page("ON_HOLD", &Default::default(), None, 10)
        .unwrap();
    assert_eq!(
        on_hold
            .iter()
            .map(|u| u.external_id.as_str())
            .collect::<Vec<_>>(),
        ["user_03"]
    );
}

#[tokio::test]
async fn prefix_search_finds_exactly_the_users_that_start_with_it() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let ids = [
        "user_1", "user_10", "user_2", "usér_3", "admin", "user_", "use",
    ];
    ingest(
        &monitor,
        &ids.iter()
            .map(|id| flat(id, "", "OPEN"))
            .collect::<Vec<_>>(),
    )
    .await;
    let reader = Store::open(&scratch.db()).unwrap().reader().unwrap();
    let found = |prefix: &str| -> Vec<String> {
        reader
            .users_with_prefix(prefix, 50)
            .unwrap()
            .into_iter()
            .map(|u| u.external_id)
            .collect()
    };
    assert_eq!(found("user_1"), ["user_1", "user_10"]);
    assert_eq!(found("user_"), ["user_", "user_1", "user_10", "user_2"]);
    assert_eq!(
        found("us"),
        ["use", "user_", "user_1", "user_10", "user_2", "usér_3"]
    );
    assert_eq!(found("usé"), ["usér_3"]);
    assert!(found("nobody").is_empty());
    assert_eq!(found("").len(), ids.len());
    assert_eq!(reader.users_with_prefix("user", 2).unwrap().len(), 2);
}

#[tokio::test]
async fn a_timeline_carries_each_delivery_as_it_arrived() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let answer = send(
        client()
            .post(&monitor.webhook_url)
            .header("x-request-id", "r-1")
            .body(fixture("flat-open.json")),
    )
    .await;
    assert_eq!(answer.status, 200);
    post(&monitor.webhook_url, fixture("flat-open.json")).await;
    post(&monitor.webhook_url, fixture("flat-accepted.json")).await;
    let reader = Store::open(&scratch.db()).unwrap().reader().unwrap();
    assert_eq!(reader.settle(std::time::Duration::from_secs(5)).unwrap(), 0);
    let timeline = reader.user_timeline("user_4821").unwrap();
    assert_eq!(timeline.len(), 3);
    assert_eq!(
        timeline[0].body.as_deref(),
        Some(&fixture("flat-open.json")[..])
    );
    assert!(timeline[0].headers.contains("x-request-id"));
    assert_eq!(
        timeline
            .iter()
            .map(|t| t.event.duplicate)
            .collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(timeline[2].event.state.status, "CLOSED");
}

#[tokio::test]
async fn the_deliveries_page_filters_by_outcome_and_body_and_pages_back() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let mut bodies: Vec<String> = (0..12)
        .map(|i| flat(&format!("u{i}"), "", "OPEN"))
        .collect();
    bodies.push("[]".into());
    bodies.push(r#"{"externalId":null,"note":"needle"}"#.into());
    bodies.push("{}".into());
    ingest(&monitor, &bodies).await;
    let reader = Store::open(&scratch.db()).unwrap().reader().unwrap();

    let newest = reader
        .deliveries_page(&DeliveryFilter::default(), 5)
        .unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|listed| listed.delivery.outcome.as_str())
            .collect::<Vec<_>>(),
        ["ping", "rejected", "rejected", "accepted", "accepted"]
    );
    let named: Vec<Option<&str>> = newest
        .iter()
        .map(|listed| listed.external_id.as_deref())
        .collect();
    assert_eq!(named, [None, None, None, Some("u11"), Some("u10")]);
    // What each event said comes along (the inspector shows it once a body is trimmed).
    assert_eq!(
        newest[3].event_state,
        Some(("OPEN".to_owned(), String::new()))
    );
    assert_eq!(newest[0].event_state, None, "a ping has no event");
    let older = DeliveryFilter {
        before_id: Some(newest[4].delivery.id),
        ..Default::default()
    };
    let next = reader.deliveries_page(&older, 100).unwrap();
    assert_eq!(next.len(), 10);
    assert!(next
        .iter()
        .all(|listed| listed.delivery.id < newest[4].delivery.id));

    let rejected = DeliveryFilter {
        outcome: Some("rejected".into()),
        ..Default::default()
    };
    assert_eq!(reader.deliveries_page(&rejected, 100).unwrap().len(), 2);
    let needle = DeliveryFilter {
        body_contains: Some("needle".into()),
        ..Default::default()
    };
    let found = reader.deliveries_page(&needle, 100).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].delivery.http_status, 422);
    assert_eq!(
        reader.delivery(found[0].delivery.id).unwrap().unwrap(),
        found[0].delivery
    );
    assert!(reader.delivery(9999).unwrap().is_none());
}

#[test]
fn the_uis_queries_use_their_indexes_not_scans() {
    let scratch = Scratch::new();
    Store::open(&scratch.db()).unwrap();
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let plan = |sql: &str| -> String {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = statement
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    for (sql, expected) in [
        ("SELECT * FROM users WHERE status = 'OPEN' AND (status_since < 5 OR (status_since = 5 AND external_id > 'x')) ORDER BY status_since DESC, external_id LIMIT 50", "users_by_status"),
        ("SELECT * FROM users WHERE external_id >= 'u' AND external_id < 'v' ORDER BY external_id LIMIT 20", "PRIMARY KEY"),
        // The review queue, per status: the longest waits first, read backwards from the index.
        ("SELECT * FROM users WHERE status = 'ON_HOLD' AND status_since <= 9 AND status_since >= 5 AND (status_since > 5 OR external_id < 'x') AND ('[\"REVIEW\"]' = '[]' OR decision IN (SELECT value FROM json_each('[\"REVIEW\"]'))) AND (NULL IS NULL OR sub_status = NULL) ORDER BY status_since, external_id DESC LIMIT 100", "users_by_status"),
        ("SELECT * FROM events WHERE external_id = 'u' ORDER BY delivery_id", "events_by_user"),
        ("SELECT * FROM deliveries WHERE id < 99 AND outcome = 'rejected' ORDER BY id DESC LIMIT 100", "deliveries_by_outcome"),
        ("SELECT * FROM delivery_minutes WHERE minute >= 5 ORDER BY minute", "INTEGER PRIMARY KEY"),
    ] {
        let plan = plan(sql);
        assert!(plan.contains(expected), "{sql}\n  plan: {plan}");
        assert!(!plan.contains("USE TEMP B-TREE"), "{sql} sorts instead of reading in order: {plan}");
    }
}

#[tokio::test]
async fn the_median_time_to_close_follows_users_in_and_out_of_closed() {
    let scratch = Scratch::new();
    let store = Store::open(&scratch.db()).unwrap();
    let writer = store.start_writer().unwrap();
    let t0 = 1_790_000_000_000;
    // Nine users close after 1 s, 2 s, ... 9 s; the median is 5 s.
    for n in 1..=9i64 {
        let id = format!("u{n}");
        writer
            .record(delivery_at(t0, flat(&id, "", "OPEN")))
            .await
            .unwrap();
        writer
            .record(delivery_at(t0 + n * 1000, flat(&id, "ACCEPT", "CLOSED")))
            .await
            .unwrap();
    }
    // Closed at first sight: 0 ms. A redelivery changes nothing.
    writer
        .record(delivery_at(t0, flat("instant", "REJECT", "CLOSED")))
        .await
        .unwrap();
    writer
        .record(delivery_at(t0 + 500, flat("instant", "REJECT", "CLOSED")))
        .await
        .unwrap();
    // Within 0.5% of the true median: the histogram's resolution above one second.
    let median = |store: &Store| {
        store
            .reader()
            .unwrap()
            .median_time_to_close()
            .unwrap()
            .map(|ms| ((ms as f64 / 1000.0).round() as i64) * 1000)
    };
    let raw = |store: &Store| {
        store
            .reader()
            .unwrap()
            .median_time_to_close()
            .unwrap()
            .unwrap()
    };
    // Ten closed: 0, 1 s .. 9 s; the lower median is the 5th smallest, 4 s.
    writer.projected(std::time::Duration::from_secs(5)).await;
    assert_eq!(median(&store), Some(4000));
    assert!((raw(&store) - 4000).abs() <= 20, "{}", raw(&store));
    // u9 and u8 are reopened: they leave the closed set (0, 1 s .. 7 s: lower median 3 s).
    writer
        .record(delivery_at(t0 + 20_000, flat("u9", "REVIEW", "ON_HOLD")))
        .await
        .unwrap();
    writer
        .record(delivery_at(t0 + 20_000, flat("u8", "REVIEW", "ON_HOLD")))
        .await
        .unwrap();
    writer.projected(std::time::Duration::from_secs(5)).await;
    assert_eq!(median(&store), Some(3000));
    // u9 closes again, 40 s after it was first seen.
    writer
        .record(delivery_at(t0 + 40_000, flat("u9", "ACCEPT", "CLOSED")))
        .await
        .unwrap();
    writer.projected(std::time::Duration::from_secs(5)).await;
    assert_eq!(median(&store), Some(4000));
    writer.finish().await;
    store.rebuild().unwrap();
    assert_eq!(
        median(&store),
        Some(4000),
        "the histogram is rebuilt from deliveries too"
    );
    let empty = Scratch::new();
    assert_eq!(median(&Store::open(&empty.db()).unwrap()), None);
}
