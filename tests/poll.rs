//! Polling against the provider's newer API (issue 24): the beta demo delivers only final
//! outcomes, and `--poll-every` brings the states between onto the board and into the review
//! queue, as polled deliveries, storing nothing more once nothing changes.

mod support;

use std::time::Duration;

use kyc_monitor::provider::{
    ApiGeneration, Emulator, EmulatorConfig, FlowConfig, PrivateKey, StartedUser,
};
use support::{cli, eventually, export_jsonl, lookup, stdout, Monitor, Scratch};
use tokio::sync::mpsc::UnboundedReceiver;

const CLIENT_ID: &str = "poll-partner";

#[tokio::test(flavor = "multi_thread")]
async fn polling_makes_the_board_and_review_queue_true_under_the_beta_api() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let args = support::quick_demo("beta", "8", &["--poll-every", "1s", "--poll-rate", "20/s"]);
    let mut monitor = Monitor::start_with_ui(&db, &args);
    let (base, token) = monitor.ui();
    let get = |path: &'static str| {
        let request = support::client()
            .get(format!("{base}{path}"))
            .bearer_auth(&token);
        async move { support::send(request).await.json() }
    };
    let demo = eventually("the beta demo to finish", || async {
        let provider = get("/api/provider").await;
        match provider["demo"]["finished"] == true {
            true => Ok(provider["demo"].clone()),
            false => Err(provider["demo"].to_string()),
        }
    })
    .await;
    // The run's ids share its prefix: the board's story counts this run's users by it.
    let prefix = demo["idsPrefix"].as_str().unwrap().to_owned();
    assert!(
        prefix.starts_with("user-") && prefix.ends_with('-'),
        "{demo}"
    );
    let summary = demo["summary"].clone();
    let closed = summary["approved"].as_i64().unwrap() + summary["rejected"].as_i64().unwrap();
    let (held, abandoned) = (
        summary["held"].as_i64().unwrap(),
        summary["abandoned"].as_i64().unwrap(),
    );
    assert_eq!((held, abandoned), (2, 2), "{summary}");

    // The webhook never names the held users: only a poll puts them in the review queue.
    eventually(
        "the board and the review queue as the provider has them",
        || async {
            let on_hold = get("/api/board/ON_HOLD").await;
            let review = get("/api/review").await;
            let closed_now = get("/api/board/CLOSED").await;
            let waiting = get("/api/board/NOT_STARTED").await["total"]
                .as_i64()
                .unwrap_or(0)
                + get("/api/board/OPEN").await["total"].as_i64().unwrap_or(0);
            let seen = (
                on_hold["total"].as_i64(),
                review["total"].as_i64(),
                closed_now["total"].as_i64(),
                waiting,
            );
            match seen == (Some(held), Some(held), Some(closed), abandoned) {
                true => Ok(()),
                false => Err(format!("{seen:?}")),
            }
        },
    )
    .await;
    let users = export_jsonl(&db, "users");
    assert_eq!(users.len(), 8);
    assert!(
        users
            .iter()
            .all(|u| u["externalId"].as_str().unwrap().starts_with(&prefix)),
        "{users:?}"
    );
    let polled = export_jsonl(&db, "deliveries")
        .into_iter()
        .filter(|d| d["source"] == "poll")
        .count();
    assert!(polled >= 2, "the held users were learned by polling");
    // lookup and export events say how each event came: watched, then learned by polling.
    let held_user = users
        .iter()
        .find(|u| u["status"] == "ON_HOLD")
        .map(|u| u["externalId"].as_str().unwrap().to_owned())
        .expect("a held user");
    let looked = lookup(&db, &held_user).unwrap();
    let sources: Vec<&str> = looked["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.first(), Some(&"watch"), "{looked}");
    assert_eq!(sources.last(), Some(&"poll"), "{looked}");
    let text = stdout(&cli(&db, &["lookup", &held_user]));
    assert!(
        text.contains("(added by watching)") && text.contains("(learned by polling)"),
        "{text}"
    );
    let events = export_jsonl(&db, "events");
    assert!(
        events.iter().any(|e| e["source"] == "webhook")
            && events.iter().any(|e| e["source"] == "poll"),
        "{events:?}"
    );

    // A whole poll after the board was true brings the last of it (an abandoned user's OPEN,
    // say); the poll after that learns nothing and so stores nothing.
    let whole_poll = || async {
        let since = now_millis();
        eventually("a whole poll", || async {
            let works = get("/api/work").await;
            let poll = works
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["kind"] == "poll")
                .cloned();
            match poll {
                Some(p) if p["state"] == "done" && p["startedAt"].as_i64() > Some(since) => Ok(p),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    };
    whole_poll().await;
    let stored = export_jsonl(&db, "deliveries").len();
    let last = whole_poll().await;
    assert!(
        last["message"].as_str().unwrap().contains("0 learned"),
        "{last}"
    );
    assert_eq!(export_jsonl(&db, "deliveries").len(), stored);
    assert_eq!(monitor.terminate(), 0);
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn poll_options_are_checked_and_shown_by_config() {
    let scratch = Scratch::new();
    let output = support::cli(
        &scratch.db(),
        &["config", "--poll-every", "30s", "--poll-rate", "10/s"],
    );
    let shown = support::stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.lines().any(|l| l.starts_with("poll-every = \"30s\"")),
        "{shown}"
    );
    assert!(
        shown.lines().any(|l| l.starts_with("poll-rate = \"10/s\"")),
        "{shown}"
    );
    for bad in [
        ["--poll-every", "0s"],
        ["--poll-every", "soon"],
        ["--poll-rate", "0"],
    ] {
        let output = support::cli(&scratch.db(), &[&["config"][..], &bad[..]].concat());
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
    // The beta demo's own interval is what `config` shows for it, and a given one wins.
    let poll_every = |args: &[&str]| {
        let output = support::cli(&scratch.db(), &[&["config"][..], args].concat());
        let shown = support::stdout(&output);
        assert!(output.status.success(), "{shown}");
        shown
            .lines()
            .find(|l| l.starts_with("poll-every = "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("{shown}"))
    };
    assert_eq!(
        poll_every(&["--demo", "--demo-api", "beta"]),
        "poll-every = \"15s\" # default for the beta demo"
    );
    assert_eq!(
        poll_every(&["--demo", "--demo-api", "beta", "--poll-every", "1h"]),
        "poll-every = \"1h\" # flag"
    );
    assert_eq!(poll_every(&["--demo"]), "poll-every = \"5m\" # default");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_that_was_down_polls_at_start_with_the_registered_provider() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let (emulator, key_path) = beta_emulator(&scratch).await;
    let mut started = emulator.take_started_users().expect("the started users");

    // The first run listens and is registered, but never polls.
    let mut first = Monitor::start_with_ui(&db, &["--poll-every", "off"]);
    let _ = first.ui();
    register(&db, &first, &emulator, &key_path);
    let summary = tokio::time::timeout(Duration::from_secs(90), emulator.finished())
        .await
        .expect("the flows finish");
    assert_eq!(summary.held, 2, "{summary:?}");
    let ids = started_ids(&mut started);
    assert_eq!(ids.len(), 4);
    watch_all(&db, &ids);
    assert_eq!(first.terminate(), 0);
    let held_before = ids
        .iter()
        .filter(|id| lookup(&db, id).unwrap()["status"] == "NOT_STARTED")
        .count();
    assert_eq!(held_before, 2, "the held users are known only as watched");

    // Back after the downtime, polling hourly: the poll at start tells what happened meanwhile.
    let second = Monitor::start(&db, &["--poll-every", "1h"]);
    eventually("the held users on hold after the poll at start", || async {
        let on_hold = ids
            .iter()
            .filter(|id| lookup(&db, id).is_some_and(|u| u["status"] == "ON_HOLD"))
            .count();
        match on_hold {
            2 => Ok(()),
            n => Err(format!("{n} on hold")),
        }
    })
    .await;
    assert_eq!(second.terminate(), 0);
    emulator.stop().await;
}

/// The provider's newer API, emulated: four users, half of them held for review; and the
/// partner's key, in a file.
async fn beta_emulator(scratch: &Scratch) -> (Emulator, std::path::PathBuf) {
    beta_emulator_limited(scratch, 1000).await
}

/// [`beta_emulator`], answering at most `rate_limit` requests a second (then 429).
async fn beta_emulator_limited(
    scratch: &Scratch,
    rate_limit: u32,
) -> (Emulator, std::path::PathBuf) {
    beta_emulator_with(scratch, rate_limit, Vec::new()).await
}

/// [`beta_emulator_limited`], refusing (400) the status of `refused_ids`.
async fn beta_emulator_with(
    scratch: &Scratch,
    rate_limit: u32,
    refused_ids: Vec<String>,
) -> (Emulator, std::path::PathBuf) {
    let key = PrivateKey::generate();
    let key_path = scratch.dir.path().join("partner.pem");
    std::fs::write(&key_path, key.expose_pem()).unwrap();
    let emulator = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows: FlowConfig {
            users: 4,
            speed: 200.0,
            hold_rate: 0.5,
            reject_rate: 0.0,
            abandon_rate: 0.0,
            review_rate: 1.0,
            seed: Some(7),
            api: ApiGeneration::Beta,
            retry_base: Duration::from_millis(50),
            refused_ids,
            ..FlowConfig::default()
        },
        validation_timeout: Duration::from_secs(2),
        rate_limit,
    })
    .await
    .expect("start the emulator");
    (emulator, key_path)
}

/// The ids of the users the emulator has started so far.
fn started_ids(started: &mut UnboundedReceiver<StartedUser>) -> Vec<String> {
    std::iter::from_fn(|| started.try_recv().ok())
        .map(|user| user.external_id)
        .collect()
}

/// `kyc-monitor watch` of `ids`, as the partner's side would, answered with success.
fn watch_all(db: &std::path::Path, ids: &[String]) {
    let watched = cli(
        db,
        &[
            &["watch"][..],
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
}

/// `kyc-monitor register`, from another process, of `monitor`'s webhook with `emulator`.
fn register(db: &std::path::Path, monitor: &Monitor, emulator: &Emulator, key: &std::path::Path) {
    let registered = cli(
        db,
        &[
            "register",
            &monitor.webhook_url,
            "--api-base",
            emulator.api_base(),
            "--token-url",
            emulator.token_url(),
            "--client-id",
            CLIENT_ID,
            "--private-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(registered.status.success(), "{}", stdout(&registered));
}

/// The work of `kind` as `/api/work` has it now.
async fn work_of(base: &str, token: &str, kind: &str) -> Option<serde_json::Value> {
    let request = support::client()
        .get(format!("{base}/api/work"))
        .bearer_auth(token);
    let works = support::send(request).await.json();
    works
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["kind"] == kind)
        .cloned()
}

/// The periodic poll as `/api/work` has it, once one has finished.
async fn finished_poll(base: &str, token: &str) -> serde_json::Value {
    eventually("a finished poll in /api/work", || async {
        let request = support::client()
            .get(format!("{base}/api/work"))
            .bearer_auth(token);
        let works = support::send(request).await.json();
        let poll = works
            .as_array()
            .into_iter()
            .flatten()
            .find(|w| w["kind"] == "poll" && w["state"] == "done")
            .cloned();
        poll.ok_or_else(|| works.to_string())
    })
    .await
}

/// Polling hourly, a monitor with no provider polls as soon as it has one, whether the demo
/// starts (told at once) or `kyc-monitor register` registers one from another process (seen
/// in the database within seconds), not an hour later; and says when the next poll is.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_comes_while_running_is_polled_at_once() {
    let scratch = Scratch::new();
    let args = support::quick_demo("beta", "4", &["--poll-every", "1h"]);
    let mut demo = Monitor::start_with_ui(&scratch.db(), &args);
    let (base, token) = demo.ui();
    let poll = finished_poll(&base, &token).await;
    let finished = poll["finishedAt"].as_i64().unwrap();
    let next = poll["nextAt"].as_i64().unwrap();
    assert!(
        (next - finished - 3_600_000).abs() < 1_000,
        "the next poll an hour after this one: {poll}"
    );
    assert!(poll["startedAt"].as_i64().unwrap() <= finished, "{poll}");
    assert!(
        poll["message"].as_str().unwrap().ends_with(" learned"),
        "{poll}"
    );
    assert_eq!(demo.terminate(), 0);

    // Without --poll-every, the beta demo polls every 15 s (its story is told by polling).
    let brisk = Scratch::new();
    let mut demo = Monitor::start_with_ui(&brisk.db(), &support::quick_demo("beta", "4", &[]));
    let (base, token) = demo.ui();
    let poll = finished_poll(&base, &token).await;
    let gap = poll["nextAt"].as_i64().unwrap() - poll["finishedAt"].as_i64().unwrap();
    assert!((gap - 15_000).abs() < 1_000, "{poll}");
    assert_eq!(demo.terminate(), 0);

    let other = Scratch::new();
    let db = other.db();
    let (emulator, key_path) = beta_emulator(&other).await;
    let mut monitor = Monitor::start_with_ui(&db, &["--poll-every", "1h"]);
    let (base, token) = monitor.ui();
    register(&db, &monitor, &emulator, &key_path);
    let poll = finished_poll(&base, &token).await;
    assert!(poll["nextAt"].as_i64().is_some(), "{poll}");
    assert_eq!(monitor.terminate(), 0);
    emulator.stop().await;
}

/// A database registered with a beta provider allowing 10 requests a second, its flows
/// finished, and `count` watched users the provider does not know (`{prefix}_00`...): a
/// reconcile or a poll of them takes about `count / 10` seconds. The monitor that registered
/// has stopped.
async fn registered_with_unknown_users(scratch: &Scratch, prefix: &str, count: usize) -> Emulator {
    let db = scratch.db();
    let (emulator, key_path) = beta_emulator_limited(scratch, 10).await;
    let mut first = Monitor::start_with_ui(&db, &["--poll-every", "off"]);
    let _ = first.ui();
    register(&db, &first, &emulator, &key_path);
    tokio::time::timeout(Duration::from_secs(90), emulator.finished())
        .await
        .expect("the flows finish");
    let ids: Vec<String> = (0..count).map(|n| format!("{prefix}_{n:02}")).collect();
    watch_all(&db, &ids);
    assert_eq!(first.terminate(), 0);
    emulator
}

/// A reconcile and the periodic poll at once, against a provider that allows 10 requests a
/// second: they share its limit (a 429 makes both wait as it asks) and both finish, none cut
/// short by the other's requests; and a reconcile whose request was given up on (the client
/// left) goes on to its end and is audited.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_and_polling_share_the_provider_s_limit_and_a_reconcile_outlives_its_request() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let emulator = registered_with_unknown_users(&scratch, "unknown", 60).await;

    let mut monitor = Monitor::start_with_ui(&db, &["--poll-every", "1s", "--poll-rate", "8"]);
    let (base, token) = monitor.ui();
    eventually("a poll under way", || async {
        match work_of(&base, &token, "poll").await {
            Some(poll) if poll["state"] == "running" && poll["done"].as_u64() > Some(0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The client gives up at once; the reconcile goes on.
    let given_up = support::client()
        .post(format!("{base}/api/reconcile"))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(given_up.is_err(), "{given_up:?}");
    let polls_failed = std::sync::Mutex::new(Vec::new());
    let reconciled = eventually("the reconcile to end", || async {
        if let Some(poll) = work_of(&base, &token, "poll").await {
            if poll["state"] == "failed" {
                polls_failed.lock().unwrap().push(poll.clone());
            }
        }
        match work_of(&base, &token, "reconcile").await {
            Some(work) if work["state"] != "running" => Ok(work),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(reconciled["state"], "done", "{reconciled}");
    let asked = reconciled["done"].as_u64().unwrap();
    assert!(asked >= 60, "{reconciled}");
    assert!(
        reconciled["message"]
            .as_str()
            .unwrap()
            .contains("60 unknown to the provider"),
        "{reconciled}"
    );
    assert_eq!(
        *polls_failed.lock().unwrap(),
        Vec::<serde_json::Value>::new()
    );
    let audited = stdout(&cli(&db, &["audit", "export", "--format", "jsonl"]));
    assert!(
        audited
            .lines()
            .any(|line| line.contains(r#""action":"reconcile""#)
                && line.contains(r#""outcome":"ok""#)),
        "{audited}"
    );

    // Asked again and waited for: the answer, with polling still going.
    let answer = support::send(
        support::client()
            .post(format!("{base}/api/reconcile"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let report = answer.json();
    assert_eq!(report["error"], serde_json::Value::Null, "{report}");
    let poll = finished_poll(&base, &token).await;
    assert_eq!(poll["state"], "done", "{poll}");
    // The ids the provider does not know are counted, not passed over in silence.
    assert!(
        poll["message"]
            .as_str()
            .unwrap()
            .ends_with(", 60 unknown to the provider"),
        "{poll}"
    );
    assert_eq!(monitor.terminate(), 0);
    emulator.stop().await;
}

/// Users the partner's side watched as the provider started them, then moved by the provider
/// while the monitor runs (the webhook telling only the final outcomes): once the provider's
/// last change is made, the first poll that starts after it leaves the board and the review
/// queue exactly as the provider has them.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_poll_after_the_providers_last_change_makes_the_board_its_truth() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let (emulator, key_path) = beta_emulator(&scratch).await;
    let mut starting = emulator.follow_started_users().expect("the started users");
    let mut monitor = Monitor::start_with_ui(&db, &["--poll-every", "2s", "--poll-rate", "20"]);
    let (base, token) = monitor.ui();
    register(&db, &monitor, &emulator, &key_path);
    // The partner's backend: each user the provider starts is watched before it goes on.
    let mut ids = Vec::new();
    while ids.len() < 4 {
        let user = tokio::time::timeout(Duration::from_secs(60), starting.recv())
            .await
            .expect("a user started")
            .expect("the emulator runs");
        watch_all(&db, std::slice::from_ref(&user.external_id));
        ids.push(user.external_id.clone());
        user.known();
    }
    let summary = tokio::time::timeout(Duration::from_secs(90), emulator.finished())
        .await
        .expect("the flows finish");
    assert_eq!(summary.held, 2, "{summary:?}");
    let truth = emulator.users();

    let after = now_millis();
    eventually(
        "a whole poll begun after the provider's last change",
        || async {
            match work_of(&base, &token, "poll").await {
                Some(p) if p["state"] == "done" && p["startedAt"].as_i64() > Some(after) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    for id in &ids {
        let seen = lookup(&db, id).unwrap();
        let true_state = &truth[id];
        assert_eq!(
            (seen["status"].as_str(), seen["decision"].as_str()),
            (
                Some(true_state.status.as_str()),
                Some(true_state.decision.as_str())
            ),
            "{id}: {seen}"
        );
    }
    let request = support::client()
        .get(format!("{base}/api/review"))
        .bearer_auth(&token);
    assert_eq!(support::send(request).await.json()["total"], 2);
    assert_eq!(monitor.terminate(), 0);
    emulator.stop().await;
}

/// A user whose status the provider always refuses (400), watched first so that it is asked
/// first: counted and passed over, it never stops a poll, and the users after it are asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_the_provider_refuses_never_stops_a_poll() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let (emulator, key_path) = beta_emulator_with(&scratch, 1000, vec!["refused_0".into()]).await;
    let mut started = emulator.take_started_users().expect("the started users");
    let mut first = Monitor::start_with_ui(&db, &["--poll-every", "off"]);
    let _ = first.ui();
    watch_all(&db, &["refused_0".to_owned()]);
    register(&db, &first, &emulator, &key_path);
    tokio::time::timeout(Duration::from_secs(90), emulator.finished())
        .await
        .expect("the flows finish");
    let ids = started_ids(&mut started);
    watch_all(&db, &ids);
    assert_eq!(first.terminate(), 0);

    let mut second = Monitor::start_with_ui(&db, &["--poll-every", "1h"]);
    let (base, token) = second.ui();
    let poll = finished_poll(&base, &token).await;
    assert!(
        poll["message"]
            .as_str()
            .unwrap()
            .ends_with(", 1 refused by it (the log says why)"),
        "{poll}"
    );
    let on_hold = ids
        .iter()
        .filter(|id| lookup(&db, id).is_some_and(|u| u["status"] == "ON_HOLD"))
        .count();
    assert_eq!(on_hold, 2, "the users after the refused one were asked");
    assert_eq!(lookup(&db, "refused_0").unwrap()["status"], "NOT_STARTED");
    assert_eq!(second.terminate(), 0);
    emulator.stop().await;
}

/// A poll cut short because the provider is gone is said in the log (a server's operator
/// watches the log, not the strip), with when the next one is; the strip says it too.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_cut_short_is_said_in_the_log() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let (emulator, key_path) = beta_emulator(&scratch).await;
    let mut first = Monitor::start_with_ui(&db, &["--poll-every", "off"]);
    let _ = first.ui();
    watch_all(&db, &["gone_1".to_owned()]);
    register(&db, &first, &emulator, &key_path);
    assert_eq!(first.terminate(), 0);
    emulator.stop().await;

    let mut command = std::process::Command::new(support::BIN);
    command
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped());
    let mut second = Monitor::start_with(&db, true, &["--poll-every", "1h"], &mut command);
    let (base, token) = second.ui();
    let poll = eventually("a failed poll in /api/work", || async {
        let poll = work_of(&base, &token, "poll").await;
        match poll {
            Some(poll) if poll["state"] == "failed" => Ok(poll),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        poll["message"]
            .as_str()
            .unwrap()
            .starts_with("stopped after 0 users: "),
        "{poll}"
    );
    let log = second.killed_log();
    assert!(
        log.contains("polling was cut short: stopped after 0 users: ")
            && log.contains("the next poll, in 1h, goes on from there"),
        "{log}"
    );
}

/// `kyc-monitor reconcile` asked of a running monitor, whose reconcile outlives the UI API's
/// deadline (`--ui-deadline 1s`, a provider allowing 10 requests a second): the command shows
/// its progress on stderr, follows it past the deadline's 504 to its end, and exits 0 saying
/// how it ended, as a cron job needs.
#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_follows_a_reconcile_past_the_running_monitor_s_deadline() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let emulator = registered_with_unknown_users(&scratch, "far", 40).await;

    let mut monitor = Monitor::start_with_ui(&db, &["--poll-every", "off", "--ui-deadline", "1s"]);
    let _ = monitor.ui();
    let output = cli(&db, &["reconcile"]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    let printed = stdout(&output);
    assert!(
        printed.starts_with("reconciled: ") && printed.contains("40 unknown to the provider"),
        "{printed}"
    );
    assert!(said.contains("reconcile"), "its progress on stderr: {said}");
    assert_eq!(monitor.terminate(), 0);
    emulator.stop().await;
}
