//! The refused-signature alert rule and the budget of refusals kept: a stranger spraying forged
//! deliveries from one address is what the rule is for, so the refusals past the per-address
//! budget (counted, not kept one by one) count toward it too. Against the real `serve` with real
//! HTTP, its SQLite file read back with `export`.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Refusals (and reachability checks) kept per address and minute (`ingest::budget`).
const BUDGET: usize = 1_000;

async fn api_get(base: &str, token: &str, path: &str) -> Value {
    let answer = send(client().get(format!("{base}{path}")).bearer_auth(token)).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_deliveries_past_the_budget_still_raise_the_refused_signature_alert() {
    let scratch = Scratch::new();
    // Every request within one minute of the clock (the budget is per minute).
    let second_of_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second_of_minute > 35 {
        tokio::time::sleep(Duration::from_secs(61 - second_of_minute)).await;
    }
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[
            "--signing-secret",
            SECRET,
            "--alert-refused-window",
            "5m",
            "--alert-settle",
            "200ms",
        ],
        &mut Command::new(BIN),
    );
    let (base, token) = monitor.ui();
    let http = client();
    // The address spends this minute's budget on reachability checks (kept, as pings: no
    // refused signature among them)...
    for _ in 0..BUDGET {
        let answer = send(http.get(&monitor.webhook_url)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // ...then sprays ten forged deliveries: each refused, none kept.
    for n in 0..10 {
        let answer = send(http.post(&monitor.webhook_url).body(flat(
            &format!("forged{n}"),
            "",
            "OPEN",
        )))
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }

    // The rule counts them: the alert is raised, the ten named.
    let raised = eventually("the refused-signature alert", || {
        let (base, token) = (&base, &token);
        async move {
            let overview = api_get(base, token, "/api/overview").await;
            let conditions = overview["attention"]["conditions"].clone();
            match conditions
                .as_array()
                .unwrap()
                .iter()
                .find(|active| active["rule"] == "refused-signatures")
            {
                Some(active) => Ok(active.clone()),
                None => Err(conditions.to_string()),
            }
        }
    })
    .await;
    assert!(
        raised["summary"]
            .as_str()
            .unwrap()
            .starts_with("10 deliveries refused for their signature within 5m"),
        "{raised}"
    );
    // They were counted as such, not kept one by one.
    let page = api_get(&base, &token, "/api/deliveries?limit=1").await;
    let counted: i64 = page["counted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["reason"] == "signature-over-budget")
        .map(|entry| entry["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 10, "{page}");
    drop(monitor);
    let deliveries = export_jsonl(&scratch.db(), "deliveries");
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d["outcome"] == "rejected")
            .count(),
        0,
        "no forged delivery kept"
    );
    assert_eq!(
        deliveries.iter().filter(|d| d["outcome"] == "ping").count(),
        BUDGET
    );
}
