//! Polling against the provider's newer API (issue 24): the beta demo delivers only final
//! outcomes, and `--poll-every` brings the states between onto the board and into the review
//! queue, as polled deliveries, storing nothing more once nothing changes.

mod support;

use support::{eventually, export_jsonl, Monitor, Scratch};

#[tokio::test(flavor = "multi_thread")]
async fn polling_makes_the_board_and_review_queue_true_under_the_beta_api() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let args = [
        "--demo",
        "--demo-api",
        "beta",
        "--demo-users",
        "8",
        "--demo-speed",
        "100",
        "--demo-hold-rate",
        "0.25",
        "--demo-abandon-rate",
        "0.25",
        "--poll-every",
        "1s",
        "--poll-rate",
        "20/s",
    ];
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
    let polled = export_jsonl(&db, "deliveries")
        .into_iter()
        .filter(|d| d["source"] == "poll")
        .count();
    assert!(polled >= 2, "the held users were learned by polling");

    // A poll that learns nothing stores nothing: wait for one to begin and end after this.
    let stored = export_jsonl(&db, "deliveries").len();
    let seen_at = now_millis();
    eventually("a whole poll after the board was true", || async {
        let works = get("/api/work").await;
        let poll = works
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["kind"] == "poll")
            .cloned();
        match poll {
            Some(p) if p["state"] == "done" && p["startedAt"].as_i64() > Some(seen_at) => Ok(p),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
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
}
