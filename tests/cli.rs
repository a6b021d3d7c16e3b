//! `lookup`, `export` and the command line's exit codes, as users and scripts see them.

mod support;

use support::*;

async fn journey(monitor: &Monitor) {
    for name in [
        "flat-not-started.json",
        "flat-open.json",
        "flat-open.json",
        "flat-docs-requested.json",
        "flat-accepted.json",
    ] {
        assert_eq!(post(&monitor.webhook_url, fixture(name)).await.status, 200);
    }
}

#[tokio::test]
async fn lookup_json_has_the_contract_shape() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    journey(&monitor).await;
    let user = lookup(&scratch.db(), "user_4821").unwrap();
    for key in [
        "externalId",
        "decision",
        "status",
        "subStatus",
        "participantId",
        "account",
        "firstSeenAt",
        "lastSeenAt",
        "events",
    ] {
        assert!(user.get(key).is_some(), "missing {key}");
    }
    let events = user["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "duplicates included");
    assert_eq!(events[2]["duplicate"], true);
    for event in events {
        for key in [
            "receivedAt",
            "decision",
            "status",
            "subStatus",
            "participantId",
            "account",
            "duplicate",
        ] {
            assert!(event.get(key).is_some(), "event missing {key}");
        }
    }
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["receivedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert_eq!(user["firstSeenAt"], events[0]["receivedAt"]);
    assert_eq!(user["lastSeenAt"], events[4]["receivedAt"]);
    let time = user["firstSeenAt"].as_str().unwrap();
    assert!(chrono_like(time), "{time}");
}

fn chrono_like(time: &str) -> bool {
    // 2026-11-26T10:00:00.123Z
    let b = time.as_bytes();
    time.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z'
}

#[tokio::test]
async fn lookup_text_is_readable_and_not_found_is_exit_1() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    journey(&monitor).await;
    let output = cli(&scratch.db(), &["lookup", "user_4821"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.starts_with("user_4821\n"), "{text}");
    assert!(text.contains("status         CLOSED"));
    assert!(text.contains("account        firms/ISV-Acme/accounts/7c1e9a02b4d6"));
    assert!(text.contains("timeline (5 events, oldest first)"));
    assert!(text.contains("(duplicate)"));

    let missing = cli(&scratch.db(), &["lookup", "nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user with externalId \"nobody\""));
    // Exact match only: a prefix is not the user.
    assert_eq!(
        cli(&scratch.db(), &["lookup", "user_48"]).status.code(),
        Some(1)
    );
}

#[tokio::test]
async fn export_users_csv_round_trips_through_a_csv_reader() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    journey(&monitor).await;
    let awkward = r#"{"externalId":"=HYPERLINK(\"http://x\")","decision":"","status":"OPEN","subStatus":"line one\nline \"two\", with comma","participantId":"-1","account":"@a"}"#;
    assert_eq!(post(&monitor.webhook_url, awkward).await.status, 200);

    let output = cli(&scratch.db(), &["export"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("\r\n"), "RFC 4180 line ends");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers,
        [
            "externalId",
            "decision",
            "status",
            "subStatus",
            "participantId",
            "account",
            "firstSeenAt",
            "lastSeenAt",
            "eventCount",
            "rejectionReason",
            "statusSetAt",
            "assignee",
            "notes"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "user_4821");
    assert_eq!(&rows[0][8], "5", "duplicates count");
    // Formula cells neutralised; everything else verbatim, embedded quotes and newlines included.
    assert_eq!(&rows[1][0], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&rows[1][3], "line one\nline \"two\", with comma");
    assert_eq!((&rows[1][4], &rows[1][5]), ("'-1", "'@a"));

    // JSON Lines carries the same users, unneutralised and typed.
    let users = export_jsonl(&scratch.db(), "users");
    assert_eq!(users[1]["externalId"], "=HYPERLINK(\"http://x\")");
    assert_eq!(users[0]["eventCount"], 5);
    assert_eq!(users[0]["firstSeenAt"].as_str(), Some(&rows[0][6]));
}

#[tokio::test]
async fn export_events_and_deliveries_list_everything_oldest_first() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    journey(&monitor).await;
    post(&monitor.webhook_url, b"{}".to_vec()).await;
    post(&monitor.webhook_url, b"\xc3\x28".to_vec()).await;

    let events = export_jsonl(&scratch.db(), "events");
    assert_eq!(events.len(), 5);
    assert_eq!(events.iter().filter(|e| e["duplicate"] == true).count(), 1);
    let lookup_events = lookup(&scratch.db(), "user_4821").unwrap()["events"].clone();
    for (exported, looked_up) in events.iter().zip(lookup_events.as_array().unwrap()) {
        for key in ["receivedAt", "status", "decision", "subStatus", "duplicate"] {
            assert_eq!(exported[key], looked_up[key], "{key}");
        }
    }

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let outcomes: Vec<&str> = deliveries
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "accepted",
            "duplicate",
            "accepted",
            "accepted",
            "ping",
            "rejected"
        ]
    );
    assert!(deliveries.iter().all(|d| d["httpStatus"].is_number()));
    assert_eq!(
        deliveries[0]["body"].as_str().unwrap().as_bytes(),
        fixture("flat-not-started.json")
    );
    assert_eq!(deliveries[6]["bodyBase64"], "wyg=");
    assert!(deliveries[6]["body"].is_null());
    assert!(deliveries[6]["error"].as_str().unwrap().contains("UTF-8"));

    let csv_text = stdout(&cli(
        &scratch.db(),
        &["export", "deliveries", "--format", "csv"],
    ));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    for column in [
        "receivedAt",
        "outcome",
        "httpStatus",
        "error",
        "body",
        "bodyBase64",
    ] {
        assert!(headers.iter().any(|h| h == column), "missing {column}");
    }
    assert_eq!(reader.records().count(), 7);
}

#[test]
fn export_of_an_empty_database_has_headers_only() {
    let scratch = Scratch::new();
    kyc_monitor::store::Store::open(&scratch.db()).unwrap();
    for (table, first) in [
        ("users", "externalId"),
        ("events", "receivedAt"),
        ("deliveries", "id"),
    ] {
        let output = cli(&scratch.db(), &["export", table]);
        assert!(output.status.success());
        let text = stdout(&output);
        assert_eq!(text.lines().count(), 1, "{table}: {text}");
        assert!(text.starts_with(first));
        let jsonl = cli(&scratch.db(), &["export", table, "--format", "jsonl"]);
        assert!(jsonl.stdout.is_empty());
    }
}

#[test]
fn export_into_a_closed_pipe_ends_quietly() {
    let scratch = Scratch::new();
    let db = scratch.db();
    kyc_monitor::store::Store::open(&db).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {BIN} export deliveries --db '{}' | head -c 0",
            db.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let scratch = Scratch::new();
    for args in [
        &["serve", "--listen", "nonsense"][..],
        &["serve", "--max-body", "lots"],
        &["serve", "--max-body", "0"],
        &["export", "passwords"],
        &["export", "--format", "xml"],
        &["lookup"],
        &["frobnicate"],
        &["serve", "--tunnel", "ngrok2"],
        &["serve", "--tunnel", "bore:"],
        &["serve", "--tunnel", "url:monitor.example.com"],
        &["serve", "--ui-deadline", "0s"],
        &["serve", "--ui-deadline", "2h"],
    ] {
        let output = cli(&scratch.db(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let help = cli(&scratch.db(), &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("serve"));
}

#[test]
fn a_port_in_use_is_a_clear_failure() {
    let scratch = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = cli(
        &scratch.db(),
        &["serve", "--ui-listen", "off", "--listen", &addr],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("--listen"),
        "{stderr}"
    );
    // The reason once, not again after the advice.
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
}

#[test]
fn the_bare_command_in_a_headless_build_points_to_serve() {
    let scratch = Scratch::new();
    let output = cli(&scratch.db(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("kyc-monitor serve"));
}

/// Starts `serve` with the default UI address and returns its ui: URL (and the process).
fn serve_with_default_ui(db: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let webhook = lines.next().unwrap().unwrap();
    assert!(webhook.starts_with("webhook: "), "{webhook}");
    let ui = lines.next().unwrap().unwrap();
    let url = ui
        .strip_prefix("ui: ")
        .unwrap_or_else(|| panic!("no ui: line but {ui:?}"))
        .to_owned();
    (child, url)
}

#[test]
fn two_monitors_with_the_default_ui_address_both_start() {
    let (first_db, second_db) = (Scratch::new(), Scratch::new());
    let (mut first, first_ui) = serve_with_default_ui(&first_db.db());
    let (mut second, second_ui) = serve_with_default_ui(&second_db.db());
    assert_ne!(first_ui, second_ui);
    assert!(
        first_ui.starts_with("http://127.0.0.1:") && second_ui.starts_with("http://127.0.0.1:")
    );
    for child in [&mut first, &mut second] {
        signal(child, "TERM");
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn an_explicit_ui_address_that_is_taken_is_a_clear_failure() {
    let scratch = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = cli(
        &scratch.db(),
        &["serve", "--listen", "127.0.0.1:0", "--ui-listen", &addr],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ui-listen"));
}

#[test]
fn without_a_display_the_bare_command_points_to_serve() {
    let scratch = Scratch::new();
    let output = std::process::Command::new(BIN)
        .arg("--db")
        .arg(scratch.db())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kyc-monitor serve"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(!scratch.db().exists(), "nothing was created");
}

#[tokio::test]
async fn lookup_text_shows_control_and_bidi_characters_escaped_and_json_keeps_them() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let external_id = "evil\u{1b}]0;pwned\u{7}id";
    let body = serde_json::json!({
        "externalId": external_id,
        "decision": "\u{1b}[2J\u{1b}[HACCEPT",
        "status": "OPEN\u{202e}DESOLC",
        "subStatus": "a\u{2066}b\u{2069}\u{200b}\u{feff}c\u{9b}31m",
        "participantId": "line\r\nfake: output\u{7f}",
        "account": "\u{061c}\u{200e}\u{200f}\u{202a}acct",
    });
    assert_eq!(
        post(&monitor.webhook_url, body.to_string()).await.status,
        200
    );
    drop(monitor);

    let output = cli(&scratch.db(), &["lookup", external_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    let raw_danger = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    assert!(!text.chars().any(raw_danger), "{text:?}");
    assert!(text.starts_with("evil\\u001b]0;pwned\\u0007id\n"), "{text}");
    for shown in [
        "\\u001b[2J\\u001b[HACCEPT",
        "OPEN\\u202eDESOLC",
        "a\\u2066b\\u2069\\u200b\\ufeffc\\u009b31m",
        "line\\u000d\\u000afake: output\\u007f",
        "\\u061c\\u200e\\u200f\\u202aacct",
    ] {
        assert!(text.contains(shown), "{shown} not in {text}");
    }
    // Each field stays on its own line: an embedded newline cannot fake one.
    assert_eq!(
        text.lines().filter(|l| l.contains("fake: output")).count(),
        2
    );

    let json = lookup(&scratch.db(), external_id).unwrap();
    assert_eq!(json["externalId"], external_id);
    for key in [
        "decision",
        "status",
        "subStatus",
        "participantId",
        "account",
    ] {
        assert_eq!(json[key], body[key], "{key}");
        assert_eq!(json["events"][0][key], body[key], "{key}");
    }
}

#[tokio::test]
async fn csv_export_shows_bidi_controls_escaped_and_jsonl_keeps_them() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let bidi = [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
    ];
    // An id that a spreadsheet would show as "invoice_exe.pdf", and one per control.
    let mut ids = vec!["invoice_\u{202e}fdp.exe".to_owned()];
    ids.extend(bidi.iter().map(|c| format!("{c}=user_{:04x}", *c as u32)));
    for id in &ids {
        let answer = post(&monitor.webhook_url, flat(id, "", "OPEN\u{2067}x")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    drop(monitor);

    for table in ["users", "events", "deliveries"] {
        let output = cli(&scratch.db(), &["export", table, "--format", "csv"]);
        assert!(output.status.success(), "{table}");
        let text = stdout(&output);
        assert!(
            !text.chars().any(|c| bidi.contains(&c)),
            "{table}: a raw bidi control in {text:?}"
        );
        assert!(text.contains("invoice_\\u202efdp.exe"), "{table}: {text}");
        assert!(text.contains("OPEN\\u2067x"), "{table}: {text}");
    }
    let output = cli(&scratch.db(), &["export", "users", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let shown: Vec<String> = reader
        .records()
        .map(|row| row.unwrap()[0].to_owned())
        .collect();
    for c in bidi {
        // Escaped: the cell starts with a backslash now, which no spreadsheet runs.
        let expected = format!("\\u{:04x}=user_{:04x}", c as u32, c as u32);
        assert!(shown.contains(&expected), "{expected} not in {shown:?}");
    }
    // The deliveries' raw bodies stay JSON that reads back as the same id.
    let output = cli(&scratch.db(), &["export", "deliveries", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let body_column = reader.headers().unwrap().iter().position(|h| h == "body");
    let bodies: Vec<serde_json::Value> = reader
        .records()
        .map(|row| serde_json::from_str(&row.unwrap()[body_column.unwrap()]).unwrap())
        .collect();
    assert_eq!(bodies[0]["externalId"], ids[0]);

    let users = export_jsonl(&scratch.db(), "users");
    let exact: Vec<&str> = users
        .iter()
        .map(|u| u["externalId"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(
            exact.contains(&id.as_str()),
            "JSON Lines keeps {id:?} exactly"
        );
    }
}

/// The database path and its SQLite companions, for checking that nothing appeared.
fn database_files(db: &std::path::Path) -> Vec<std::path::PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            std::path::PathBuf::from(path)
        })
        .collect()
}

#[test]
fn read_only_commands_never_create_a_database() {
    let scratch = Scratch::new();
    let typo = scratch.dir.path().join("no-such-folder/monitr.db");
    let sibling = scratch.db();
    for args in [
        &["lookup", "user_4821"][..],
        &["lookup", "user_4821", "--json"],
        &["export"],
        &["export", "deliveries", "--format", "jsonl"],
        &["rebuild"],
    ] {
        for db in [&typo, &sibling] {
            let output = cli(db, args);
            assert_eq!(output.status.code(), Some(1), "{args:?}");
            assert!(output.stdout.is_empty(), "{args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains(&db.display().to_string()) && stderr.contains("no database"),
                "{args:?}: {stderr}"
            );
            for path in database_files(db) {
                assert!(!path.exists(), "{args:?} made {}", path.display());
            }
        }
        assert!(!typo.parent().unwrap().exists(), "{args:?} made the folder");
    }
    // The default location counts too.
    let home = scratch.dir.path().join("home");
    let output = std::process::Command::new(BIN)
        .args(["export"])
        .env_remove("KYC_MONITOR_DB")
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("kyc-monitor.db"));
    assert!(!home.exists());
}

#[test]
fn read_only_commands_refuse_an_empty_file_and_leave_it_empty() {
    let scratch = Scratch::new();
    let empty = scratch.db();
    std::fs::write(&empty, b"").unwrap();
    for args in [&["lookup", "user_4821"][..], &["export"], &["rebuild"]] {
        let output = cli(&empty, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&empty.display().to_string())
                && stderr.contains("empty")
                && stderr.contains("untouched"),
            "{stderr}"
        );
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "{args:?}");
    }
    // serve still takes it as a new database, and then it reads as one.
    let monitor = Monitor::start(&empty, &[]);
    drop(monitor);
    let output = cli(&empty, &["export"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output).lines().count(), 1);
}
