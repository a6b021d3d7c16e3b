//! Load for `bench/ingest` where wrk cannot say what is needed:
//!
//! - `load burst URL DB COUNT CONNECTIONS`: COUNT new users as fast as CONNECTIONS clients can
//!   send them, then how long after the last acknowledgement the projection (users, events, the
//!   live feed) holds them all, read from the database file.
//! - `load steady URL UI_URL RATE SECONDS`: deliveries at a fixed RATE per second; the
//!   acknowledgement's latency, and the time from each acknowledgement to that user's change in
//!   the UI's live feed (SSE), as a browser would see it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn body(id: &str) -> String {
    format!(
        r#"{{"externalId":"{id}","decision":"","status":"OPEN","subStatus":"","participantId":"","account":""}}"#
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn burst(url: String, db: String, count: usize, connections: usize) {
    let client = client();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let run = std::process::id();
    let started = Instant::now();
    let senders: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut acked = 0usize;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= count {
                        return acked;
                    }
                    let answer = client
                        .post(&url)
                        .body(body(&format!("burst_{run}_{n}")))
                        .send()
                        .await;
                    if answer.is_ok_and(|a| a.status() == 200) {
                        acked += 1;
                    }
                }
            })
        })
        .collect();
    let mut acked = 0;
    for sender in senders {
        acked += sender.await.expect("sender");
    }
    let last_ack = Instant::now();
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    let newest: i64 = conn
        .query_row("SELECT max(id) FROM deliveries", [], |row| row.get(0))
        .expect("newest delivery");
    let behind_at_last_ack: i64 = conn
        .query_row("SELECT ?1 - through FROM projection", [newest], |row| {
            row.get(0)
        })
        .expect("watermark");
    loop {
        let through: i64 = conn
            .query_row("SELECT through FROM projection", [], |row| row.get(0))
            .expect("watermark");
        if through >= newest {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent_for = last_ack - started;
    println!(
        "burst: {acked} of {count} acked in {:.2} s ({:.0}/s, {connections} connections); the projection was {behind_at_last_ack} behind at the last ack and caught up {:.0} ms after it",
        sent_for.as_secs_f64(),
        acked as f64 / sent_for.as_secs_f64(),
        last_ack.elapsed().as_secs_f64() * 1000.0
    );
}

/// Reads the UI's live feed and notes when each user's change arrived.
async fn follow_feed(ui_url: String, seen: Arc<Mutex<HashMap<String, Instant>>>) {
    let (base, token) = ui_url
        .split_once("/?token=")
        .expect("a ui URL with its token");
    let mut response = reqwest::Client::new()
        .get(format!("{base}/api/feed"))
        .bearer_auth(token)
        .send()
        .await
        .expect("open the feed");
    let mut pending = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let now = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let data = event.lines().find_map(|line| line.strip_prefix("data:"));
            let external_id = data
                .and_then(|data| serde_json::from_str::<serde_json::Value>(data.trim()).ok())
                .and_then(|json| json["externalId"].as_str().map(str::to_owned));
            if let Some(id) = external_id {
                seen.lock().unwrap().entry(id).or_insert(now);
            }
        }
    }
}

async fn steady(url: String, ui_url: String, rate: u32, seconds: u64) {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    tokio::spawn(follow_feed(ui_url, seen.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = client();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    let run = std::process::id();
    let total = rate as u64 * seconds;
    let mut sends = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticks.tick().await;
        let (client, url, acks) = (client.clone(), url.clone(), acks.clone());
        sends.push(tokio::spawn(async move {
            let id = format!("steady_{run}_{n}");
            let sent = Instant::now();
            let answer = client.post(&url).body(body(&id)).send().await;
            let acked = Instant::now();
            if answer.is_ok_and(|a| a.status() == 200) {
                acks.lock().unwrap().push((id, sent, acked));
            }
        }));
    }
    for send in sends {
        send.await.expect("send");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acks = acks.lock().unwrap().clone();
    let seen = seen.lock().unwrap().clone();
    let mut ack_ms: Vec<f64> = acks
        .iter()
        .map(|(_, sent, acked)| (*acked - *sent).as_secs_f64() * 1000.0)
        .collect();
    let mut visible_ms: Vec<f64> = acks
        .iter()
        .filter_map(|(id, _, acked)| {
            let at = seen.get(id)?;
            Some(at.saturating_duration_since(*acked).as_secs_f64() * 1000.0)
        })
        .collect();
    ack_ms.sort_by(f64::total_cmp);
    visible_ms.sort_by(f64::total_cmp);
    println!(
        "steady {rate}/s for {seconds} s: {} acked; ack p50 {:.2} ms, p99 {:.2} ms; ack to the feed p50 {:.2} ms, p99 {:.2} ms ({} of them seen in the feed)",
        acks.len(),
        percentile(&ack_ms, 0.5),
        percentile(&ack_ms, 0.99),
        percentile(&visible_ms, 0.5),
        percentile(&visible_ms, 0.99),
        visible_ms.len()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: load burst URL DB COUNT CONNECTIONS | load steady URL UI_URL RATE SECONDS";
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["burst", url, db, count, connections] => {
            burst(
                url.to_string(),
                db.to_string(),
                count.parse().expect(usage),
                connections.parse().expect(usage),
            )
            .await
        }
        ["steady", url, ui, rate, seconds] => {
            steady(
                url.to_string(),
                ui.to_string(),
                rate.parse().expect(usage),
                seconds.parse().expect(usage),
            )
            .await
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
