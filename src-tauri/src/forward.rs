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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backoff::{jitter, Backoff};
use crate::signature::SharedSecret;
use crate::store::{Attempt, Destination, DueForward, Reader, Store, StoreError, Writer};
use crate::time::now_millis;

/// How long one attempt may take before it counts as a timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries (of different users) sent to one destination at once.
const IN_FLIGHT: usize = 8;
/// The first retry's wait; each next one doubles, up to an hour.
const RETRIES: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(60 * 60),
};
/// After this long since the first attempt, a delivery is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How often an idle or paused destination looks again without being woken.
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// Starts one forwarding task per destination; they end when `stopping` turns true.
pub fn start(
    store: &Store,
    writer: Arc<Writer>,
    destinations: Vec<Destination>,
    secret: Option<SharedSecret>,
    stopping: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StoreError> {
    let client = reqwest::Client::builder()
        // A redirect is the backend's answer, not a place to send the body again.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .map_err(|error| {
            StoreError::CommitFailed(format!("cannot make an HTTP client: {error}"))
        })?;
    destinations
        .into_iter()
        .map(|destination| {
            let forwarder = Forwarder {
                writer: writer.clone(),
                client: client.clone(),
                secret: secret.clone(),
                destination,
            };
            Ok(tokio::spawn(
                forwarder.run(store.reader()?, stopping.clone()),
            ))
        })
        .collect()
}

struct Forwarder {
    writer: Arc<Writer>,
    client: reqwest::Client,
    secret: Option<SharedSecret>,
    destination: Destination,
}

impl Forwarder {
    async fn run(self, reader: Reader, mut stopping: watch::Receiver<bool>) {
        let mut changes = self.writer.subscribe();
        // Moved into blocking tasks and back: SQLite reads never run on the async workers.
        let mut reader = Some(reader);
        let id = self.destination.id;
        tracing::info!(url = %self.destination.url, "forwarding accepted deliveries");
        while !*stopping.borrow() {
            let due = match read(&mut reader, move |reader| due_now(reader, id)).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "could not read the outbox; trying again shortly");
                    Err(IDLE_LOOK)
                }
            };
            match due {
                Ok(due) => {
                    let attempts = due.iter().map(|forward| self.attempt(forward));
                    let outcomes = futures_util::future::join_all(attempts).await;
                    for (forward, (at, attempt)) in due.iter().zip(outcomes) {
                        let recorded = self
                            .writer
                            .record_forward(self.destination.id, forward.delivery_id, at, attempt)
                            .await;
                        if let Err(error) = recorded {
                            tracing::warn!(%error, delivery = forward.delivery_id, "could not keep a forwarding attempt; it will be made again");
                            tokio::time::sleep(IDLE_LOOK).await;
                        }
                    }
                }
                Err(wait) => {
                    // Nothing due: sleep until the next is, a delivery is projected, or stop.
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = changes.recv() => {}
                        _ = stopping.changed() => {}
                    }
                }
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
        let mut request = self.client.post(&self.destination.url).header(
            reqwest::header::CONTENT_TYPE,
            content_type(&forward.headers),
        );
        // The same id on every retry, so the backend can tell a retry from a new delivery.
        let id = format!("kycm_{}", forward.delivery_id);
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
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
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
                let reason = if error.is_timeout() {
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
        let wait = RETRIES
            .wait(forward.attempts as u32 + 1, jitter())
            .max(retry_after.unwrap_or_default());
        let first = forward.first_attempt_at.unwrap_or(at);
        let next_try_at = at + wait.as_millis() as i64;
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

/// Runs a read of the outbox off the async workers.
async fn read<T: Send + 'static>(
    home: &mut Option<Reader>,
    read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let reader = home.take().expect("the forwarder's reader is home");
    let (reader, result) = tokio::task::spawn_blocking(move || {
        let result = read(&reader);
        (reader, result)
    })
    .await
    .expect("an outbox read panicked");
    *home = Some(reader);
    result
}

/// What is due at a destination now, or how long until something may be.
fn due_now(
    reader: &Reader,
    destination_id: i64,
) -> Result<Result<Vec<DueForward>, Duration>, StoreError> {
    if reader.destination_paused(destination_id)? {
        return Ok(Err(IDLE_LOOK));
    }
    let now = now_millis();
    let due = reader.due_forwards(destination_id, now, IN_FLIGHT)?;
    if !due.is_empty() {
        return Ok(Ok(due));
    }
    let wait = match reader.next_forward_due(destination_id)? {
        Some(next) => Duration::from_millis((next - now).max(0) as u64).min(IDLE_LOOK),
        None => IDLE_LOOK,
    };
    Ok(Err(wait))
}

/// The original `Content-Type` among the stored headers (a JSON array of pairs).
fn content_type(headers: &str) -> String {
    serde_json::from_str::<Vec<(String, String)>>(headers)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, value)| value)
        })
        .unwrap_or_else(|| "application/json".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_content_type_is_kept() {
        let headers = r#"[["host","x"],["Content-Type","application/json; charset=utf-8"]]"#;
        assert_eq!(content_type(headers), "application/json; charset=utf-8");
        assert_eq!(content_type("[]"), "application/json");
        assert_eq!(content_type("not json"), "application/json");
    }
}
