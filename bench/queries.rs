//! The UI's queries at scale: fills a database with USERS users and 5 events each through the
//! production writer (the code every delivery goes through), then times lookup, the board's
//! first page, search, the review queue, the counts and the stats with the same reader
//! functions the UI API calls.
//!
//! cargo run --release --example queries -- [DB_PATH] [USERS]   (defaults: a temp file, 1000000)
//! An existing DB_PATH that already holds the users is reused, so repeated runs skip the fill.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyc_monitor::kyc::parse_payload;
use kyc_monitor::store::{NewDelivery, Reader, ReviewFilter, ReviewOrder, Store, Verdict};

const EVENTS_PER_USER: usize = 5;
const IN_FLIGHT: usize = 2048;
const SAMPLES: usize = 2000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let temp = tempfile::tempdir()?;
    let path = args
        .next()
        .map(Into::into)
        .unwrap_or_else(|| temp.path().join("queries.db"));
    let users: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let store = Store::open(&path)?;
    let present: i64 = store.reader()?.user_counts()?.iter().map(|c| c.users).sum();
    if present as usize >= users {
        println!("reusing {} ({present} users)", path.display());
    } else {
        fill(&store, users).await?;
    }
    let file_size = std::fs::metadata(&path)?.len();
    println!(
        "database: {} ({:.0} MiB)",
        path.display(),
        file_size as f64 / 1048576.0
    );

    let reader = store.reader()?;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64: cheap, and enough to spread lookups over the key space.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    println!(
        "{:<34}{:>10}{:>10}{:>10}",
        "query", "p50 ms", "p99 ms", "target"
    );
    report(
        "lookup (user + timeline)",
        "< 2",
        time(SAMPLES, || {
            let id = user_id(next() as usize % users);
            let user = reader.user(&id).unwrap().expect("user present");
            let events = reader.user_events(&id).unwrap();
            assert_eq!(events.len() as i64, user.event_count);
        }),
    );
    let statuses = ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"];
    report(
        "board first page (50)",
        "< 50",
        time(SAMPLES, || {
            let status = statuses[next() as usize % statuses.len()];
            reader
                .board_page(status, &Default::default(), None, 50)
                .unwrap();
        }),
    );
    report(
        "search anywhere, 4 digits (12)",
        "< 50",
        time(SAMPLES, || {
            let digits = format!("{:04}", next() % 10_000);
            reader.search_users(&digits, 12).unwrap();
        }),
    );
    report(
        "search anywhere, in every id (12)",
        "< 50",
        time(SAMPLES, || {
            // Not a prefix, and in all 1,000,000 externalIds and participantIds.
            reader.search_users("SER_00", 12).unwrap();
        }),
    );
    report(
        "search anywhere, in accounts (12)",
        "< 50",
        time(SAMPLES, || {
            let hex = format!("{:05x}", next() % 0x10_0000);
            reader.search_users(&hex, 12).unwrap();
        }),
    );
    report(
        "review queue page (100)",
        "< 50",
        time(SAMPLES, || {
            // The rejected among the closed, the longest in the status first.
            let filter = ReviewFilter {
                decisions: vec!["REJECT".into()],
                sub_status: None,
                entered_by: i64::MAX,
                assignee: None,
            };
            reader
                .review_page("CLOSED", &filter, ReviewOrder::LongestWait, None, 100)
                .unwrap();
        }),
    );
    report(
        "counts",
        "< 50",
        time(SAMPLES, || {
            reader.user_counts().unwrap();
        }),
    );
    report(
        "stats (counts, median, per minute)",
        "< 100",
        time(200, || stats(&reader)),
    );
    report(
        "compliance stats (per day, funnel, time in status)",
        "< 100",
        time(200, || compliance_stats(&reader)),
    );
    Ok(())
}

fn user_id(n: usize) -> String {
    format!("user_{n:07}")
}

/// Each user: NOT_STARTED, OPEN, ON_HOLD (REVIEW), OPEN, then CLOSED with ACCEPT (4 in 5) or
/// REJECT, deliveries spread over the last 30 days.
async fn fill(store: &Store, users: usize) -> anyhow::Result<()> {
    let writer = Arc::new(store.start_writer()?);
    let total = users * EVENTS_PER_USER;
    let start = Instant::now();
    let now = kyc_monitor::time::now_millis();
    let span = 30 * 24 * 3_600_000i64;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let (step, user) = (n / users, n % users);
        let received_at = now - span + (n as i64 * span / total as i64);
        let state = match step {
            0 => ("", "NOT_STARTED", ""),
            1 => ("", "OPEN", "pending"),
            2 => ("REVIEW", "ON_HOLD", "Document Request Initiated"),
            3 => ("", "OPEN", "documents received"),
            _ if user % 5 == 4 => ("REJECT", "CLOSED", ""),
            _ => ("ACCEPT", "CLOSED", ""),
        };
        let delivery = delivery(&user_id(user), state, received_at);
        let writer = writer.clone();
        tasks.spawn(async move { writer.record(delivery).await });
        while tasks.len() >= IN_FLIGHT {
            tasks.join_next().await.expect("a task")??;
        }
        if n % 500_000 == 0 && n > 0 {
            let rate = n as f64 / start.elapsed().as_secs_f64();
            eprintln!("  {n} of {total} deliveries stored ({rate:.0}/s)");
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    writer.finish().await;
    println!(
        "filled {users} users / {total} events in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A delivery as the listener makes one: the raw body and what parsing it says.
fn delivery(
    external_id: &str,
    (decision, status, sub_status): (&str, &str, &str),
    received_at: i64,
) -> NewDelivery {
    let accepted = decision == "ACCEPT";
    let body = serde_json::json!({
        "externalId": external_id, "decision": decision, "status": status, "subStatus": sub_status,
        "participantId": if accepted { format!("firms/ISV-Participant-Acme/users/{external_id}") } else { String::new() },
        "account": if accepted { format!("firms/ISV-Acme/accounts/{received_at:012x}") } else { String::new() },
    })
    .to_string()
    .into_bytes();
    NewDelivery {
        received_at,
        remote_addr: "127.0.0.1:9".into(),
        method: "POST".into(),
        headers: r#"[["content-type","application/json"]]"#.into(),
        body_size: Some(body.len() as i64),
        verdict: Verdict::Payload(parse_payload(&body).expect("a valid notification")),
        body: Some(body),
        verified_webhook_id: None,
        replay_of: None,
        polled: false,
    }
}

fn stats(reader: &Reader) {
    reader.user_counts().unwrap();
    reader
        .median_time_to_close()
        .unwrap()
        .expect("closed users");
    reader
        .deliveries_per_minute(kyc_monitor::time::now_millis() - 3_600_000)
        .unwrap();
}

/// What the Stats view adds for compliance, from the aggregates the projector keeps.
fn compliance_stats(reader: &Reader) {
    let month_ago = kyc_monitor::time::now_millis() - 30 * 86_400_000;
    assert!(!reader.decisions_per_day(month_ago).unwrap().is_empty());
    assert_eq!(reader.statuses_reached().unwrap().len(), 4);
    assert!(!reader.status_stays().unwrap().is_empty());
}

fn time(samples: usize, mut run: impl FnMut()) -> Vec<Duration> {
    for _ in 0..samples / 10 {
        run(); // warm the page cache
    }
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(name: &str, target: &str, times: Vec<Duration>) {
    let at = |q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "{name:<34}{:>10.3}{:>10.3}{:>10}",
        at(0.5),
        at(0.99),
        target
    );
}
