//! The budget of refused requests kept one by one: a stranger who holds the webhook URL could
//! otherwise grow the database by megabytes a second with unsigned or malformed posts, or
//! with reachability checks. Within the budget they are kept like any delivery; beyond it they
//! are counted per address, minute and reason (`store::refusals`), and the inspector says so.

use std::sync::Arc;

use crate::store::Writer;
use crate::time::now_millis;

/// Refused requests (and reachability checks) kept one by one per remote address and minute;
/// past this they are counted (per address, minute and reason) instead. Accepted deliveries are
/// always kept.
pub const REFUSALS_KEPT_PER_MINUTE: u32 = 1_000;
/// Their bytes (body and headers) kept per remote address and minute.
pub const REFUSED_BYTES_KEPT_PER_MINUTE: usize = 4 * 1024 * 1024;
/// Their bytes kept per minute from all addresses together: behind a tunnel every request
/// comes from the tunnel's address, and a flood from many addresses is one flood.
pub const REFUSED_BYTES_KEPT_PER_MINUTE_IN_ALL: usize = 16 * 1024 * 1024;
/// Addresses remembered per minute; past this (a flood from many addresses) refusals from new
/// addresses are counted, under their own address while there is room.
const BUDGET_ADDRESSES: usize = 65_536;
/// How often counted refusals are written to the database.
const COUNTS_WRITTEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The budget of refused requests kept: a stranger who holds the webhook URL could otherwise
/// grow the database by megabytes a second with unsigned or malformed posts.
#[derive(Debug, Default)]
pub struct RefusalBudget {
    state: std::sync::Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    /// The minute being counted (its start, Unix ms).
    minute: i64,
    /// Requests and bytes kept this minute, per sender (an IPv6 sender is its /64).
    kept: std::collections::HashMap<std::net::IpAddr, (u32, usize)>,
    /// Bytes kept this minute from every sender.
    kept_bytes: usize,
    /// Senders already named in the log this minute.
    warned: std::collections::HashSet<std::net::IpAddr>,
    /// Not yet written: (address, minute, reason) and how many.
    counted: std::collections::HashMap<(String, i64, &'static str), i64>,
}

impl RefusalBudget {
    /// Whether a refused request (or a reachability check) of `bytes` from `ip` at `now` (Unix
    /// ms) is kept; when not, it is counted under `reason`.
    pub fn admit(
        &self,
        ip: std::net::IpAddr,
        bytes: usize,
        now: i64,
        reason: &'static str,
    ) -> bool {
        let minute = now - now.rem_euclid(60_000);
        let sender = sender_of(ip);
        let mut state = self.state.lock().expect("budget lock");
        if state.minute != minute {
            state.minute = minute;
            state.kept.clear();
            state.kept_bytes = 0;
            state.warned.clear();
        }
        let room = state.kept.len() < BUDGET_ADDRESSES || state.kept.contains_key(&sender);
        let in_all = state.kept_bytes + bytes <= REFUSED_BYTES_KEPT_PER_MINUTE_IN_ALL;
        if room && in_all {
            let (requests, kept_bytes) = state.kept.entry(sender).or_default();
            if *requests < REFUSALS_KEPT_PER_MINUTE
                && *kept_bytes + bytes <= REFUSED_BYTES_KEPT_PER_MINUTE
            {
                *requests += 1;
                *kept_bytes += bytes;
                state.kept_bytes += bytes;
                return true;
            }
        }
        if state.warned.len() < BUDGET_ADDRESSES && state.warned.insert(sender) {
            tracing::warn!(remote = %sender, "refused requests from this address (or from all together) are over this minute's budget: further ones are counted, not kept (the deliveries inspector shows the counts)");
        }
        state.count(sender, minute, reason);
        false
    }

    /// Counts a request refused before it could be read (no path, no body): `reason` says why.
    pub fn count(&self, ip: std::net::IpAddr, now: i64, reason: &'static str) {
        let minute = now - now.rem_euclid(60_000);
        self.state
            .lock()
            .expect("budget lock")
            .count(sender_of(ip), minute, reason);
    }

    /// Writes what was counted, every second, until `stopping` turns true (and once more then).
    pub async fn write_counts(
        self: Arc<Self>,
        writer: Arc<Writer>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let stop = tokio::select! {
                () = tokio::time::sleep(COUNTS_WRITTEN_EVERY) => false,
                _ = stopping.changed() => true,
            };
            let tally: Vec<_> =
                std::mem::take(&mut self.state.lock().expect("budget lock").counted)
                    .into_iter()
                    .collect();
            if !tally.is_empty() {
                if let Err(error) = writer.count_refusals(tally, now_millis()).await {
                    tracing::warn!(%error, "could not keep the count of refused requests");
                }
            }
            if stop || *stopping.borrow() {
                break;
            }
        }
    }
}

/// Who a request counts against: its address, or for IPv6 its /64 (one host holds a /64).
fn sender_of(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let segments = v6.segments();
            std::net::Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            )
            .into()
        }
        v4 => v4,
    }
}

impl BudgetState {
    fn count(&mut self, ip: std::net::IpAddr, minute: i64, reason: &'static str) {
        let mut key = (ip.to_string(), minute, reason);
        if self.counted.len() >= BUDGET_ADDRESSES && !self.counted.contains_key(&key) {
            key.0 = "(other addresses)".to_owned();
        }
        *self.counted.entry(key).or_default() += 1;
    }
}
