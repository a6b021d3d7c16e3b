//! The webhook listener: the only routes a tunnel exposes. Every request to the webhook path is
//! recorded as a delivery and answered only after the store has committed it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::connections::BODY_DEADLINE;
use crate::kyc::parse_payload;
use crate::metrics::{Answered, DeliveryMetrics};
use crate::secret_file::SecretSource;
use crate::signature::{SignatureError, SignatureHeaders};
use crate::store::{NewDelivery, Outcome, Recorded, Verdict, Writer};
use crate::time::now_millis;

mod budget;
pub use budget::{
    RefusalBudget, REFUSALS_KEPT_PER_MINUTE, REFUSED_BYTES_KEPT_PER_MINUTE,
    REFUSED_BYTES_KEPT_PER_MINUTE_IN_ALL,
};

pub const WEBHOOK_PATH: &str = "/kyc-webhook";
/// Seconds the provider is asked to wait before retrying when the store cannot commit.
const RETRY_AFTER_SECS: u32 = 5;
/// A header whose name contains one of these (lower case) never has its value written to the
/// database: `Authorization`, `Proxy-Authorization`, `Cookie`, `X-Api-Key`, `X-Auth-Token`...
const REDACTED_HEADERS: [&str; 8] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "key",
    "password",
    "session",
    "credential",
];
/// The Standard Webhooks headers, kept whole: they prove what was verified (and hold no secret).
const SIGNATURE_HEADERS: [&str; 6] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];
/// The most header bytes (the stored JSON text, the mark of a cut included) kept per delivery.
const MAX_STORED_HEADERS: usize = 16 * 1024;
/// Room kept under the cap for the pair that says what was left out.
const CUT_MARK_ROOM: usize = 160;

/// How the webhook path behaves.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The secret last segment of the path; `None` serves the bare `/kyc-webhook`.
    pub token: Option<String>,
    pub max_body: usize,
    /// Where the secret that deliveries must be signed with comes from (none: unsigned accepted).
    pub signing_secret: Arc<SecretSource>,
    /// The `webhook-id` prefix of the deliveries this monitor forwards: one arriving with it
    /// has gone round a loop.
    pub own_forwards: String,
    /// How many refused requests are kept one by one; the rest are counted.
    pub refusals: Arc<RefusalBudget>,
    /// Counts every answer and its latency (`--metrics-listen`).
    pub metrics: DeliveryMetrics,
}

/// The bytes a request's headers take (names and values).
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

impl WebhookConfig {
    /// The path the provider must call.
    pub fn path(&self) -> String {
        path_for(self.token.as_deref())
    }
}

/// The webhook's path with its secret token, or the bare path without one.
pub fn path_for(token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{WEBHOOK_PATH}/{token}"),
        None => WEBHOOK_PATH.to_owned(),
    }
}

struct Listener {
    config: WebhookConfig,
    writer: Arc<Writer>,
}

/// The listener's routes. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(config: WebhookConfig, writer: Arc<Writer>) -> Router {
    let with_token = config.token.is_some();
    let listener = Arc::new(Listener { config, writer });
    let routes = if with_token {
        Router::new().route(
            &format!("{WEBHOOK_PATH}/{{token}}"),
            any(receive_with_token),
        )
    } else {
        Router::new().route(WEBHOOK_PATH, any(receive))
    };
    routes.fallback(not_found).with_state(listener)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "there is nothing here")
}

async fn receive_with_token(
    State(listener): State<Arc<Listener>>,
    token: Result<Path<String>, PathRejection>,
    remote: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let expected = listener.config.token.as_deref().unwrap_or_default();
    // Constant time: the token is what keeps strangers from posting deliveries.
    let matches =
        token.is_ok_and(|Path(token)| bool::from(token.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return not_found().await;
    }
    receive(State(listener), remote, request).await
}

async fn receive(
    State(listener): State<Arc<Listener>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let (response, answered) = record_request(&listener, remote, request).await;
    listener
        .config
        .metrics
        .answered(answered, started.elapsed());
    response
}

/// Records one request to the webhook path and makes its answer, saying what it came to.
async fn record_request(
    listener: &Listener,
    remote: SocketAddr,
    request: Request,
) -> (Response, Answered) {
    let received_at = now_millis();
    let (parts, body) = request.into_parts();
    let max_body = listener.config.max_body;
    let read = read_body(body, &parts.headers, max_body).await;

    let mut verified_webhook_id = None;
    let verdict = if parts.method == Method::GET || parts.method == Method::HEAD {
        Verdict::Reachability
    } else if parts.method != Method::POST {
        refused(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is not accepted here: the provider delivers notifications with POST",
                parts.method
            ),
        )
    } else {
        match &read {
            BodyRead::TooLarge { .. } => refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over this monitor's limit of {max_body} bytes; raise it with --max-body if such notifications are expected"),
            ),
            BodyRead::TimedOut => refused(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s of the headers; send the notification again", BODY_DEADLINE.as_secs()),
            ),
            BodyRead::Failed(reason) => refused(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read ({reason}); send the notification again"),
            ),
            BodyRead::Complete(bytes) => {
                let signature = signature_headers(&parts.headers);
                match verify(&listener.config.signing_secret, signature, bytes, received_at).await {
                    Ok(_) if came_back(&signature, &listener.config.own_forwards) => {
                        Verdict::CameBack
                    }
                    Ok(id) => {
                        // A monitor's forwarded id names a delivery whether or not its
                        // signature was checked: one seen before has gone round a ring of
                        // monitors (any ring, not only one that began here) and is a duplicate.
                        verified_webhook_id = id.or_else(|| forwarded_id(&signature));
                        payload_verdict(bytes)
                    }
                    Err(error) => refused(StatusCode::UNAUTHORIZED, error.to_string()),
                }
            }
        }
    };

    // Moved, not copied: the body is only read above.
    let (body, body_size) = match read {
        BodyRead::Complete(bytes) => {
            let size = bytes.len() as i64;
            (Some(bytes), Some(size))
        }
        BodyRead::TooLarge { declared } => (None, declared),
        BodyRead::Failed(_) | BodyRead::TimedOut => (None, None),
    };
    // Refused requests and reachability checks (neither changes a user) are kept within the
    // budget; beyond it they are counted, and answered as if kept.
    let budgeted = match &verdict {
        // Counted apart, so that the refused-signature alert rule counts them too: a stranger
        // spraying forged deliveries from one address is what it is for.
        Verdict::Refused { http_status, .. } if *http_status == 401 => {
            Some(crate::store::SIGNATURE_OVER_BUDGET)
        }
        Verdict::Refused { .. } => Some("over-budget"),
        Verdict::Reachability => Some("checks-over-budget"),
        _ => None,
    };
    if let Some(reason) = budgeted {
        let bytes = body.as_ref().map_or(0, Vec::len) + header_bytes(&parts.headers);
        let kept =
            listener
                .config
                .refusals
                .admit(remote.ip().to_canonical(), bytes, received_at, reason);
        if !kept {
            return match &verdict {
                Verdict::Refused { http_status, error } => (
                    refusal(*http_status, error),
                    Answered::Stored(Outcome::Rejected),
                ),
                _ => (
                    StatusCode::OK.into_response(),
                    Answered::Stored(Outcome::Ping),
                ),
            };
        }
    }
    let delivery = NewDelivery {
        received_at,
        remote_addr: remote.to_string(),
        method: parts.method.to_string(),
        headers: recorded_headers(&parts.headers),
        body,
        body_size,
        verified_webhook_id,
        replay_of: None,
        polled: false,
        verdict,
    };
    match listener.writer.record(delivery).await {
        Ok(recorded) => {
            if recorded.outcome == Outcome::Rejected {
                let error = recorded.error.as_deref().unwrap_or_default();
                tracing::info!(
                    delivery = recorded.delivery_id,
                    status = recorded.http_status,
                    error,
                    "refused a delivery"
                );
            } else {
                tracing::debug!(
                    delivery = recorded.delivery_id,
                    outcome = recorded.outcome.as_str(),
                    "stored a delivery"
                );
            }
            let outcome = recorded.outcome;
            (answer(recorded), Answered::Stored(outcome))
        }
        Err(error) => {
            // The reason is the operator's (logged by the writer and shown in the UI), not the
            // sender's: the answer goes out through the tunnel.
            tracing::debug!(%error, "answering 503");
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "this monitor could not store the delivery, so it did not keep it: send it again later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            (response, Answered::NotStored)
        }
    }
}

/// Checks a delivery's signature when a secret is required; returns its verified `webhook-id`.
/// The secrets are those last read (the current one, and those a rotation replaced while their
/// grace lasts); the file is read again (off the async workers) before a delivery is refused
/// with them, or when a signed delivery comes while none is known, so that a registration just
/// made in another process is in force for its test request.
async fn verify(
    source: &Arc<SecretSource>,
    signature: SignatureHeaders<'_>,
    body: &[u8],
    received_at: i64,
) -> Result<Option<String>, SignatureError> {
    let known = source.current();
    let refusal = match &known {
        Some(secrets) => match secrets.verify(signature, body, received_at) {
            Ok(id) => return Ok(Some(id)),
            Err(error) => Some(error),
        },
        None if signature.signature.is_none() => return Ok(None),
        None => None,
    };
    match source.refresh().await {
        Some(fresh) if Some(&fresh) != known.as_ref() => {
            fresh.verify(signature, body, received_at).map(Some)
        }
        Some(_) => Err(refusal.expect("known secrets refused the delivery")),
        None => Ok(None),
    }
}

enum BodyRead {
    Complete(Vec<u8>),
    TooLarge {
        declared: Option<i64>,
    },
    /// The client kept the body coming slower than the deadline allows.
    TimedOut,
    Failed(String),
}

async fn read_body(body: Body, headers: &HeaderMap, max_body: usize) -> BodyRead {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body as u64) {
        return BodyRead::TooLarge {
            declared: declared.map(|d| d as i64),
        };
    }
    let Ok(read) = tokio::time::timeout(BODY_DEADLINE, to_bytes(body, max_body)).await else {
        return BodyRead::TimedOut;
    };
    match read {
        Ok(bytes) => BodyRead::Complete(bytes.to_vec()),
        Err(error) => {
            let over_limit = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if over_limit {
                BodyRead::TooLarge { declared: None }
            } else {
                BodyRead::Failed(error.to_string())
            }
        }
    }
}

fn payload_verdict(body: &[u8]) -> Verdict {
    match parse_payload(body) {
        Ok(payload) => Verdict::Payload(payload),
        Err(error) if error.is_unprocessable() => {
            refused(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
        }
        Err(error) => refused(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

fn refused(status: StatusCode, error: String) -> Verdict {
    Verdict::Refused {
        http_status: status.as_u16(),
        error,
    }
}

/// The `webhook-id` a monitor gave a delivery it forwarded, if this one carries one.
fn forwarded_id(signature: &SignatureHeaders<'_>) -> Option<String> {
    signature
        .id
        .filter(|id| id.starts_with(crate::forward::FORWARD_ID_PREFIX))
        .map(str::to_owned)
}

/// Whether the delivery carries a `webhook-id` this monitor gave a delivery it forwarded.
fn came_back(signature: &SignatureHeaders<'_>, own_forwards: &str) -> bool {
    signature.id.is_some_and(|id| id.starts_with(own_forwards))
}

/// The Standard Webhooks headers, each taken from its `svix-*` twin when the `webhook-*` one is
/// absent (senders built on the Svix libraries use those). An empty value counts as absent.
fn signature_headers(headers: &HeaderMap) -> SignatureHeaders<'_> {
    let text = |suffix: &str| {
        ["webhook-", "svix-"].into_iter().find_map(|prefix| {
            headers
                .get(format!("{prefix}{suffix}"))
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.trim().is_empty())
        })
    };
    SignatureHeaders {
        id: text("id"),
        timestamp: text("timestamp"),
        signature: text("signature"),
    }
}

/// The headers as stored: a JSON array of `[name, value]` pairs in arrival order, credentials
/// as `[redacted]`, at most [`MAX_STORED_HEADERS`] bytes of JSON. Headers that do not fit are
/// left out, and a last `["[cut]", "..."]` pair (no header can be named so) says how many.
fn recorded_headers(headers: &HeaderMap) -> String {
    let mut stored = String::from("[");
    let (mut left_out, mut left_out_bytes) = (0usize, 0usize);
    for (name, value) in headers {
        let name = name.as_str();
        let redact = !SIGNATURE_HEADERS.contains(&name)
            && REDACTED_HEADERS.iter().any(|part| name.contains(part));
        let shown = if redact {
            "[redacted]".into()
        } else {
            String::from_utf8_lossy(value.as_bytes())
        };
        let pair = serde_json::to_string(&(name, &shown)).expect("strings serialise");
        // The comma before the pair, and the closing bracket.
        if stored.len() + pair.len() + 2 <= MAX_STORED_HEADERS - CUT_MARK_ROOM {
            if stored.len() > 1 {
                stored.push(',');
            }
            stored.push_str(&pair);
        } else {
            left_out += 1;
            left_out_bytes += name.len() + value.len();
        }
    }
    if left_out > 0 {
        let mark = format!(
            "{left_out} headers ({left_out_bytes} bytes of names and values) were left out: at most {MAX_STORED_HEADERS} bytes of headers are stored"
        );
        if stored.len() > 1 {
            stored.push(',');
        }
        stored.push_str(&serde_json::to_string(&("[cut]", mark)).expect("strings serialise"));
    }
    stored.push(']');
    stored
}

fn answer(recorded: Recorded) -> Response {
    match recorded.outcome {
        Outcome::Accepted => json_body(StatusCode::OK, r#"{"received":true}"#),
        Outcome::Duplicate => json_body(StatusCode::OK, r#"{"received":true,"duplicate":true}"#),
        Outcome::Ping => json_body(StatusCode::OK, r#"{"received":true,"ping":true}"#),
        Outcome::Rejected => refusal(
            recorded.http_status,
            recorded.error.as_deref().unwrap_or("refused"),
        ),
    }
}

fn refusal(http_status: u16, error: &str) -> Response {
    let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = error_response(status, error);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    }
    response
}

fn json_body(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// A stored delivery sent again through the normal path, marked as a replay. Its signature is
/// not checked again (its timestamp is old by now): these are bytes this monitor already holds.
pub fn replay(original: &crate::store::DeliveryRecord) -> NewDelivery {
    let verdict = match &original.body {
        Some(body) => payload_verdict(body),
        None => refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the original body was over the size limit and was not kept, so it cannot be replayed"
                .to_owned(),
        ),
    };
    NewDelivery {
        received_at: now_millis(),
        remote_addr: REPLAY_FROM.to_owned(),
        method: Method::POST.to_string(),
        headers: original.headers.clone(),
        body: original.body.clone(),
        body_size: original.body_size,
        verified_webhook_id: None,
        replay_of: Some(original.id),
        polled: false,
        verdict,
    }
}

/// Where a replay comes from, as its delivery records it.
pub const REPLAY_FROM: &str = "replay";
/// Where a replay with an edited body comes from (events and exports mark it as edited).
pub const EDITED_REPLAY_FROM: &str = "edited replay";

/// A stored delivery sent again with a body edited in the inspector: a new delivery, marked as
/// an edited local replay of it and judged as its body deserves. Its headers are the original's
/// with a `content-length` of the body actually sent.
pub fn replay_edited(original: &crate::store::DeliveryRecord, body: Vec<u8>) -> NewDelivery {
    let mut delivery = replay(original);
    delivery.remote_addr = EDITED_REPLAY_FROM.to_owned();
    delivery.headers = with_content_length(&original.headers, body.len());
    delivery.verdict = payload_verdict(&body);
    delivery.body_size = Some(body.len() as i64);
    delivery.body = Some(body);
    delivery
}

/// Stored headers (a JSON array of `[name, value]` pairs) with `content-length` set to `length`
/// (added where there was none, and a `transfer-encoding` dropped: the body is sent whole).
fn with_content_length(headers: &str, length: usize) -> String {
    let mut pairs: Vec<(String, String)> = serde_json::from_str(headers).unwrap_or_default();
    pairs.retain(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"));
    match pairs
        .iter_mut()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        Some((_, value)) => *value = length.to_string(),
        None => pairs.push(("content-length".to_owned(), length.to_string())),
    }
    serde_json::to_string(&pairs).expect("strings serialise")
}
