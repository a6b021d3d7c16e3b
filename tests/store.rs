//! The database file: what `--db` accepts and refuses, migrations, and rebuilding the derived
//! tables from the raw deliveries.

mod support;

use kyc_monitor::store::{schema, Store, StoreError};
use support::*;

#[test]
fn a_missing_folder_is_created_and_an_empty_file_is_a_new_database() {
    let scratch = Scratch::new();
    let nested = scratch.dir.path().join("a/b/c/monitor.db");
    drop(Monitor::start(&nested, &[]));
    assert!(nested.exists());
    let output = cli(&nested, &["export"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let empty = scratch.dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    drop(Monitor::start(&empty, &[]));
    let output = cli(&empty, &["export", "users"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).starts_with("externalId,decision,status"));
}

#[test]
fn a_folder_given_as_the_database_is_refused() {
    let scratch = Scratch::new();
    let output = cli(scratch.dir.path(), &["export"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is a folder"));
}

#[test]
fn a_file_that_is_not_ours_is_refused_and_left_untouched() {
    let scratch = Scratch::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("notes.txt", b"my notes, not a database\n".to_vec()),
        ("short.bin", b"SQLite".to_vec()),
        (
            "random.bin",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
    ];
    for (name, content) in cases {
        let path = scratch.dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        for args in [&["lookup", "x"][..], &["export"], &["rebuild"]] {
            let output = cli(&path, args);
            assert_eq!(output.status.code(), Some(1), "{name} {args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("is not a KYC Monitor database") && stderr.contains("untouched"),
                "{stderr}"
            );
        }
        let monitor = cli(
            &path,
            &["serve", "--listen", "127.0.0.1:0", "--ui-listen", "off"],
        );
        assert_eq!(monitor.status.code(), Some(1));
        assert_eq!(std::fs::read(&path).unwrap(), content, "{name} was changed");
    }
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_untouched() {
    let scratch = Scratch::new();
    let path = scratch.dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada');",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let output = cli(&path, &["export"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("another program"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(
        !scratch.dir.path().join("other.sqlite-wal").exists(),
        "not even switched to WAL"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let scratch = Scratch::new();
    Store::open(&scratch.db()).unwrap();
    {
        let conn = rusqlite::Connection::open(scratch.db()).unwrap();
        conn.pragma_update(None, "user_version", schema::latest_version() + 1)
            .unwrap();
    }
    match Store::open(&scratch.db()) {
        Err(StoreError::TooNew { found, known, .. }) => {
            assert_eq!((found, known), (known + 1, schema::latest_version()))
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let output = cli(&scratch.db(), &["lookup", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("upgrade kyc-monitor"));
}

#[test]
fn migrations_build_the_whole_schema_from_every_earlier_version() {
    let scratch = Scratch::new();
    let fresh = scratch.dir.path().join("fresh.db");
    Store::open(&fresh).unwrap();
    let schema_of = |path: &std::path::Path| -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut statement = conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let expected = schema_of(&fresh);
    assert!(expected.iter().any(|(name, _)| name == "deliveries"));
    // From each earlier version, applying the rest gives the same schema.
    for start in 0..schema::MIGRATIONS.len() {
        let path = scratch.dir.path().join(format!("from-{start}.db"));
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for (i, sql) in schema::MIGRATIONS[..start].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(None, "application_id", schema::APPLICATION_ID)
                .unwrap();
        }
        Store::open(&path).unwrap();
        assert_eq!(schema_of(&path), expected, "migrating from version {start}");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::latest_version());
        let app: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app, schema::APPLICATION_ID);
        let fk_problems: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
    }
    // Opening again changes nothing.
    Store::open(&fresh).unwrap();
    assert_eq!(schema_of(&fresh), expected);
}

#[tokio::test]
async fn rebuild_from_deliveries_equals_the_live_projection() {
    let scratch = Scratch::new();
    let secret = kyc_monitor::signature::SharedSecret::generate();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let url = monitor.webhook_url.clone();
    // A mixed history: journeys, duplicates, envelopes, repeated event ids, pings, refusals.
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for name in [
        "flat-not-started.json",
        "flat-open.json",
        "flat-open.json",
        "flat-docs-requested.json",
        "flat-open.json",
        "flat-accepted.json",
        "flat-rejected.json",
        "envelope-approved.json",
        "envelope-rejected.json",
        "envelope-test.json",
        "envelope-approved.json",
    ] {
        bodies.push(fixture(name));
    }
    for i in 0..60 {
        bodies.push(
            flat(
                &format!("bulk_{}", i % 17),
                ["", "REVIEW", "ACCEPT"][i % 3],
                ["OPEN", "ON_HOLD", "CLOSED"][i % 3],
            )
            .into_bytes(),
        );
    }
    bodies.push(br#"{"externalId":null}"#.to_vec());
    bodies.push(b"[]".to_vec());
    for body in bodies {
        post(&url, body).await;
    }
    drop(monitor);
    // Signed deliveries with a replayed webhook-id too.
    let signed_monitor = Monitor::start(&scratch.db(), &["--signing-secret", &secret.expose()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (id, body) in [
        ("w1", flat("signed_user", "", "OPEN")),
        ("w1", flat("signed_user", "ACCEPT", "CLOSED")),
        ("w2", flat("signed_user", "REJECT", "CLOSED")),
    ] {
        let answer = send(
            client()
                .post(&signed_monitor.webhook_url)
                .header("webhook-id", id)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", secret.sign(id, now, body.as_bytes()))
                .body(body),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    drop(signed_monitor);

    let live = (
        export_jsonl(&scratch.db(), "users"),
        export_jsonl(&scratch.db(), "events"),
    );
    assert!(live.0.len() > 20 && live.1.len() > 70);
    let output = cli(&scratch.db(), &["rebuild"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).contains(&format!("from {} deliveries", live.1.len())));
    let rebuilt = (
        export_jsonl(&scratch.db(), "users"),
        export_jsonl(&scratch.db(), "events"),
    );
    assert_eq!(rebuilt.0, live.0, "users differ after rebuild");
    assert_eq!(rebuilt.1, live.1, "events differ after rebuild");
    assert_eq!(
        lookup(&scratch.db(), "signed_user").unwrap()["status"],
        "CLOSED"
    );
    assert_eq!(
        lookup(&scratch.db(), "signed_user").unwrap()["decision"],
        "REJECT"
    );

    // A projection damaged by hand is repaired by a rebuild.
    {
        let conn = rusqlite::Connection::open(scratch.db()).unwrap();
        conn.execute_batch(
            "UPDATE users SET status = 'BROKEN'; DELETE FROM users WHERE external_id = 'bulk_3';",
        )
        .unwrap();
    }
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    assert_eq!(export_jsonl(&scratch.db(), "users"), live.0);
}

#[test]
fn upgrading_from_version_1_counts_the_users_already_there() {
    let scratch = Scratch::new();
    {
        let conn = rusqlite::Connection::open(scratch.db()).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.pragma_update(None, "application_id", schema::APPLICATION_ID)
            .unwrap();
        // Users alone, without their events: enough for what the migration reads.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for (id, status, decision) in [
            ("a", "OPEN", ""),
            ("b", "OPEN", ""),
            ("c", "CLOSED", "ACCEPT"),
        ] {
            conn.execute(
                "INSERT INTO users VALUES (?1, ?2, ?3, '', '', '', 0, 0, 0, 1, 0)",
                rusqlite::params![id, decision, status],
            )
            .unwrap();
        }
    }
    let reader = Store::open(&scratch.db()).unwrap().reader().unwrap();
    let counts: Vec<(String, String, i64)> = reader
        .user_counts()
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.decision, c.users))
        .collect();
    assert_eq!(
        counts,
        [
            ("CLOSED".into(), "ACCEPT".into(), 1),
            ("OPEN".into(), String::new(), 2)
        ]
    );
}
