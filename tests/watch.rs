//! Users to watch (issue 24): the partner names users the newer API has not named yet; each
//! unknown one is on the board at once as NOT_STARTED, a known one is never moved back, and
//! `rebuild` keeps them, whether `watch` runs alone or asks a running monitor.

mod support;

use std::path::Path;

use support::{cli, eventually, export_jsonl, flat, lookup, stdout, Monitor, Scratch};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `watch ARGS...`: (exit code, stdout, stderr).
fn watch(db: &Path, args: &[&str]) -> (i32, String, String) {
    let output = cli(db, &[&["watch"], args].concat());
    (
        output.status.code().unwrap_or(-1),
        stdout(&output),
        stderr(&output),
    )
}

fn status_of(db: &Path, external_id: &str) -> Option<String> {
    lookup(db, external_id).map(|user| user["status"].as_str().unwrap_or_default().to_owned())
}

/// A user the provider has told the monitor about: OPEN.
async fn known_open_user(db: &Path, external_id: &str) {
    let monitor = Monitor::start(db, &[]);
    let answer = support::post(&monitor.webhook_url, flat(external_id, "", "OPEN")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(monitor.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_alone_puts_unknown_users_on_the_board_and_never_moves_a_known_one_back() {
    let scratch = Scratch::new();
    let db = scratch.db();
    known_open_user(&db, "known_1").await;

    let (code, out, err) = watch(&db, &["new_1", "new_2", "known_1", "new_1"]);
    assert_eq!((code, out.as_str()), (0, "2 new of 4\n"), "{err}");
    assert_eq!(status_of(&db, "new_1").as_deref(), Some("NOT_STARTED"));
    assert_eq!(status_of(&db, "new_2").as_deref(), Some("NOT_STARTED"));
    assert_eq!(status_of(&db, "known_1").as_deref(), Some("OPEN"));

    let watched: Vec<_> = export_jsonl(&db, "deliveries")
        .into_iter()
        .filter(|d| d["source"] == "watch")
        .collect();
    assert_eq!(watched.len(), 2, "one delivery per new user: {watched:?}");

    // Watching again learns nothing and writes nothing.
    let (code, out, _) = watch(&db, &["new_1", "known_1"]);
    assert_eq!((code, out.as_str()), (0, "0 new of 2\n"));
    assert_eq!(export_jsonl(&db, "deliveries").len(), 3);

    let rebuilt = cli(&db, &["rebuild"]);
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));
    assert_eq!(status_of(&db, "new_2").as_deref(), Some("NOT_STARTED"));
    assert_eq!(status_of(&db, "known_1").as_deref(), Some("OPEN"));
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_asks_a_running_monitor_and_its_board_shows_the_user_at_once() {
    let scratch = Scratch::new();
    let db = scratch.db();

    // The UI off: nothing to ask, and no second writer beside it.
    let quiet = Monitor::start(&db, &[]);
    let (code, out, err) = watch(&db, &["user_w"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("with its web UI off"), "{err}");
    assert_eq!(quiet.terminate(), 0);

    let mut running = Monitor::start_with_ui(&db, &[]);
    let (base, token) = running.ui();
    let get = |path: &str| {
        support::send(
            support::client()
                .get(format!("{base}{path}"))
                .bearer_auth(&token),
        )
    };
    let (code, out, err) = watch(&db, &["user_w", "user_x"]);
    assert_eq!((code, out.as_str()), (0, "2 new of 2\n"), "{err}");
    let column = get("/api/board/NOT_STARTED").await.json();
    let ids: Vec<_> = column["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["externalId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{column}");
    assert!(ids.contains(&"user_w".to_owned()) && ids.contains(&"user_x".to_owned()));
    let user = get("/api/users/user_w").await.json();
    assert_eq!(user["timeline"][0]["watched"], true, "{user}");
    assert_eq!(user["timeline"][0]["status"], "NOT_STARTED");
    let listed = get("/api/deliveries").await.json();
    assert_eq!(listed["deliveries"][0]["watched"], true, "{listed}");
    assert_eq!(listed["deliveries"][0]["status"], "NOT_STARTED", "{listed}");

    // The provider moves the user on; a watch after that leaves it where the provider said.
    let answer = support::post(&running.webhook_url, flat("user_w", "", "OPEN")).await;
    assert_eq!(answer.status, 200);
    let answer = support::send(
        support::client()
            .post(format!("{base}/api/watch"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"externalIds": ["user_w", "user_y"]})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), serde_json::json!({"asked": 2, "new": 1}));
    let user = get("/api/users/user_w").await.json();
    assert_eq!(user["user"]["status"], "OPEN", "{user}");

    // More than one request's worth (the UI API takes 1 MiB): sent in parts, counted as one.
    let csv = scratch.dir.path().join("many.csv");
    let many: Vec<String> = (0..12_000)
        .map(|n| format!("bulk_{n:05}_{}", "x".repeat(100)))
        .collect();
    std::fs::write(&csv, format!("externalId\n{}\n", many.join("\n"))).unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "12000 new of 12000\n"), "{err}");
    let column = get("/api/board/NOT_STARTED").await.json();
    assert_eq!(column["total"], 12_002, "{column}");

    let audit = get("/api/audit?action=watch").await;
    assert!(audit.body.contains("user_w"), "{}", audit.body);

    let answer = support::send(
        support::client()
            .post(format!("{base}/api/watch"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"externalIds": ["ok", ""]})),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("externalIds[1]"), "{}", answer.body);
    assert_eq!(running.terminate(), 0);
    assert_eq!(status_of(&db, "user_y").as_deref(), Some("NOT_STARTED"));
    assert_eq!(status_of(&db, "ok"), None, "a refused list watches nobody");
}

#[test]
fn watch_from_csv_takes_the_external_id_column_and_refuses_a_file_with_a_bad_row() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let csv = scratch.dir.path().join("users.csv");

    std::fs::write(
        &csv,
        "email,externalId\na@example.test,csv_1\nb@example.test,\nc@example.test,csv_3\n",
    )
    .unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("line 3") && err.contains("nothing was watched"),
        "{err}"
    );
    assert!(!err.contains("line 2") && !err.contains("line 4"), "{err}");

    std::fs::write(
        &csv,
        "email,externalId\na@example.test,csv_1\n\nc@example.test,\"csv_3\"\n,\n , \n",
    )
    .unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "2 new of 2\n"), "{err}");
    assert_eq!(status_of(&db, "csv_3").as_deref(), Some("NOT_STARTED"));

    // Without a header: one id a line.
    std::fs::write(&csv, "csv_1\ncsv_4\n").unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "1 new of 2\n"), "{err}");

    // Columns, none of them externalId: refused, naming them, rather than watching the header
    // and whatever the first column holds.
    std::fs::write(&csv, "id,name\nx1,Al\nx2,Bo\n").unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("columns (id, name) but none is named externalId"),
        "{err}"
    );
    assert_eq!(status_of(&db, "id"), None);
    assert_eq!(status_of(&db, "x1"), None);
    // A one-column file's header, however spelt, is a header, not a user.
    std::fs::write(&csv, "External_ID\ncsv_5\n").unwrap();
    let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "1 new of 1\n"), "{err}");
    assert_eq!(status_of(&db, "External_ID"), None);
    // Nothing, blank lines, or a header alone: refused, naming the file, not "0 new of 0".
    for empty in ["", "\n\n", "  \n \t\n", "externalId\n"] {
        std::fs::write(&csv, empty).unwrap();
        let (code, out, err) = watch(&db, &["--from-csv", csv.to_str().unwrap()]);
        assert_eq!((code, out.as_str()), (2, ""), "{empty:?}");
        assert!(
            err.contains("the file holds no id") && err.contains("users.csv"),
            "{empty:?}: {err}"
        );
    }

    let (code, _, err) = watch(&db, &[]);
    assert_eq!(code, 2, "no ids is a usage error: {err}");
    let (code, _, err) = watch(&db, &["--from-csv", "/nonexistent/users.csv"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_beta_demo_shows_the_users_it_started_on_the_board_before_they_are_final() {
    let scratch = Scratch::new();
    let db = scratch.db();
    // Only what the webhooks and the watch tell (polling: tests/poll.rs).
    let args = support::quick_demo("beta", "8", &["--poll-every", "off"]);
    let mut monitor = Monitor::start_with_ui(&db, &args);
    let (base, token) = monitor.ui();
    let get = |path: String| {
        support::send(
            support::client()
                .get(format!("{base}{path}"))
                .bearer_auth(&token),
        )
    };
    let demo = eventually("the beta demo to finish", || async {
        let provider = get("/api/provider".into()).await.json();
        match provider["demo"]["finished"] == true {
            true => Ok(provider["demo"].clone()),
            false => Err(provider["demo"].to_string()),
        }
    })
    .await;
    let summary = &demo["summary"];
    assert_eq!(summary["held"], 2, "{demo}");
    assert_eq!(summary["abandoned"], 2, "{demo}");
    // Held and abandoned users are never named by a beta webhook: watched, they are on the board.
    let waiting = eventually("all 8 users on the board", || async {
        let overview = get("/api/overview".into()).await.json();
        let column = get("/api/board/NOT_STARTED".into()).await.json();
        match overview["totalUsers"] == 8 && column["total"] == 4 {
            true => Ok(column),
            false => Err(format!("{overview} {column}")),
        }
    })
    .await;
    for abandoned in demo["abandonedUsers"].as_array().unwrap() {
        assert!(
            waiting["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| &u["externalId"] == abandoned),
            "{abandoned} waits at NOT_STARTED: {waiting}"
        );
    }
    assert_eq!(monitor.terminate(), 0);
}
