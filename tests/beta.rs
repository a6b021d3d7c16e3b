//! The provider's newer API against a real monitor: the beta emulator delivers only final
//! outcomes as envelopes with the newer fields, answers the states between on its status route,
//! hands over the ids of the users it starts, and throttles with 429 and `Retry-After`.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use kyc_monitor::provider::{
    ApiGeneration, Emulator, EmulatorConfig, Endpoints, FlowConfig, PrivateKey, ProviderClient,
};
use support::{export_jsonl, stdout, Monitor, Scratch};

const CLIENT_ID: &str = "beta-partner";
/// A guard against a hang, not a performance assertion.
const FLOWS_LIMIT: Duration = Duration::from_secs(90);

fn beta_flows(users: u32) -> FlowConfig {
    FlowConfig {
        users,
        speed: 200.0,
        reject_rate: 0.25,
        hold_rate: 0.25,
        abandon_rate: 0.25,
        review_rate: 1.0,
        seed: Some(24),
        api: ApiGeneration::Beta,
        retry_base: Duration::from_millis(50),
        ..FlowConfig::default()
    }
}

async fn beta_emulator(key: &PrivateKey, flows: FlowConfig, rate_limit: u32) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows,
        validation_timeout: Duration::from_secs(2),
        rate_limit,
    })
    .await
    .expect("start the emulator")
}

fn client_for(emulator: &Emulator, key: &PrivateKey) -> ProviderClient {
    let endpoints = Endpoints::custom(emulator.api_base(), emulator.token_url()).unwrap();
    ProviderClient::new(endpoints, CLIENT_ID, key.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_beta_api_delivers_only_final_outcomes_and_tells_the_rest_by_its_status_route() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let key = PrivateKey::generate();
    let emulator = beta_emulator(&key, beta_flows(8), 1000).await;
    let mut started = emulator.take_started_users().expect("the started users");
    emulator.deliver_to(&monitor.webhook_url, None);
    let summary = tokio::time::timeout(FLOWS_LIMIT, emulator.finished())
        .await
        .expect("the flows did not finish");
    assert_eq!((summary.approved, summary.rejected), (2, 2), "{summary}");
    assert_eq!((summary.held, summary.abandoned), (2, 2), "{summary}");
    assert_eq!(
        summary.acked, 4,
        "only the four final outcomes are sent: {summary}"
    );

    let mut handed_over = BTreeSet::new();
    while let Ok(user) = started.try_recv() {
        handed_over.insert(user.external_id);
    }
    let truth = emulator.users();
    assert_eq!(
        handed_over,
        truth.keys().cloned().collect(),
        "every user started is handed over"
    );

    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    let posts: Vec<serde_json::Value> = deliveries
        .iter()
        .filter(|d| d["outcome"] == "accepted")
        .map(|d| serde_json::from_str(d["body"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(posts.len(), 4);
    for body in &posts {
        let data = &body["data"];
        assert!(data["status_set_at"].as_str().unwrap().ends_with('Z'));
        assert!(data["kyc_eval_id"].as_str().unwrap().starts_with("eval_"));
        assert!(body["event_time"].is_string());
        match body["event_type"].as_str().unwrap() {
            "kyc.approved" => {
                assert_eq!(data["status"], "KYC_STATUS_APPROVED");
                assert!(data["provisioned_account"].is_string());
            }
            "kyc.rejected" => {
                assert_eq!(data["status"], "KYC_STATUS_REJECTED");
                assert!(!data["rejection_reason"].as_str().unwrap().is_empty());
            }
            other => panic!("a state between was delivered: {other} {body}"),
        }
    }

    // The states between exist only at the provider: its status route tells them.
    let client = client_for(&emulator, &key);
    let mut on_hold = 0;
    for (id, state) in &truth {
        assert_eq!(client.status(id).await.unwrap().as_ref(), Some(state));
        on_hold += usize::from(state.status == "ON_HOLD");
    }
    assert_eq!(on_hold, 2, "the held users wait ON_HOLD at the provider");
    let known: Vec<String> = export_jsonl(&scratch.db(), "users")
        .iter()
        .map(|u| format!("{} {}", u["status"], u["decision"]))
        .collect();
    assert_eq!(
        known.len(),
        4,
        "the monitor heard only of the final ones: {known:?}"
    );
    assert!(
        known.iter().all(|s| s.starts_with("\"CLOSED\"")),
        "{known:?}"
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_status_requests_is_throttled_with_retry_after_and_the_client_waits_it_out() {
    let key = PrivateKey::generate();
    let emulator = beta_emulator(&key, beta_flows(0), 20).await;
    let url = format!("{}/v1/kyc/status?externalId=nobody", emulator.api_base());
    let storm = (0..60).map(|_| support::send(support::client().get(&url)));
    let answers = futures_util::future::join_all(storm).await;
    let throttled: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        throttled.len() >= 40,
        "60 requests at once against 20 a second: {} throttled",
        throttled.len()
    );
    for answer in &throttled {
        assert_eq!(
            kyc_monitor::backoff::retry_after(&answer.headers),
            Some(Duration::from_secs(1))
        );
        assert_eq!(answer.json()["message"], "rate limit exceeded");
    }
    // A client in the middle of a storm waits as asked and gets its answers.
    let client = std::sync::Arc::new(client_for(&emulator, &key));
    let asks = (0..30).map(|n| {
        let client = client.clone();
        async move { client.status(&format!("nobody-{n}")).await }
    });
    for answer in futures_util::future::join_all(asks).await {
        assert_eq!(answer.unwrap(), None);
    }
    emulator.stop().await;
}

#[test]
fn emulate_api_beta_prints_the_users_it_starts_and_sends_only_final_outcomes() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    let output = std::process::Command::new(support::BIN)
        .args(["emulate", "--listen", "127.0.0.1:0", "--api", "beta"])
        .args(["--webhook-url", &monitor.webhook_url, "--users", "4"])
        .args([
            "--speed",
            "200",
            "--reject-rate",
            "0.5",
            "--review-rate",
            "1",
        ])
        .args(["--exit-when-done"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = stdout(&output);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("started: user-"))
            .count(),
        4,
        "{out}"
    );
    assert!(out.contains("summary: users=4 sent=4 acked=4"), "{out}");
    let events = export_jsonl(&scratch.db(), "events");
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["status"] == "CLOSED"), "{events:?}");
}

/// The stats of a demo once its board is as the emulator's summary says.
async fn demo_stats(api: &str, users: &str) -> (Scratch, Monitor, serde_json::Value) {
    let args = support::quick_demo(api, users, &["--poll-every", "1s", "--poll-rate", "50/s"]);
    demo_stats_with(&args).await
}

/// As [`demo_stats`], for a demo run with `args`.
async fn demo_stats_with(args: &[&str]) -> (Scratch, Monitor, serde_json::Value) {
    let scratch = Scratch::new();
    let db = scratch.db();
    let mut monitor = Monitor::start_with_ui(&db, args);
    let (base, token) = monitor.ui();
    let get = |path: &'static str| {
        let request = support::client()
            .get(format!("{base}{path}"))
            .bearer_auth(&token);
        async move { support::send(request).await.json() }
    };
    let summary = support::eventually("the demo to finish", || async {
        let provider = get("/api/provider").await;
        match provider["demo"]["finished"] == true {
            true => Ok(provider["demo"]["summary"].clone()),
            false => Err(provider["demo"].to_string()),
        }
    })
    .await;
    let count = |key: &str| summary[key].as_i64().unwrap();
    let stats = support::eventually("the board as the emulator has it", || async {
        let stats = get("/api/stats").await;
        let by = |status: &str| stats["byStatus"][status].as_i64().unwrap_or(0);
        let seen = (by("CLOSED"), by("ON_HOLD"), by("NOT_STARTED") + by("OPEN"));
        let wanted = (
            count("approved") + count("rejected"),
            count("held"),
            count("abandoned"),
        );
        match seen == wanted {
            true => Ok(stats),
            false => Err(format!("{seen:?} != {wanted:?}")),
        }
    })
    .await;
    (scratch, monitor, stats)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_beta_demo_tells_the_documented_demos_story_and_its_stats_agree() {
    let (_kept, documented_monitor, documented) = demo_stats("documented", "12").await;
    let (beta_scratch, beta_monitor, beta) = demo_stats("beta", "12").await;
    // The newer API signs its envelopes, and so does its demo, with a secret it made.
    let delivered: Vec<_> = support::export_jsonl(&beta_scratch.db(), "deliveries")
        .into_iter()
        .filter(|d| d["source"] == "webhook")
        .collect();
    assert!(
        delivered.iter().any(|d| d["outcome"] == "accepted"),
        "{delivered:?}"
    );
    for delivery in &delivered {
        let signed = delivery["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|header| {
                header[0] == "webhook-signature" && header[1].as_str().unwrap().starts_with("v1,")
            });
        assert!(signed && delivery["outcome"] != "refused", "{delivery}");
    }
    // The same mix on the board: users per status and decision, the rates.
    for key in ["totalUsers", "byDecision", "approvalRate", "rejectionRate"] {
        assert_eq!(beta[key], documented[key], "{key}: {beta} vs {documented}");
    }
    // The same final decisions; every user starts (watched) and the same ones close.
    let decided = |stats: &serde_json::Value, decision: &str| -> i64 {
        stats["decisionsPerDay"]
            .as_array()
            .unwrap()
            .iter()
            .map(|day| day[decision].as_i64().unwrap())
            .sum()
    };
    for decision in ["accept", "reject"] {
        assert_eq!(
            decided(&beta, decision),
            decided(&documented, decision),
            "{decision}"
        );
    }
    let reached = |stats: &serde_json::Value, status: &str| -> i64 {
        stats["funnel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["status"] == status)
            .map_or(0, |step| step["users"].as_i64().unwrap())
    };
    for status in ["NOT_STARTED", "CLOSED"] {
        assert_eq!(
            reached(&beta, status),
            reached(&documented, status),
            "{status}"
        );
    }
    // The states between are seen only as often as a poll catches them: never more.
    for status in ["OPEN", "ON_HOLD"] {
        assert!(
            reached(&beta, status) <= reached(&documented, status),
            "{status}"
        );
    }
    assert!(
        reached(&beta, "ON_HOLD") > 0,
        "the polls put the held users on hold"
    );
    assert_eq!(beta_monitor.terminate(), 0);
    assert_eq!(documented_monitor.terminate(), 0);
}

/// The demo hands each user it starts to the monitor as a partner's backend would, and the
/// provider acts on the user only once the monitor knows it: however fast the flows run (a final
/// outcome within microseconds), every user was NOT_STARTED first, in the funnel too.
#[tokio::test(flavor = "multi_thread")]
async fn however_fast_the_beta_demo_runs_each_user_is_known_before_its_outcome() {
    let args = [
        "--demo",
        "--demo-api",
        "beta",
        "--demo-users",
        "30",
        "--demo-speed",
        "100000",
        "--demo-hold-rate",
        "0",
        "--demo-abandon-rate",
        "0",
        "--poll-every",
        "off",
    ];
    let (_scratch, _monitor, stats) = demo_stats_with(&args).await;
    let funnel = &stats["funnel"];
    let not_started = funnel
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["status"] == "NOT_STARTED")
        .map_or(0, |step| step["users"].as_i64().unwrap());
    assert_eq!(not_started, 30, "{funnel}");
}

/// The newer envelope carries `date_of_birth` for some users and not for others (about half),
/// always as a calendar date; the monitor keeps each user's as the provider sent it, or none.
#[tokio::test(flavor = "multi_thread")]
async fn the_beta_api_sends_a_date_of_birth_for_some_users_and_not_others() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with_ui(&scratch.db(), &[]);
    let (base, token) = monitor.ui();
    let key = PrivateKey::generate();
    let flows = FlowConfig {
        hold_rate: 0.0,
        abandon_rate: 0.0,
        reject_rate: 0.5,
        ..beta_flows(16)
    };
    let emulator = beta_emulator(&key, flows, 1000).await;
    emulator.deliver_to(&monitor.webhook_url, None);
    let summary = tokio::time::timeout(FLOWS_LIMIT, emulator.finished())
        .await
        .expect("the flows did not finish");
    assert_eq!(summary.acked, 16, "every user ends final: {summary}");

    // What the provider sent: each final envelope, with or without a date of birth.
    let mut born = std::collections::BTreeMap::new();
    for delivery in export_jsonl(&scratch.db(), "deliveries") {
        if delivery["outcome"] != "accepted" {
            continue;
        }
        let body: serde_json::Value =
            serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap();
        let data = &body["data"];
        let date = data.get("date_of_birth").map(|date| {
            let date = date
                .as_str()
                .unwrap_or_else(|| panic!("not a string: {data}"));
            let parts: Vec<u32> = date.split('-').map(|n| n.parse().unwrap()).collect();
            assert!(
                date.len() == 10 && matches!(parts[..], [1950..=2004, 1..=12, 1..=28]),
                "not a date of birth: {date}"
            );
            date.to_owned()
        });
        born.insert(data["external_id"].as_str().unwrap().to_owned(), date);
    }
    assert_eq!(born.len(), 16, "{born:?}");
    let with = born.values().filter(|date| date.is_some()).count();
    assert!(
        (1..16).contains(&with),
        "some users have a date of birth and some have none: {born:?}"
    );

    // The monitor shows each user's as sent (to its owner, who may see personal data).
    let (with_id, without_id) = (
        born.iter().find(|(_, date)| date.is_some()).unwrap().0,
        born.iter().find(|(_, date)| date.is_none()).unwrap().0,
    );
    for id in [with_id, without_id] {
        let request = support::client()
            .get(format!("{base}/api/users/{id}"))
            .bearer_auth(&token);
        let detail = support::send(request).await.json();
        let shown = &detail["timeline"].as_array().unwrap().last().unwrap()["dateOfBirth"];
        match &born[id] {
            Some(date) => assert_eq!(shown, date, "{detail}"),
            None => assert!(shown.is_null(), "{detail}"),
        }
    }
    emulator.stop().await;
}
