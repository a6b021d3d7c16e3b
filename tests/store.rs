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

/// The tables named rebuild_* in `db`.
fn rebuild_tables(db: &std::path::Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let names = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'rebuild%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
}

/// How far a running rebuild has projected into its fresh tables, once it has made them.
fn rebuild_watermark(db: &std::path::Path) -> Option<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row("SELECT through FROM rebuild_projection", [], |row| {
        row.get(0)
    })
    .ok()
}

/// Users and events as `export` gives them.
fn derived_data(db: &std::path::Path) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    (export_jsonl(db, "users"), export_jsonl(db, "events"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rebuild_leaves_tables_the_next_start_removes_and_says_so() {
    use std::io::Read;
    let scratch = Scratch::new();
    let db = scratch.db();
    // More than one of the rebuild's steps (20,000 deliveries), so it can be caught between them.
    support::bulk::bulk_database(&db, 32_000, 0).await;

    let mut rebuild = std::process::Command::new(BIN)
        .args(["rebuild", "--db"])
        .arg(&db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Midway: its fresh tables hold part of the journal, and nothing was swapped in yet.
    let started = std::time::Instant::now();
    while rebuild_watermark(&db).unwrap_or(0) == 0 {
        assert!(
            rebuild.try_wait().unwrap().is_none(),
            "the rebuild ended before it was caught midway"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the rebuild made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    signal(&rebuild, "KILL");
    let status = rebuild.wait().unwrap();
    assert_eq!(status.code(), None, "killed midway, not finished: {status}");
    let left = rebuild_tables(&db);
    assert!(left.contains(&"rebuild_users".to_owned()), "{left:?}");

    let mut command = std::process::Command::new(BIN);
    command.stderr(std::process::Stdio::piped());
    let mut monitor = Monitor::start_with(&db, false, &[], &mut command);
    let mut log = monitor.child.stderr.take().unwrap();
    assert_eq!(
        rebuild_tables(&db),
        Vec::<String>::new(),
        "removed at start"
    );
    assert_eq!(monitor.terminate(), 0);
    let mut said = String::new();
    log.read_to_string(&mut said).unwrap();
    let lines: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("interrupted rebuild"))
        .collect();
    assert_eq!(lines.len(), 1, "one line says what was removed: {said}");
    for table in &left {
        assert!(
            lines[0].contains(table.as_str()),
            "{table} not named: {said}"
        );
    }

    // The data is what a rebuild that runs to its end makes.
    let (users, events) = derived_data(&db);
    assert_eq!(users.len(), 32_000);
    let output = cli(&db, &["rebuild"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (rebuilt_users, rebuilt_events) = derived_data(&db);
    assert!(users == rebuilt_users, "users equal to a clean rebuild's");
    assert!(
        events == rebuilt_events,
        "events equal to a clean rebuild's"
    );
    assert_eq!(rebuild_tables(&db), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_monitor_on_a_database_says_so_and_exits_1_while_readers_go_on() {
    use std::io::{BufRead, Read};
    let scratch = Scratch::new();
    let db = scratch.db();
    let first = Monitor::start(&db, &[]);
    let answer = post(&first.webhook_url, flat("user_1", "", "OPEN")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let mut second = serve_command(&db)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut announced = String::new();
    std::io::BufReader::new(second.stdout.take().unwrap())
        .read_line(&mut announced)
        .unwrap();
    if !announced.is_empty() {
        let _ = second.kill();
        let _ = second.wait();
        panic!("a second monitor started on the same database: {announced}");
    }
    let status = second.wait().unwrap();
    let mut said = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{said}");
    assert_eq!(said.lines().count(), 1, "one sentence: {said}");
    assert!(
        said.contains(&db.display().to_string())
            && said.contains("already running")
            && said.contains(&format!("pid {}", first.child.id())),
        "{said}"
    );

    // Readers need no claim: they go on while the first monitor runs.
    assert_eq!(lookup(&db, "user_1").unwrap()["status"], "OPEN");
    assert_eq!(export_jsonl(&db, "deliveries").len(), 1);
    let copy = scratch.dir.path().join("copy.db");
    let output = cli(&db, &["backup", copy.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer = post(&first.webhook_url, flat("user_2", "", "OPEN")).await;
    assert_eq!(
        answer.status, 200,
        "the first monitor goes on: {}",
        answer.body
    );

    // Once it has stopped, the database is free again, also after a crash.
    assert_eq!(first.terminate(), 0);
    let again = Monitor::start(&db, &[]);
    again.kill_hard();
    let after_crash = Monitor::start(&db, &[]);
    assert_eq!(lookup(&db, "user_2").unwrap()["status"], "OPEN");
    assert_eq!(after_crash.terminate(), 0);
}

/// Every file in `dir` with its size, to show that nothing was written there.
fn folder_state(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

/// `lookup`, `export` and `backup` of the database in `view` (a read-only mount) all work and
/// see `last_user`; nothing in the folder changes.
fn read_on_read_only_media(
    view: &support::disks::ReadOnlyView,
    last_user: &str,
    copy: &std::path::Path,
) {
    let db = view.path().join("monitor.db");
    let before = folder_state(view.path());
    let output = cli(&db, &["lookup", last_user, "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let user: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(user["status"], "OPEN");
    let output = cli(&db, &["export", "deliveries", "--format", "jsonl"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output).lines().count(), 3);
    let output = cli(&db, &["backup", copy.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(lookup(copy, last_user).is_some(), "the copy holds it");
    assert_eq!(folder_state(view.path()), before, "nothing written there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_export_and_backup_read_a_database_on_read_only_media() {
    let copies = Scratch::new();
    // Left clean: the monitor stopped, nothing in a -wal file.
    let clean = Scratch::new();
    let monitor = Monitor::start(&clean.db(), &[]);
    for id in ["user_1", "user_2", "user_3"] {
        assert_eq!(
            post(&monitor.webhook_url, flat(id, "", "OPEN"))
                .await
                .status,
            200
        );
    }
    assert_eq!(monitor.terminate(), 0);
    let view = support::disks::ReadOnlyView::of(clean.dir.path());
    read_on_read_only_media(&view, "user_3", &copies.dir.path().join("clean.db"));
    drop(view);

    // Left by a crash: its last deliveries are in the -wal file only, beside its -shm file.
    let crashed = Scratch::new();
    let monitor = Monitor::start(&crashed.db(), &[]);
    for id in ["user_1", "user_2", "user_3"] {
        assert_eq!(
            post(&monitor.webhook_url, flat(id, "", "OPEN"))
                .await
                .status,
            200
        );
    }
    // Killed once what it acknowledged is projected too (otherwise a read-only lookup rightly
    // says the users lag their deliveries), before any checkpoint.
    let db = crashed.db();
    support::eventually("user_3 projected", || {
        let db = db.clone();
        async move { support::lookup(&db, "user_3").ok_or_else(|| "not yet".to_owned()) }
    })
    .await;
    monitor.kill_hard();
    let wal = crashed.dir.path().join("monitor.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the -wal file holds writes"
    );
    let view = support::disks::ReadOnlyView::of(crashed.dir.path());
    read_on_read_only_media(&view, "user_3", &copies.dir.path().join("crashed.db"));
    drop(view);

    // Without its -shm file, that -wal cannot be read there: said, not read past.
    std::fs::remove_file(crashed.dir.path().join("monitor.db-shm")).unwrap();
    let view = support::disks::ReadOnlyView::of(crashed.dir.path());
    let output = cli(&view.path().join("monitor.db"), &["export"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("-wal") && stderr.contains("writable folder"),
        "{stderr}"
    );
}
