//! Forwarding to the user's own backends (`serve --forward-to URL`), as Stripe's
//! `listen --forward-to` and Hookdeck's destinations do: every accepted delivery, at least
//! once, in order per user, from the outbox the projector fills (`store::outbox`), so a restart
//! or a crash loses nothing and repeats at most what was not confirmed.
//!
//! The body goes out byte for byte with its original content type; with a forwarding secret it
//! is signed with Standard Webhooks headers of the monitor's own (a `webhook-id` per delivery,
//! the same on every retry). 5xx, 408, 429, timeouts and refused connections are retried with
//! exponential backoff and jitter (honouring `Retry-After`) for up to 24 hours; any other 4xx
//! fails that delivery and the user's later ones go on. Each destination has a task of its own,
//! and nothing here is on the acknowledgement's path.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backoff::{jitter, Backoff};
use crate::monitor::ReaderPool;
use crate::signature::SharedSecret;
use crate::store::{Attempt, Destination, DueForward, Reader, StoreError, Writer};
use crate::time::now_millis;

/// How long one attempt may take before it counts as a timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries (of different users) sent to one destination at once, each on its own.
pub const IN_FLIGHT: usize = 32;
/// Of those, how many may be retries: a backend that hangs on some users keeps them retrying
/// (10 s an attempt), and they must not take every slot from users tried for the first time.
const RETRIES_IN_FLIGHT: usize = IN_FLIGHT / 2;
/// The first retry's wait; each next one doubles, up to an hour.
const RETRIES: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(60 * 60),
};
/// After this long since the first attempt, a delivery is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How often an idle or paused destination looks again without being woken.
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// The `webhook-id` prefix of the deliveries a monitor forwards: `kycm_` and the monitor's own
/// instance id. A delivery arriving with this monitor's prefix went round a loop.
pub fn own_webhook_id_prefix(instance_id: &str) -> String {
    format!("{FORWARD_ID_PREFIX}{instance_id}_")
}

/// What every monitor's forwarded `webhook-id` starts with.
pub const FORWARD_ID_PREFIX: &str = "kycm_";

/// Since when each destination has been failing: attempts made and none delivered (the alert
/// rule "a forwarding destination failing for 15 minutes" reads it). Kept for the run only.
#[derive(Debug, Default)]
pub struct ForwardHealth {
    failing_since: std::sync::Mutex<HashMap<i64, i64>>,
}

impl ForwardHealth {
    /// Notes an attempt's outcome at `at` (Unix ms).
    fn record(&self, destination_id: i64, at: i64, attempt: &Attempt) {
        let mut failing = self.failing_since.lock().expect("forward health");
        match attempt {
            Attempt::Delivered { .. } => {
                failing.remove(&destination_id);
            }
            Attempt::Retry { .. } | Attempt::Failed { .. } => {
                failing.entry(destination_id).or_insert(at);
            }
        }
    }

    /// The destinations failing now, and since when (Unix ms).
    pub fn failing(&self) -> Vec<(i64, i64)> {
        let failing = self.failing_since.lock().expect("forward health");
        let mut found: Vec<(i64, i64)> = failing.iter().map(|(id, at)| (*id, *at)).collect();
        found.sort_unstable();
        found
    }
}

/// Starts one forwarding task per destination; they end when `stopping` turns true.
pub fn start(
    readers: Arc<ReaderPool>,
    writer: Arc<Writer>,
    destinations: Vec<Destination>,
    secret: Option<SharedSecret>,
    instance_id: &str,
    health: Arc<ForwardHealth>,
    stopping: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StoreError> {
    let client = crate::trust::https_client(|| {
        reqwest::Client::builder()
            // A redirect is the backend's answer, not a place to send the body again.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
    })
    .map_err(|error| StoreError::CommitFailed(format!("cannot make an HTTP client: {error}")))?;
    let id_prefix = own_webhook_id_prefix(instance_id);
    destinations
        .into_iter()
        .map(|destination| {
            let forwarder = Arc::new(Forwarder {
                writer: writer.clone(),
                client: client.clone(),
                secret: secret.clone(),
                id_prefix: id_prefix.clone(),
                destination,
                health: health.clone(),
            });
            Ok(tokio::spawn(
                forwarder.run(readers.clone(), stopping.clone()),
            ))
        })
        .collect()
}

struct Forwarder {
    writer: Arc<Writer>,
    client: reqwest::Client,
    secret: Option<SharedSecret>,
    /// This monitor's `webhook-id` prefix (see [`own_webhook_id_prefix`]).
    id_prefix: String,
    destination: Destination,
    health: Arc<ForwardHealth>,
}

impl Forwarder {
    /// Keeps up to [`IN_FLIGHT`] attempts going, each on its own: a user's delivery that the
    /// backend leaves unanswered holds that user's later ones (order per user) and nobody
    /// else's.
    async fn run(self: Arc<Self>, readers: Arc<ReaderPool>, mut stopping: watch::Receiver<bool>) {
        let mut changes = self.writer.subscribe();
        let id = self.destination.id;
        let mut in_flight = tokio::task::JoinSet::new();
        // In flight: delivery id, and whether it is a retry.
        let mut busy: HashMap<i64, bool> = HashMap::new();
        tracing::info!(url = %shown_url(&self.destination.url), "forwarding accepted deliveries");
        while !*stopping.borrow() {
            let mut wait = IDLE_LOOK;
            if in_flight.len() < IN_FLIGHT {
                let room = IN_FLIGHT - in_flight.len();
                let skip = busy.clone();
                match readers
                    .read(move |reader| due_now(reader, id, room, &skip))
                    .await
                {
                    Ok((due, next)) => {
                        wait = next;
                        for forward in due {
                            busy.insert(forward.delivery_id, forward.attempts > 0);
                            let forwarder = self.clone();
                            in_flight.spawn(async move {
                                let (at, attempt) = forwarder.attempt(&forward).await;
                                (forward.delivery_id, at, attempt)
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not read the outbox; trying again shortly");
                    }
                }
            }
            // Sleep until an attempt ends, the next is due, a delivery is projected, or stop.
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok((delivery_id, at, attempt)) = done {
                        busy.remove(&delivery_id);
                        self.health.record(id, at, &attempt);
                        let recorded = self.writer.record_forward(id, delivery_id, at, attempt).await;
                        if let Err(error) = recorded {
                            tracing::warn!(%error, delivery = delivery_id, "could not keep a forwarding attempt; it will be made again");
                            tokio::time::sleep(IDLE_LOOK).await;
                        }
                    }
                }
                () = tokio::time::sleep(wait) => {}
                _ = changes.recv() => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// Sends one delivery; returns when it was tried and what came of it.
    async fn attempt(&self, forward: &DueForward) -> (i64, Attempt) {
        let at = now_millis();
        let Some(body) = forward.body.clone() else {
            return (
                at,
                Attempt::Failed {
                    status: None,
                    error:
                        "its raw body was removed (--keep-deliveries) before it could be forwarded"
                            .into(),
                },
            );
        };
        let headers = stored_headers(&forward.headers);
        let mut request = self
            .client
            .post(&self.destination.url)
            .header(reqwest::header::CONTENT_TYPE, content_type(&headers));
        // The same id on every retry, so the backend can tell a retry from a new delivery. A
        // delivery another monitor forwarded keeps that monitor's id, so that it recognises
        // it should it come back round a chain of monitors.
        let id = passed_on_id(&headers)
            .unwrap_or_else(|| format!("{}{}", self.id_prefix, forward.delivery_id));
        let timestamp = at / 1000;
        if let Some(secret) = &self.secret {
            request = request.header("webhook-signature", secret.sign(&id, timestamp, &body));
        }
        request = request
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string());
        let answer = request.body(body).send().await;
        let attempt = match answer {
            Ok(response) if response.status().is_success() => Attempt::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) if response.status().is_redirection() => {
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|value| printable(value.as_bytes(), 300))
                    .unwrap_or_else(|| "nowhere (no Location header)".to_owned());
                Attempt::Failed {
                    status: Some(status),
                    error: format!("the backend answered a redirect (HTTP {status}) to {location}; redirects are not followed: forward to the final URL instead"),
                }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = crate::backoff::retry_after(response.headers());
                if matches!(status, 408 | 429) || status >= 500 {
                    self.retry(
                        forward,
                        at,
                        Some(status),
                        format!("the backend answered HTTP {status}"),
                        retry_after,
                    )
                } else {
                    Attempt::Failed {
                        status: Some(status),
                        error: format!("the backend refused it (HTTP {status}); it is not sent again unless retried by hand"),
                    }
                }
            }
            Err(error) => {
                let reason = if let Some(tls) = crate::trust::https_failure(&error) {
                    format!("the backend: {tls}; nothing was sent")
                } else if error.is_timeout() {
                    format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
                } else if error.is_connect() {
                    "the backend could not be reached (connection refused or no route)".to_owned()
                } else {
                    format!("the request failed: {error}")
                };
                self.retry(forward, at, None, reason, None)
            }
        };
        (at, attempt)
    }

    fn retry(
        &self,
        forward: &DueForward,
        at: i64,
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    ) -> Attempt {
        // Both are at most an hour (the backoff's ceiling, the parser's cap): no overflow here.
        let wait = RETRIES
            .wait(forward.attempts as u32 + 1, jitter())
            .max(retry_after.unwrap_or_default());
        let first = forward.first_attempt_at.unwrap_or(at);
        let next_try_at = at.saturating_add(wait.as_millis() as i64);
        if next_try_at - first > GIVE_UP_AFTER.as_millis() as i64 {
            return Attempt::Failed {
                status,
                error: format!("given up after 24 hours of retries; last: {error}"),
            };
        }
        Attempt::Retry {
            status,
            error,
            next_try_at,
        }
    }
}

/// Whether forwarding to `url` would deliver to this monitor's own webhook listener at
/// `listener` (any spelling: a loopback or local address, `localhost`, the machine's own name
/// with `resolve`), or to `public`, the URL the tunnel exposes it at. Such a destination would
/// feed every delivery back in without end.
pub fn forwards_to_itself(
    url: &str,
    listener: SocketAddr,
    public: Option<&str>,
    resolve: bool,
) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let origin = |url: &reqwest::Url| {
        url.host_str()
            .map(|host| (host.to_ascii_lowercase(), url.port_or_known_default()))
    };
    if let Some(public) = public.and_then(|public| reqwest::Url::parse(public).ok()) {
        if origin(&public).is_some() && origin(&public) == origin(&url) {
            return true;
        }
    }
    let Some(port) = url.port_or_known_default() else {
        return false;
    };
    if port != listener.port() {
        return false;
    }
    let addresses: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
            } else if resolve {
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|found| found.map(|addr| addr.ip()).collect())
                    .unwrap_or_default()
            } else {
                Vec::new()
            }
        }
        None => Vec::new(),
    };
    addresses
        .into_iter()
        .any(|ip| reaches(listener.ip(), ip.to_canonical()))
}

/// Whether a connection to `ip` (on the listener's port) reaches a listener bound to `bound`.
fn reaches(bound: IpAddr, ip: IpAddr) -> bool {
    if ip.is_unspecified() {
        // Connecting to 0.0.0.0 or :: reaches this machine.
        return true;
    }
    if bound.is_unspecified() {
        // An address is this machine's when a socket can be bound to it.
        return ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok();
    }
    ip == bound || (ip.is_loopback() && bound.is_loopback())
}

/// The first of `urls` (as shown) that another differs from only in what is masked (its
/// credentials or query values): the database, which keeps each as shown, would take them for
/// one. The same URL given twice is one destination, not twins.
pub fn twin_destinations(urls: &[String]) -> Option<String> {
    let mut seen = std::collections::HashMap::new();
    urls.iter().find_map(|url| {
        let shown = shown_url(url);
        match seen.insert(shown.clone(), url) {
            Some(other) if other != url => Some(shown),
            _ => None,
        }
    })
}

/// A destination's URL as it may be shown, logged or stored: credentials in it
/// (`user:password@`, the query's values, such as `?api_key=...`) replaced by `***`. The
/// database keeps a destination so; the whole URL lives only in the running monitor's memory.
pub fn shown_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return "(not a URL)".to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("***");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let masked: Vec<String> = parsed
            .query_pairs()
            .map(|(name, _)| format!("{name}=***"))
            .collect();
        parsed.set_query(Some(&masked.join("&")));
    }
    parsed.to_string()
}

/// Text a backend chose (a `Location`), safe to store and show: printable ASCII as it is,
/// anything else (bidi and zero-width controls, other scripts) percent-encoded.
fn printable(text: &[u8], limit: usize) -> String {
    let mut shown = String::new();
    for &byte in text.iter().take(limit) {
        match byte {
            b' '..=b'~' => shown.push(byte as char),
            other => shown.push_str(&format!("%{other:02X}")),
        }
    }
    shown
}

/// Up to `room` deliveries due at a destination now (leaving out those in flight, and retries
/// past their share), and how long to wait before looking again when nothing more is.
fn due_now(
    reader: &Reader,
    destination_id: i64,
    room: usize,
    in_flight: &HashMap<i64, bool>,
) -> Result<(Vec<DueForward>, Duration), StoreError> {
    if reader.destination_paused(destination_id)? {
        return Ok((Vec::new(), IDLE_LOOK));
    }
    let now = now_millis();
    // Those in flight are still pending (and so due): ask for enough to fill the room anyway.
    // First attempts come first, then retries by when they are due.
    let mut retry_room =
        RETRIES_IN_FLIGHT.saturating_sub(in_flight.values().filter(|retry| **retry).count());
    let mut due = reader.due_forwards(destination_id, now, room + in_flight.len())?;
    due.retain(|forward| {
        if in_flight.contains_key(&forward.delivery_id) {
            return false;
        }
        if forward.attempts == 0 {
            return true;
        }
        let take = retry_room > 0;
        retry_room = retry_room.saturating_sub(1);
        take
    });
    due.truncate(room);
    if !due.is_empty() {
        return Ok((due, IDLE_LOOK));
    }
    let wait = match reader.next_forward_due(destination_id)? {
        Some(next) if next > now => Duration::from_millis((next - now) as u64).min(IDLE_LOOK),
        _ => IDLE_LOOK,
    };
    Ok((due, wait))
}

/// The stored headers (a JSON array of `[name, value]` pairs), read once per attempt.
fn stored_headers(headers: &str) -> Vec<(String, String)> {
    serde_json::from_str(headers).unwrap_or_default()
}

/// The first stored header whose name is one of `names`, and whose value `fits`.
fn stored<'a>(
    headers: &'a [(String, String)],
    names: &[&str],
    fits: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    headers
        .iter()
        .find(|(name, value)| names.iter().any(|n| name.eq_ignore_ascii_case(n)) && fits(value))
        .map(|(_, value)| value.as_str())
}

/// The `webhook-id` another monitor gave a delivery it forwarded here, to be passed on as it is.
fn passed_on_id(headers: &[(String, String)]) -> Option<String> {
    stored(headers, &["webhook-id", "svix-id"], |value| {
        value.starts_with(FORWARD_ID_PREFIX)
    })
    .map(str::to_owned)
}

/// The original `Content-Type` among the stored headers.
fn content_type(headers: &[(String, String)]) -> String {
    stored(headers, &["content-type"], |_| true)
        .unwrap_or("application/json")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_that_is_the_listener_in_any_spelling_loops() {
        let listener: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        for url in [
            "http://127.0.0.1:8787/kyc-webhook/abc",
            "http://127.0.0.1:8787/kyc-webhook",
            "http://localhost:8787/",
            "http://LOCALHOST.:8787/x",
            "http://127.0.0.2:8787/x",
            "http://[::1]:8787/x",
            "http://[::ffff:127.0.0.1]:8787/x",
            "http://0.0.0.0:8787/x",
            "https://hooks.example.org/kyc-webhook/abc",
        ] {
            assert!(
                forwards_to_itself(
                    url,
                    listener,
                    Some("https://HOOKS.example.org/kyc-webhook/abc"),
                    false
                ),
                "{url}"
            );
        }
        for url in [
            "http://127.0.0.1:8788/kyc-webhook/abc",
            "https://backend.example.org/kyc",
            "https://hooks.example.org:8443/kyc-webhook/abc",
        ] {
            assert!(
                !forwards_to_itself(
                    url,
                    listener,
                    Some("https://hooks.example.org/kyc-webhook/abc"),
                    false
                ),
                "{url}"
            );
        }
        let everywhere: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        assert!(forwards_to_itself(
            "http://127.0.0.1:8787/",
            everywhere,
            None,
            false
        ));
        assert!(!forwards_to_itself(
            "http://192.0.2.1:8787/",
            everywhere,
            None,
            false
        ));
    }

    #[test]
    fn a_forwarded_id_is_passed_on_only_when_a_monitor_made_it() {
        assert_eq!(
            passed_on_id(&stored_headers(r#"[["Webhook-Id","kycm_ab12_7"]]"#)).as_deref(),
            Some("kycm_ab12_7")
        );
        assert_eq!(
            passed_on_id(&stored_headers(r#"[["svix-id","kycm_ff_1"]]"#)).as_deref(),
            Some("kycm_ff_1")
        );
        assert_eq!(
            passed_on_id(&stored_headers(r#"[["webhook-id","msg_1"]]"#)),
            None
        );
        assert_eq!(passed_on_id(&stored_headers("[]")), None);
    }

    #[test]
    fn credentials_in_a_destination_are_never_shown() {
        assert_eq!(
            shown_url("https://user:pass@backend.example/kyc?api_key=SECRET&x=1"),
            "https://***@backend.example/kyc?api_key=***&x=***"
        );
        assert_eq!(
            shown_url("http://localhost:3000/kyc"),
            "http://localhost:3000/kyc"
        );
        assert_eq!(
            printable("https://e.example/\u{202e}<b>".as_bytes(), 300),
            "https://e.example/%E2%80%AE<b>"
        );
    }

    #[test]
    fn the_original_content_type_is_kept() {
        let headers = r#"[["host","x"],["Content-Type","application/json; charset=utf-8"]]"#;
        assert_eq!(
            content_type(&stored_headers(headers)),
            "application/json; charset=utf-8"
        );
        assert_eq!(content_type(&stored_headers("[]")), "application/json");
        assert_eq!(
            content_type(&stored_headers("not json")),
            "application/json"
        );
    }
}
