//! `backup DEST`: a consistent copy while `serve` takes deliveries, refusals that leave files as
//! they were, and the progress it shows on stderr (the plain form, as in a log).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

/// Posts distinct users from `clients` concurrent clients until `stop`; every acknowledged
/// externalId goes into `acked`, in the order the answers came.
fn load(
    url: &str,
    clients: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = client();
    (0..clients)
        .map(|sender| {
            let (client, url, stop, acked) =
                (client.clone(), url.to_owned(), stop.clone(), acked.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("load_{sender}_{n}");
                    let answer = send(client.post(&url).body(flat(&id, "", "OPEN"))).await;
                    assert_eq!(answer.status, 200, "{}", answer.body);
                    acked.lock().unwrap().push(id);
                }
            })
        })
        .collect()
}

fn integrity(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// The files in `dir`, without the -wal and -shm files SQLite keeps beside a database.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect()
}

fn backup(db: &Path, dest: &Path) -> std::process::Output {
    cli(db, &["backup", dest.to_str().unwrap()])
}

/// `external_id`s named in the bodies of `export deliveries` of `db`.
fn delivered_users(db: &Path) -> BTreeSet<String> {
    export_jsonl(db, "deliveries")
        .iter()
        .filter_map(|d| d["body"].as_str())
        .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .filter_map(|body| body["externalId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_holds_every_delivery_acked_before_it_and_passes_integrity_check() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let copies = scratch.dir.path().join("backups");
    std::fs::create_dir(&copies).unwrap();
    let dest = copies.join("monitor-copy.db");
    let first = send(client().post(&monitor.webhook_url).body(flat(
        "user_first",
        "ACCEPT",
        "CLOSED",
    )))
    .await;
    assert_eq!(first.status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let senders = load(&monitor.webhook_url, 8, stop.clone(), acked.clone());
    while acked.lock().unwrap().len() < 500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let (db, to) = (scratch.db(), dest.clone());
    let output = tokio::task::spawn_blocking(move || backup(&db, &to))
        .await
        .unwrap();
    let acked_during = acked.lock().unwrap().len() - acked_before.len();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(acked_during > 0, "the load went on while the backup ran");
    let printed = stdout(&output);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], format!("backup: {}", dest.display()), "{printed}");
    let value = |name: &str| -> u64 {
        let line = lines
            .iter()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}: line in {printed}"));
        line.parse().unwrap()
    };
    assert!(value("pages") > 0 && value("bytes") >= value("pages") * 512);
    assert!(value("deliveries") > acked_before.len() as u64, "{printed}");
    assert!(value("users") > 0, "{printed}");
    assert_eq!(
        files_in(&copies),
        BTreeSet::from(["monitor-copy.db".to_owned()]),
        "only the copy, no temporary or journal file"
    );
    assert_eq!(integrity(&dest), "ok");

    let in_copy = delivered_users(&dest);
    let first = "user_first".to_owned();
    let missing: Vec<&String> = acked_before
        .iter()
        .chain([&first])
        .filter(|id| !in_copy.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} deliveries acked before the backup are not in it, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        value("deliveries"),
        export_jsonl(&dest, "deliveries").len() as u64,
        "the printed count is the copy's"
    );
    let user = lookup(&dest, "user_first").expect("lookup reads the copy");
    assert_eq!(user["decision"], "ACCEPT");
    drop(monitor);

    // The copy is a database the monitor runs on, as --db.
    let restored = Monitor::start(&dest, &[]);
    let answer = post(
        &restored.webhook_url,
        flat("user_after_restore", "", "OPEN"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(restored.terminate(), 0);
    assert!(delivered_users(&dest).contains("user_after_restore"));
}

#[test]
fn an_existing_destination_is_refused_and_left_untouched() {
    let scratch = Scratch::new();
    drop(Monitor::start(&scratch.db(), &[]));
    let dest = scratch.dir.path().join("precious.db");
    std::fs::write(&dest, b"not to be overwritten").unwrap();
    let before = files_in(scratch.dir.path());

    let output = backup(&scratch.db(), &dest);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dest.display().to_string()) && stderr.contains("already exists"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"not to be overwritten");
    assert_eq!(
        files_in(scratch.dir.path()),
        before,
        "nothing left beside it"
    );

    // A folder is not a new file either.
    let output = backup(&scratch.db(), scratch.dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is a folder"), "{stderr}");
}

#[test]
fn a_missing_database_or_destination_folder_is_refused_and_nothing_is_made() {
    let scratch = Scratch::new();
    let missing_db = scratch.dir.path().join("no-such.db");
    let dest = scratch.dir.path().join("copy.db");
    let output = backup(&missing_db, &dest);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&missing_db.display().to_string()) && stderr.contains("no database"),
        "{stderr}"
    );
    assert!(files_in(scratch.dir.path()).is_empty(), "nothing was made");

    drop(Monitor::start(&scratch.db(), &[]));
    let before = files_in(scratch.dir.path());
    let absent: PathBuf = scratch.dir.path().join("not-mounted/copy.db");
    let output = backup(&scratch.db(), &absent);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&absent.parent().unwrap().display().to_string())
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert_eq!(files_in(scratch.dir.path()), before, "no folder was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_work_shows_plain_progress_lines_on_stderr_and_only_results_on_stdout() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    // 3,000 deliveries: 600 users through five steps each.
    let client = client();
    let steps = ["NOT_STARTED", "OPEN", "ON_HOLD", "OPEN", "CLOSED"];
    let senders: Vec<_> = (0..12)
        .map(|sender| {
            let (client, url) = (client.clone(), monitor.webhook_url.clone());
            tokio::spawn(async move {
                for user in (sender..600).step_by(12) {
                    for (step, status) in steps.iter().enumerate() {
                        let decision = if step == 4 { "ACCEPT" } else { "" };
                        let body = serde_json::json!({
                            "externalId": format!("user_{user:04}"), "decision": decision,
                            "status": status, "subStatus": format!("step {step}"),
                            "participantId": "", "account": ""
                        });
                        let answer = send(client.post(&url).body(body.to_string())).await;
                        assert_eq!(answer.status, 200, "{}", answer.body);
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(monitor.terminate(), 0);

    let dest = scratch.dir.path().join("copy.db");
    let output = backup(&scratch.db(), &dest);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output)
            .lines()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        ["backup", "pages", "bytes", "deliveries", "users"],
        "stdout holds the results only"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("kyc-monitor: backup: ")),
        "{stderr}"
    );
    assert!(lines.iter().any(|l| l.ends_with("(100%)")), "{stderr}");
    assert!(
        lines.contains(&"kyc-monitor: backup: checking the copy"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal codes in the plain form: {stderr:?}"
    );

    let output = cli(
        &scratch.db(),
        &["export", "deliveries", "--format", "jsonl"],
    );
    assert!(output.status.success());
    let rows = stdout(&output);
    assert_eq!(rows.lines().count(), 3000);
    assert!(rows
        .lines()
        .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"kyc-monitor: export: 0 of 3000 deliveries (0%)"),
        "{stderr}"
    );
    assert_eq!(
        lines.last(),
        Some(&"kyc-monitor: export: 3000 of 3000 deliveries (100%)"),
        "{stderr}"
    );

    // rebuild: its deliveries, then its last step, which holds deliveries up meanwhile.
    let output = cli(&scratch.db(), &["rebuild"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        "rebuilt events and users from 3000 deliveries\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let swapping = lines
        .iter()
        .position(|l| *l == "kyc-monitor: rebuild: building the indexes and swapping the tables in")
        .unwrap_or_else(|| panic!("the last step is said: {stderr}"));
    assert!(
        lines[..swapping].contains(&"kyc-monitor: rebuild: 3000 of 3000 deliveries (100%)"),
        "every delivery projected before the swap: {stderr}"
    );

    // A small export is over before anyone would look: it says nothing.
    let output = cli(&scratch.db(), &["export", "users"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output).lines().count(), 601);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_from_the_ui_shows_its_progress_on_the_live_feed_and_refuses_bad_paths() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[],
        &mut std::process::Command::new(BIN),
    );
    let (base, token) = monitor.ui();
    for n in 0..200 {
        let answer = send(client().post(&monitor.webhook_url).body(flat(
            &format!("ui_backup_{n}"),
            "",
            "OPEN",
        )))
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let post = |path: &str| {
        client()
            .post(format!("{base}/api/backup"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "path": path }))
    };

    // The feed first, so that nothing the backup says is missed.
    let mut feed = reqwest::Client::new()
        .get(format!("{base}/api/feed"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let dest = scratch.dir.path().join("from-the-ui.db");
    let answer = send(post(dest.to_str().unwrap())).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let report = answer.json();
    assert_eq!(report["users"], 200);
    assert_eq!(report["path"], dest.to_str().unwrap());

    // What the feed said: the backup running, then done with every byte counted.
    let mut said = String::new();
    let works = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = feed.chunk().await.unwrap().expect("the feed goes on");
            said.push_str(&String::from_utf8_lossy(&chunk));
            let works: Vec<serde_json::Value> = said
                .split("\n\n")
                .filter(|event| event.starts_with("event: work\n"))
                .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
                .flat_map(|data| serde_json::from_str::<Vec<serde_json::Value>>(data).unwrap())
                .filter(|work| work["kind"] == "backup")
                .collect();
            if works.iter().any(|work| work["state"] != "running") {
                return works;
            }
        }
    })
    .await
    .expect("the feed told how the backup ended");
    assert_eq!(works.first().unwrap()["state"], "running", "{works:?}");
    let last = works.last().unwrap();
    assert_eq!(last["state"], "done", "{works:?}");
    assert_eq!(last["unit"], "bytes");
    assert_eq!(last["done"], last["total"], "{last}");
    assert!(last["total"].as_u64().unwrap() > 0, "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("200 users"),
        "{last}"
    );
    assert_eq!(integrity(&dest), "ok");
    assert_eq!(
        delivered_users(&dest).len(),
        200,
        "the copy holds every delivery"
    );

    // Refusals say what to do; a failed backup shows as failed to whoever looks next.
    let relative = send(post("copy.db")).await;
    assert_eq!(relative.status, 400, "{}", relative.body);
    assert!(
        relative.body.contains("not an absolute path"),
        "{}",
        relative.body
    );
    let again = send(post(dest.to_str().unwrap())).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("already exists"), "{}", again.body);
    let board = send(client().get(format!("{base}/api/work")).bearer_auth(&token)).await;
    let board = board.json();
    assert_eq!(board[0]["kind"], "backup", "{board}");
    assert_eq!(board[0]["state"], "failed", "{board}");
    assert!(
        board[0]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{board}"
    );
    assert_eq!(monitor.terminate(), 0);
}

/// Every file in `dir`, hidden ones and SQLite's companions included.
fn every_file_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_fills_the_disk_fails_in_one_sentence_and_leaves_no_file_behind() {
    let scratch = Scratch::new();
    // About 25 MiB, for a disk of 4.
    support::bulk::bulk_database(&scratch.db(), 800, 32 * 1024).await;
    let disk = support::disks::SmallDisk::mount("4m");
    let dest = disk.path().join("copy.db");

    let output = backup(&scratch.db(), &dest);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("kyc-monitor: backup: "))
        .collect();
    assert_eq!(said.len(), 1, "one sentence: {stderr}");
    assert!(
        said[0].contains("is full") && said[0].contains(&dest.display().to_string()),
        "{stderr}"
    );
    assert_eq!(
        every_file_in(disk.path()),
        BTreeSet::new(),
        "no copy, no temporary file and no -journal left"
    );

    // From the UI, the same copy fails the same way.
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[],
        &mut std::process::Command::new(BIN),
    );
    let (base, token) = monitor.ui();
    let answer = send(
        client()
            .post(format!("{base}/api/backup"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "path": dest })),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("is full"), "{}", answer.body);
    assert_eq!(every_file_in(disk.path()), BTreeSet::new());
    assert_eq!(monitor.terminate(), 0);
}

/// A backup stopped by Ctrl-C or SIGTERM midway removes its temporary copy before it exits,
/// saying so: nothing is left in the folder, not even for the next backup to clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_stopped_by_a_signal_leaves_nothing_behind() {
    let scratch = Scratch::new();
    support::bulk::bulk_database(&scratch.db(), 3_000, 32 * 1024).await;
    let copies = scratch.dir.path().join("backups");
    std::fs::create_dir(&copies).unwrap();
    let dest = copies.join("copy.db");
    for name in ["TERM", "INT"] {
        let running = std::process::Command::new(BIN)
            .args(["backup", dest.to_str().unwrap(), "--db"])
            .arg(scratch.db())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !std::fs::read_dir(&copies)
            .unwrap()
            .flatten()
            .any(|entry| entry.metadata().is_ok_and(|meta| meta.len() > 0))
        {
            assert!(started.elapsed() < Duration::from_secs(60), "no copy began");
            std::thread::sleep(Duration::from_millis(1));
        }
        signal(&running, name);
        let output = running.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {said}");
        assert!(
            said.contains("the backup was stopped before it finished"),
            "{said}"
        );
        assert_eq!(
            every_file_in(&copies),
            BTreeSet::new(),
            "{name}: nothing left"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_no_finished_looking_file_and_the_next_one_clears_its_leftovers() {
    let scratch = Scratch::new();
    // About 100 MiB: the copy takes long enough to be caught midway.
    support::bulk::bulk_database(&scratch.db(), 3_000, 32 * 1024).await;
    let copies = scratch.dir.path().join("backups");
    std::fs::create_dir(&copies).unwrap();
    let dest = copies.join("copy.db");

    let mut running = std::process::Command::new(BIN)
        .args(["backup", dest.to_str().unwrap(), "--db"])
        .arg(scratch.db())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Midway: its temporary copy exists and has pages in it.
    let started = std::time::Instant::now();
    loop {
        let copying = std::fs::read_dir(&copies)
            .unwrap()
            .flatten()
            .any(|entry| entry.metadata().is_ok_and(|meta| meta.len() > 0));
        if copying {
            break;
        }
        assert!(
            running.try_wait().unwrap().is_none(),
            "the backup ended before it could be caught copying"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no copy began");
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(&running, "KILL");
    let status = running.wait().unwrap();
    assert_eq!(status.code(), None, "killed midway, not finished: {status}");

    assert!(!dest.exists(), "nothing at the destination");
    let left = every_file_in(&copies);
    assert!(
        left.iter()
            .all(|name| name.starts_with(".copy.db.") && name.contains(".partial")),
        "only a hidden temporary file: {left:?}"
    );
    let output = cli(&dest, &["export"]);
    assert_eq!(output.status.code(), Some(1), "nothing to use as --db");

    let output = backup(&scratch.db(), &dest);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        every_file_in(&copies),
        BTreeSet::from(["copy.db".to_owned()]),
        "the next backup to the same path removed what the killed one left"
    );
    assert_eq!(integrity(&dest), "ok");
    assert_eq!(export_jsonl(&dest, "users").len(), 3_000);
}
