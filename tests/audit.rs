//! The audit log: entries appended by a real running monitor (single-person mode: a user page
//! and a search are audited as `local`), read back through the UI API, exported, kept by
//! retention, rebuild and backup, and `audit verify` naming the entry that plain SQL changed,
//! removed or reordered.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// A monitor with its UI: (the process, UI base, token).
fn serve_with_ui(db: &Path, extra: &[&str]) -> (Monitor, String, String) {
    let mut monitor = Monitor::start_with(db, true, extra, &mut Command::new(BIN));
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn ui_get(base: &str, token: &str, path: &str) -> Answer {
    send(client().get(format!("{base}{path}")).bearer_auth(token)).await
}

async fn audit_page(base: &str, token: &str, query: &str) -> serde_json::Value {
    let answer = ui_get(base, token, &format!("/api/audit{query}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Sends one user's delivery, then opens their page and searches for them: two entries each.
async fn look_at_users(monitor: &Monitor, base: &str, token: &str, ids: &[&str]) {
    for id in ids {
        let sent = post(&monitor.webhook_url, flat(id, "REVIEW", "OPEN")).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let page = ui_get(base, token, &format!("/api/users/{id}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let found = ui_get(base, token, &format!("/api/search?q={id}")).await;
        assert_eq!(found.status, 200, "{}", found.body);
    }
}

fn audit_cli(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = cli(db, args);
    (
        output.status.code(),
        stdout(&output),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn audit_jsonl(db: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let (code, out, err) = audit_cli(
        db,
        &[&["audit", "export", "--format", "jsonl"], extra].concat(),
    );
    assert_eq!(code, Some(0), "{err}");
    out.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// A database whose audit log holds `entries` (an even number) entries, the monitor stopped.
async fn audited_database(scratch: &Scratch, entries: usize) {
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    let ids: Vec<String> = (1..=entries / 2).map(|i| format!("user_{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    look_at_users(&monitor, &base, &token, &ids).await;
    assert_eq!(
        audit_page(&base, &token, "").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        entries
    );
    assert_eq!(monitor.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_user_page_and_searching_are_audited_as_the_local_person() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    look_at_users(&monitor, &base, &token, &["user_123"]).await;
    let missing = ui_get(&base, &token, "/api/users/nobody").await;
    assert_eq!(missing.status, 404);

    let page = audit_page(&base, &token, "").await;
    let entries = page["entries"].as_array().unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        summary,
        [
            (3, "user-viewed", "nobody", "failed"),
            (2, "search", "user_123", "ok"),
            (1, "user-viewed", "user_123", "ok"),
        ]
    );
    for entry in entries {
        assert_eq!(entry["actor"], "local");
        assert_eq!(entry["role"], "admin");
        assert_eq!(
            entry["remoteAddr"], "127.0.0.1",
            "the address, as sign-ins have it"
        );
        assert_eq!(entry["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(page["lost"], 0);

    // Filters, and paging back by seq.
    let searches = audit_page(&base, &token, "?action=search").await;
    assert_eq!(searches["entries"].as_array().unwrap().len(), 1);
    let about = audit_page(&base, &token, "?target=user_123&actor=local").await;
    assert_eq!(about["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        audit_page(&base, &token, "?actor=someone").await["entries"],
        serde_json::json!([])
    );
    let first = audit_page(&base, &token, "?limit=2").await;
    assert_eq!(first["next"], 2);
    let rest = audit_page(&base, &token, "?limit=2&before=2").await;
    assert_eq!(rest["entries"][0]["seq"], 1);
    let at = entries[0]["at"].as_i64().unwrap();
    let later = audit_page(&base, &token, &format!("?since={}", at + 1)).await;
    assert_eq!(later["entries"], serde_json::json!([]));
    let until = audit_page(&base, &token, &format!("?until={}", at + 1)).await;
    assert_eq!(until["entries"].as_array().unwrap().len(), 3);

    // Verified while the monitor runs, and after it stopped.
    let (code, out, err) = audit_cli(&scratch.db(), &["audit", "verify"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "audit: 3 entries, chain intact\n"),
        "{err}"
    );
    assert_eq!(monitor.terminate(), 0);
    let (code, out, _) = audit_cli(&scratch.db(), &["audit", "verify"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "audit: 3 entries, chain intact\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_carries_each_new_entry() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    let mut feed = client()
        .get(format!("{base}/api/feed"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    look_at_users(&monitor, &base, &token, &["live_1"]).await;
    let mut said = String::new();
    while !said.contains("\"action\":\"search\"") {
        let chunk = feed.chunk().await.unwrap().expect("the feed goes on");
        said.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(said.contains("event: audit\ndata: {\"seq\":1,"), "{said}");
    assert!(
        said.contains("\"action\":\"user-viewed\",\"target\":\"live_1\""),
        "{said}"
    );
}

/// Copies the audited database with `backup` (which must keep the log), then runs `tamper` on
/// the copy with plain SQL and returns what `audit verify` says of it.
fn verify_after(scratch: &Scratch, name: &str, tamper: &str) -> (Option<i32>, String) {
    let copy = scratch.dir.path().join(format!("{name}.db"));
    let (code, _, err) = audit_cli(&scratch.db(), &["backup", copy.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = audit_cli(&copy, &["audit", "verify"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "audit: 6 entries, chain intact\n")
    );
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch(tamper).unwrap();
    drop(conn);
    let (code, out, err) = audit_cli(&copy, &["audit", "verify"]);
    assert_eq!(out, "", "a broken chain is told on stderr");
    (code, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_entry_that_plain_sql_changed_removed_or_reordered() {
    let scratch = Scratch::new();
    audited_database(&scratch, 6).await;
    let entries = audit_jsonl(&scratch.db(), &[]);
    let named = |seq: usize| {
        let e = &entries[seq - 1];
        format!(
            "entry #{seq} ({}, local, {})",
            e["at"].as_str().unwrap(),
            e["action"].as_str().unwrap()
        )
    };

    let (code, out) = verify_after(
        &scratch,
        "changed",
        "UPDATE audit_log SET target = 'someone_else' WHERE seq = 3",
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        format!(
            "audit: {} does not match its hash: it, or the entry before it (#2), was changed\n",
            named(3)
        )
    );

    let (code, out) = verify_after(&scratch, "removed", "DELETE FROM audit_log WHERE seq = 2");
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        format!(
            "audit: {} follows a gap: entry #2, just before it, was removed\n",
            named(3)
        )
    );

    let swap = "CREATE TEMP TABLE two AS SELECT * FROM audit_log WHERE seq IN (2, 5);
        UPDATE audit_log SET (at, actor, role, action, target, remote_addr, outcome, detail, hash) =
            (SELECT at, actor, role, action, target, remote_addr, outcome, detail, hash FROM two
              WHERE two.seq = 7 - audit_log.seq)
         WHERE seq IN (2, 5);";
    let (code, out) = verify_after(&scratch, "swapped", swap);
    assert_eq!(code, Some(1));
    let moved = named(5).replace("#5", "#2");
    assert_eq!(
        out,
        format!("audit: {moved} holds what was written as entry #5: the entries were reordered\n")
    );

    let (code, out) = verify_after(&scratch, "cut", "DELETE FROM audit_log WHERE seq = 6");
    assert_eq!(code, Some(1));
    assert_eq!(out, format!("audit: the log ends at {}, but the monitor wrote up to entry #6: the entries after #5 were removed\n", named(5)));

    // Changing the first entry, whose hash chains from zeros, can only be that entry.
    let (code, out) = verify_after(
        &scratch,
        "first",
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
    );
    assert_eq!(code, Some(1));
    assert!(out.starts_with("audit: entry #1 ("), "{out}");
    assert!(
        out.ends_with("does not match its hash: it was changed\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_writes_csv_and_json_lines_oldest_first_from_a_time() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    look_at_users(&monitor, &base, &token, &["user_a"]).await;
    let found = ui_get(&base, &token, "/api/search?q=%3DHYPERLINK(%22x%22)").await;
    assert_eq!(found.status, 200);
    assert_eq!(
        audit_page(&base, &token, "").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(monitor.terminate(), 0);

    let entries = audit_jsonl(&scratch.db(), &[]);
    let seqs: Vec<_> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(entries[0]["action"], "user-viewed");
    assert_eq!(entries[0]["target"], "user_a");
    assert_eq!(entries[2]["target"], "=HYPERLINK(\"x\")");
    assert!(entries[0]["at"].as_str().unwrap().ends_with('Z'));

    let (code, csv, err) = audit_cli(&scratch.db(), &["audit", "export"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "seq,at,actor,role,action,target,remoteAddr,outcome,detail,hash"
    );
    assert!(lines[1].starts_with("1,"), "{csv}");
    // A formula is neutralised as every export does it.
    assert!(
        lines[3].contains(",search,\"'=HYPERLINK(\"\"x\"\")\","),
        "{csv}"
    );

    // --since: the entries at or after that time, and only those.
    let last = entries[2]["at"].as_str().unwrap();
    let since = audit_jsonl(&scratch.db(), &["--since", last]);
    let expected: Vec<_> = entries
        .iter()
        .filter(|e| e["at"].as_str().unwrap() >= last)
        .cloned()
        .collect();
    assert_eq!(since, expected);
    assert!(audit_jsonl(&scratch.db(), &["--since", "2999-01-01T00:00:00+02:00"]).is_empty());

    let (code, _, err) = audit_cli(&scratch.db(), &["audit", "export", "--since", "yesterday"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not an RFC 3339 time"), "{err}");
    let (code, _, _) = audit_cli(&scratch.db(), &["audit", "export", "--format", "xml"]);
    assert_eq!(code, Some(2));
}

#[test]
fn audit_commands_never_create_a_database() {
    let scratch = Scratch::new();
    for args in [&["audit", "verify"][..], &["audit", "export"][..]] {
        let (code, out, err) = audit_cli(&scratch.db(), args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(err.contains("there is no database at"), "{err}");
        assert!(!scratch.db().exists());
    }
    let (code, out, _) = audit_cli(&scratch.db(), &["audit", "verify", "--no-such-flag"]);
    assert_eq!(code, Some(2), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_rebuild_and_the_online_backup_keep_every_entry() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &["--keep-deliveries", "0.00002"]);
    look_at_users(&monitor, &base, &token, &["kept_1", "kept_2"]).await;
    eventually("the deliveries trimmed by retention", || async {
        let deliveries = export_jsonl(&scratch.db(), "deliveries");
        match deliveries.len() == 2 && deliveries.iter().all(|d| d["body"].is_null()) {
            true => Ok(()),
            false => Err(format!("{deliveries:?}")),
        }
    })
    .await;
    assert_eq!(audit_jsonl(&scratch.db(), &[]).len(), 4);

    let online = scratch.dir.path().join("online.db");
    let answer = send(
        client()
            .post(format!("{base}/api/backup"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "path": online })),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (code, out, _) = audit_cli(&online, &["audit", "verify"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "audit: 4 entries, chain intact\n")
    );
    assert_eq!(monitor.terminate(), 0);

    let (code, _, err) = audit_cli(&scratch.db(), &["rebuild"]);
    assert_eq!(code, Some(0), "{err}");
    // The backup itself was audited once it had finished: the copy holds what came before it.
    let (code, out, _) = audit_cli(&scratch.db(), &["audit", "verify"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "audit: 5 entries, chain intact\n")
    );
    let kept = audit_jsonl(&scratch.db(), &[]);
    assert_eq!(kept[..4], audit_jsonl(&online, &[])[..]);
    assert_eq!(kept[4]["action"], "backup");
    assert_eq!(kept[4]["target"], online.to_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_deliveries_is_acknowledged_while_entries_are_appended() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    const EACH: usize = 150;
    let deliveries = (0..EACH).map(|i| {
        let url = monitor.webhook_url.clone();
        tokio::spawn(async move {
            post(&url, flat(&format!("burst_{i}"), "", "OPEN"))
                .await
                .status
        })
    });
    let searches = (0..EACH).map(|i| {
        let (base, token) = (base.clone(), token.clone());
        tokio::spawn(async move {
            ui_get(&base, &token, &format!("/api/search?q=burst_{i}"))
                .await
                .status
        })
    });
    let (deliveries, searches): (Vec<_>, Vec<_>) = (deliveries.collect(), searches.collect());
    for answered in deliveries {
        assert_eq!(answered.await.unwrap(), 200);
    }
    for answered in searches {
        assert_eq!(answered.await.unwrap(), 200);
    }
    let page = audit_page(&base, &token, &format!("?action=search&limit={EACH}")).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), EACH);
    assert_eq!(monitor.terminate(), 0);
    assert_eq!(export_jsonl(&scratch.db(), "deliveries").len(), EACH);
    let (code, out, _) = audit_cli(&scratch.db(), &["audit", "verify"]);
    assert_eq!(
        (code, out),
        (Some(0), format!("audit: {EACH} entries, chain intact\n"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_queue_is_audited_with_its_row_count_once_sent() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    for i in 0..3 {
        let id = format!("held_{i}");
        let sent = post(&monitor.webhook_url, flat(&id, "REVIEW", "ON_HOLD")).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    let csv = ui_get(&base, &token, "/api/review.csv").await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 1 + 3, "{}", csv.body);
    let export = support::eventually("the export audited", || async {
        let page = audit_page(&base, &token, "?action=export").await;
        match page["entries"].as_array().unwrap().first() {
            Some(entry) => Ok(entry.clone()),
            None => Err("no export entry yet".to_owned()),
        }
    })
    .await;
    assert_eq!(export["target"], "review queue");
    assert_eq!(export["outcome"], "ok");
    assert_eq!(export["detail"], "3 rows");
    assert_eq!(monitor.terminate(), 0);
}

/// The newest `n` audit entries, once there are `n` in all: (action, target, outcome, detail).
async fn entries(base: &str, token: &str, n: usize) -> Vec<[String; 4]> {
    support::eventually("the entries audited", || async {
        let page = audit_page(base, token, "").await;
        let entries: Vec<[String; 4]> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                ["action", "target", "outcome", "detail"].map(|k| e[k].as_str().unwrap().to_owned())
            })
            .collect();
        match entries.len() {
            len if len == n => Ok(entries),
            len => Err(format!("{len} entries")),
        }
    })
    .await
}

/// A replay and a resend are audited under the user the delivery sent names (an edited body
/// may name another user than the original's), saying which delivery became which; a resend
/// the monitor refused failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_and_an_edited_resend_are_audited_each_for_what_it_was() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    let sent = post(&monitor.webhook_url, flat("replayed", "REVIEW", "ON_HOLD")).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let replay = |body: serde_json::Value| {
        send(
            client()
                .post(format!("{base}/api/deliveries/1/replay"))
                .bearer_auth(&token)
                .json(&body),
        )
    };
    assert_eq!(replay(serde_json::json!({})).await.status, 200);
    let edited = flat("replayed", "ACCEPT", "CLOSED");
    assert_eq!(
        replay(serde_json::json!({ "body": edited })).await.status,
        200
    );
    let another = flat("someone_else", "REJECT", "CLOSED");
    let answer = replay(serde_json::json!({ "body": another })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["externalId"], "someone_else");
    let refused = replay(serde_json::json!({ "body": "{\"externalId\": 5}" })).await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    assert_eq!(refused.json()["outcome"], "rejected");
    let entries = entries(&base, &token, 4).await;
    let row = |action: &str, target: &str, outcome: &str, detail: &str| {
        [action, target, outcome, detail].map(str::to_owned)
    };
    // Newest first.
    assert_eq!(
        entries[1],
        row(
            "resend",
            "someone_else",
            "ok",
            "delivery 1 sent again as delivery 4"
        )
    );
    assert_eq!(
        entries[2],
        row(
            "resend",
            "replayed",
            "ok",
            "delivery 1 sent again as delivery 3"
        )
    );
    assert_eq!(
        entries[3],
        row(
            "replay",
            "replayed",
            "ok",
            "delivery 1 sent again as delivery 2, a duplicate"
        )
    );
    let [action, target, outcome, detail] = &entries[0];
    assert_eq!(
        [action, target, outcome],
        ["resend", "delivery 1", "failed"]
    );
    assert!(
        detail.starts_with("delivery 1 sent again as delivery 5, refused (HTTP 422): "),
        "{detail}"
    );
    assert_eq!(monitor.terminate(), 0);
}

/// The inspector's page is audited with whose raw bodies it showed, and a case with its notes
/// as a look at that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_and_a_case_are_audited_with_whose_data_they_showed() {
    let scratch = Scratch::new();
    let (monitor, base, token) = serve_with_ui(&scratch.db(), &[]);
    for id in ["ann_1", "bob_2", "ann_1"] {
        let sent = post(&monitor.webhook_url, flat(id, "REVIEW", "ON_HOLD")).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    assert_eq!(
        ui_get(&base, &token, "/api/deliveries?limit=2")
            .await
            .status,
        200
    );
    assert_eq!(
        ui_get(&base, &token, "/api/deliveries?q=bob_2")
            .await
            .status,
        200
    );
    assert_eq!(ui_get(&base, &token, "/api/cases/ann_1").await.status, 200);
    // An id that reads as a list of its own is named quoted, as one user.
    let sent = post(
        &monitor.webhook_url,
        flat("eve, carol", "REVIEW", "ON_HOLD"),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(
        ui_get(&base, &token, "/api/deliveries?limit=1")
            .await
            .status,
        200
    );
    let entries = entries(&base, &token, 4).await;
    let row = |action: &str, target: &str, detail: &str| {
        [action, target, "ok", detail].map(str::to_owned)
    };
    assert_eq!(
        entries[0],
        row(
            "body-viewed",
            "deliveries",
            "delivery 4; users \"eve, carol\""
        )
    );
    let entries = &entries[1..];
    assert_eq!(
        entries[0],
        row("user-viewed", "ann_1", "the case and its notes")
    );
    assert_eq!(
        entries[1],
        row(
            "body-viewed",
            "deliveries q=bob_2",
            "delivery 2; users bob_2"
        )
    );
    assert_eq!(
        entries[2],
        row(
            "body-viewed",
            "deliveries",
            "2 deliveries, 2 to 3; users ann_1, bob_2"
        )
    );
    assert_eq!(monitor.terminate(), 0);
}
