//! The core's rules in-process: `Monitor::open` on a temporary database, no shell in between.

mod support;

use kyc_monitor::monitor::{Monitor, MonitorConfig, OpenError};
use kyc_monitor::store::StoreError;
use support::{delivery_at, flat, Scratch};

async fn open(scratch: &Scratch) -> Result<std::sync::Arc<Monitor>, OpenError> {
    Monitor::open(MonitorConfig::for_command(scratch.db()))
        .await
        .map(|(monitor, _)| monitor)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_monitor_on_one_database_is_refused_until_the_first_closes() {
    let scratch = Scratch::new();
    let first = open(&scratch).await.unwrap();
    // The same file by another name: a symbolic link, and a path through `..`.
    let link = scratch.dir.path().join("alias.db");
    std::os::unix::fs::symlink(scratch.db(), &link).unwrap();
    let folder = scratch.dir.path();
    let around = folder
        .join("..")
        .join(folder.file_name().unwrap())
        .join(scratch.db().file_name().unwrap());
    for db in [scratch.db(), link, around] {
        match Monitor::open(MonitorConfig::for_command(db.clone())).await {
            Err(OpenError::Store(error @ StoreError::InUse { .. })) => assert!(
                error.to_string().contains("is already running on"),
                "{error}"
            ),
            Err(other) => panic!("{db:?} refused for another reason: {other}"),
            Ok(_) => panic!("a second monitor opened the database as {db:?}"),
        }
    }
    first.close().await;
    let again = open(&scratch).await.expect("the claim goes with close");
    again.close().await;
}

/// A first monitor started through a link to a file that does not exist yet (SQLite creates
/// it): a second one on the file's own path, or on the link, is still refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_to_a_database_not_made_yet_locks_the_file_it_names() {
    let scratch = Scratch::new();
    let real = scratch.dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let target = real.join("target.db");
    let link = scratch.dir.path().join("dangling.db");
    std::os::unix::fs::symlink("real/target.db", &link).unwrap();
    let first = Monitor::open(MonitorConfig::for_command(link.clone()))
        .await
        .map(|(monitor, _)| monitor)
        .unwrap();
    assert!(target.is_file(), "SQLite made the file the link names");
    let around = scratch.dir.path().join("real/../real/target.db");
    for db in [target, link, around] {
        match Monitor::open(MonitorConfig::for_command(db.clone())).await {
            Err(OpenError::Store(StoreError::InUse { .. })) => {}
            Err(other) => panic!("{db:?} refused for another reason: {other}"),
            Ok(_) => panic!("a second monitor opened the database as {db:?}"),
        }
    }
    first.close().await;
}

/// The database holds who applied and what was decided about them: a new one, its -wal and its
/// -shm are readable by their owner only, also when made through a link. One that exists keeps
/// the mode it was given.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{path:?}: {error}"))
            .permissions()
            .mode()
            & 0o777
    };
    let with = |path: &std::path::Path, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let scratch = Scratch::new();
    let linked = scratch.dir.path().join("linked.db");
    std::os::unix::fs::symlink("made-through-a-link.db", &linked).unwrap();
    let made = scratch.dir.path().join("made-through-a-link.db");
    for (opened, file) in [(scratch.db(), scratch.db()), (linked, made)] {
        let monitor = Monitor::open(MonitorConfig::for_command(opened.clone()))
            .await
            .map(|(monitor, _)| monitor)
            .unwrap();
        let now = kyc_monitor::time::now_millis();
        let delivery = delivery_at(now, flat("private_1", "REJECT", "CLOSED"));
        monitor.writer().record(delivery).await.unwrap();
        // The lock too: another account able to open it could hold it, and keep the monitor out.
        let files = [
            file.clone(),
            with(&file, "-wal"),
            with(&file, "-shm"),
            with(&file, "-lock"),
        ];
        for path in files {
            assert_eq!(mode(&path), 0o600, "{path:?}, opened as {opened:?}");
        }
        monitor.close().await;
    }

    std::fs::set_permissions(scratch.db(), std::fs::Permissions::from_mode(0o640)).unwrap();
    let lock = with(&scratch.db(), "-lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let monitor = open(&scratch).await.unwrap();
    assert_eq!(
        mode(&scratch.db()),
        0o640,
        "an existing file keeps its mode"
    );
    assert_eq!(mode(&lock), 0o600, "an older lock is made the owner's");
    monitor.close().await;

    // A umask that takes the owner's write away (0200) would leave a file that never opens for
    // writing (to anyone but root): its mode is set on the file, not asked of the umask.
    let made = scratch.dir.path().join("under-a-umask.db");
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            r#"umask 0277 && exec "$0" "$@""#,
            support::BIN,
            "watch",
            "umask_1",
        ])
        .arg("--db")
        .arg(&made)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(mode(&made), 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_shows_every_delivery_acknowledged_before_it_was_asked_for() {
    let scratch = Scratch::new();
    let monitor = open(&scratch).await.unwrap();
    let now = kyc_monitor::time::now_millis();
    for n in 0..50 {
        let delivery = delivery_at(now, flat(&format!("user_{n}"), "", "OPEN"));
        monitor.writer().record(delivery).await.unwrap();
    }
    // No wait of the test's own: the view waits for the projection to hold what was acked.
    assert_eq!(monitor.overview().await.unwrap().total_users, 50);
    let user = monitor.user("user_49".into()).await.unwrap();
    assert_eq!(user.timeline.len(), 1);
    monitor.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_monitor_refuses_writes_and_keeps_what_it_acknowledged() {
    let scratch = Scratch::new();
    let monitor = open(&scratch).await.unwrap();
    let now = kyc_monitor::time::now_millis();
    monitor
        .writer()
        .record(delivery_at(now, flat("kept", "ACCEPT", "CLOSED")))
        .await
        .unwrap();
    monitor.close().await;
    let refused = monitor
        .writer()
        .record(delivery_at(now, flat("late", "", "OPEN")))
        .await;
    assert!(
        matches!(refused, Err(StoreError::WriterStopped)),
        "{refused:?}"
    );
    let reopened = open(&scratch).await.unwrap();
    let kept = reopened.user("kept".into()).await.unwrap();
    assert_eq!(kept.user.state.status, "CLOSED");
    reopened.close().await;
}
