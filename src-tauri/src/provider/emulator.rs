//! A local stand-in for the provider: the same routes (`/oauth/token`, `/v1/kyc/webhook`,
//! `/v1/kyc/status`) and behaviour as documented, and simulated users whose onboarding is
//! delivered as real webhooks, with retries, optional signatures and injectable trouble.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::jwt::{PublicKey, MAX_ASSERTION_LIFETIME_SECS};
use crate::kyc::UserState;
use crate::signature::{Ed25519PrivateKey, SharedSecret};
use crate::time::{now_millis, rfc3339_millis};

/// How long the emulator's bearer tokens live, as the provider's do.
pub const TOKEN_LIFETIME_SECS: u64 = 180;
/// How far an assertion's `iat` may be ahead of this clock.
const CLOCK_SKEW_SECS: i64 = 60;
/// The longest wait between two attempts at one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which of the two documented payload forms flows are delivered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadForm {
    /// `{"externalId", "decision", "status", "subStatus", "participantId", "account"}`
    Flat,
    /// `{"event_type", "event_id", "event_time", "data": {...}}`
    Envelope,
}

/// What the simulated users do and what goes wrong on the way.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub users: u32,
    /// Divides every simulated delay: 1 is a watchable demo, 100 is a quick test.
    pub speed: f64,
    /// Share of users rejected at the end (the rest are accepted).
    pub reject_rate: f64,
    /// Share of users put ON_HOLD for documents on the way.
    pub review_rate: f64,
    pub form: PayloadForm,
    /// Share of deliveries sent a second time, with the same id.
    pub duplicate_rate: f64,
    /// Share of steps delivered after the step that follows them.
    pub reorder_rate: f64,
    /// Share of steps never delivered (the user's state still changes: reconcile finds it).
    pub drop_rate: f64,
    /// Attempts at one delivery before giving up on it.
    pub max_attempts: u32,
    /// The first retry's wait; it doubles on each retry, with jitter, up to 30 s.
    pub retry_base: Duration,
    /// How long one attempt waits for the listener's answer.
    pub delivery_timeout: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            users: 20,
            speed: 1.0,
            reject_rate: 0.2,
            review_rate: 0.3,
            form: PayloadForm::Flat,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            drop_rate: 0.0,
            max_attempts: 8,
            retry_base: Duration::from_millis(500),
            delivery_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    pub client_id: String,
    /// The partner's public key: client assertions must verify with it.
    pub public_key: PublicKey,
    pub flows: FlowConfig,
    /// How long registration waits for the test request's answer.
    pub validation_timeout: Duration,
    /// Requests per second allowed per client address (the provider allows about 20).
    pub rate_limit: u32,
}

/// Which header names carry a delivery's signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SignatureHeaderNames {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks)
    #[default]
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature` (senders built on the Svix libraries)
    Svix,
}

impl SignatureHeaderNames {
    /// The id, timestamp and signature header names.
    fn names(self) -> [&'static str; 3] {
        match self {
            SignatureHeaderNames::Webhook => {
                ["webhook-id", "webhook-timestamp", "webhook-signature"]
            }
            SignatureHeaderNames::Svix => ["svix-id", "svix-timestamp", "svix-signature"],
        }
    }
}

/// How the emulator signs, beyond the shared secret a registration (or [`Emulator::deliver_to`])
/// gives it.
#[derive(Debug, Clone, Default)]
pub struct DeliverySigning {
    pub headers: SignatureHeaderNames,
    /// The provider's own Ed25519 key: every delivery, the validation request included, carries
    /// a `v1a` entry made with it, beside the `v1` entry when there is a shared secret.
    pub key: Option<Ed25519PrivateKey>,
}

/// Counts of what the flows delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "DemoSummary")]
pub struct Summary {
    pub users: u64,
    /// Deliveries started (duplicates included, retries not).
    pub sent: u64,
    /// Deliveries answered 2xx.
    pub acked: u64,
    /// Extra attempts after a non-2xx answer or a timeout.
    pub retried: u64,
    /// Deliveries given up after the last attempt.
    pub failed: u64,
    /// Steps deliberately not delivered.
    pub dropped: u64,
    /// Deliveries deliberately sent twice.
    pub duplicates: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "users={} sent={} acked={} retried={} failed={} dropped={} duplicates={}",
            self.users,
            self.sent,
            self.acked,
            self.retried,
            self.failed,
            self.dropped,
            self.duplicates
        )
    }
}

#[derive(Default)]
struct Counters {
    users: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
}

/// Where deliveries go: the last URL that passed validation.
#[derive(Clone)]
struct Target {
    url: String,
    secret: Option<SharedSecret>,
}

struct Shared {
    config: EmulatorConfig,
    api_base: String,
    token_url: String,
    http: reqwest::Client,
    /// Assertion ids already used, with their expiry (seconds), pruned as they expire.
    used_jti: Mutex<HashMap<String, i64>>,
    tokens: Mutex<HashMap<String, Instant>>,
    tokens_issued: AtomicU64,
    target: watch::Sender<Option<Target>>,
    signing: Mutex<DeliverySigning>,
    /// The simulated users' true current state, as `/v1/kyc/status` tells it.
    users: Mutex<BTreeMap<String, UserState>>,
    counters: Counters,
    finished: watch::Sender<bool>,
    rate: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    rng: Mutex<Rng>,
}

/// A running emulator; dropping it does not stop it, [`Emulator::stop`] does.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Binds and starts serving; flows start when a webhook URL is first registered.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let api_base = format!("http://{addr}");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kyc-monitor-emulator")
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            token_url: format!("{api_base}/oauth/token"),
            api_base,
            config,
            http,
            used_jti: Mutex::default(),
            tokens: Mutex::default(),
            tokens_issued: AtomicU64::new(0),
            target: watch::channel(None).0,
            signing: Mutex::default(),
            users: Mutex::default(),
            counters: Counters::default(),
            finished: watch::channel(false).0,
            rate: Mutex::default(),
            rng: Mutex::new(Rng::seeded()),
        });
        let router = Router::new()
            .route("/oauth/token", post(token))
            .route("/v1/kyc/webhook", post(register))
            .route("/v1/kyc/status", get(status))
            .fallback(|| async { provider_error(StatusCode::NOT_FOUND, 5, "no such route") })
            .layer(middleware::from_fn_with_state(shared.clone(), rate_limit))
            .with_state(shared.clone());
        let (stop, mut stopping) = watch::channel(false);
        let server = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                })
                .await;
        });
        tokio::spawn(run_flows(shared.clone()));
        Ok(Emulator {
            shared,
            addr,
            stop,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base to give the client (`--api-base`), also the token's audience.
    pub fn api_base(&self) -> &str {
        &self.shared.api_base
    }

    /// The token endpoint (`--token-url`), also the assertion's `aud`.
    pub fn token_url(&self) -> &str {
        &self.shared.token_url
    }

    /// Changes how deliveries are signed from now on (header names, the provider's own key).
    pub fn sign_with(&self, signing: DeliverySigning) {
        *self.shared.signing.lock().expect("signing lock") = signing;
    }

    /// Delivers flows to `url` without a registration (for scripts that know the URL), signed
    /// with `secret` (`v1`) when given.
    pub fn deliver_to(&self, url: &str, secret: Option<SharedSecret>) {
        self.shared.target.send_replace(Some(Target {
            url: url.to_owned(),
            secret,
        }));
    }

    /// The URL deliveries go to, once one is registered.
    pub fn target_url(&self) -> Option<String> {
        self.shared.target.borrow().as_ref().map(|t| t.url.clone())
    }

    pub fn summary(&self) -> Summary {
        self.shared.summary()
    }

    /// How many bearer tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// Every simulated user's true current state, as `/v1/kyc/status` tells it.
    pub fn users(&self) -> BTreeMap<String, UserState> {
        self.shared.users.lock().expect("users lock").clone()
    }

    pub fn is_finished(&self) -> bool {
        *self.shared.finished.borrow()
    }

    /// Waits until every simulated user's flow has been delivered (or given up).
    pub async fn finished(&self) -> Summary {
        let mut finished = self.shared.finished.subscribe();
        let _ = finished.wait_for(|done| *done).await;
        self.summary()
    }

    /// Stops serving the API. Flows still running are abandoned.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

impl Shared {
    fn summary(&self) -> Summary {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Summary {
            users: get(&c.users),
            sent: get(&c.sent),
            acked: get(&c.acked),
            retried: get(&c.retried),
            failed: get(&c.failed),
            dropped: get(&c.dropped),
            duplicates: get(&c.duplicates),
        }
    }

    fn chance(&self, rate: f64) -> bool {
        rate > 0.0 && self.rng.lock().expect("rng lock").unit() < rate
    }

    /// A random delay between `min` and `max` milliseconds, divided by the speed.
    fn delay(&self, min_ms: f64, max_ms: f64) -> Duration {
        let unit = self.rng.lock().expect("rng lock").unit();
        let speed = self.config.flows.speed.max(0.001);
        Duration::from_secs_f64((min_ms + (max_ms - min_ms) * unit) / 1000.0 / speed)
    }

    fn random_hex(&self, bytes: usize) -> String {
        let mut rng = self.rng.lock().expect("rng lock");
        (0..bytes)
            .map(|_| format!("{:02x}", rng.next() as u8))
            .collect()
    }
}

fn provider_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "details": []})),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = {
        let mut rate = shared.rate.lock().expect("rate lock");
        let now = Instant::now();
        let window = rate.entry(remote.ip()).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= shared.config.rate_limit
    };
    if !allowed {
        let mut response = provider_error(StatusCode::TOO_MANY_REQUESTS, 8, "rate limit exceeded");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    }
    next.run(request).await
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials".into(),
        );
    }
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_assertion_type must be the JWT bearer type".into(),
        );
    }
    if field("audience") != shared.api_base {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("audience must be {}", shared.api_base),
        );
    }
    let claims = match shared.config.public_key.verify(field("client_assertion")) {
        Ok(claims) => claims,
        Err(error) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                error.to_string(),
            )
        }
    };
    let now = now_millis() / 1000;
    let refusal = if claims.iss != shared.config.client_id || claims.sub != claims.iss {
        Some("unknown client: iss and sub must both be the client id".to_owned())
    } else if claims.aud != shared.token_url {
        Some(format!("the assertion's aud must be {}", shared.token_url))
    } else if claims.exp <= now {
        Some("the assertion has expired".to_owned())
    } else if claims.iat > now + CLOCK_SKEW_SECS {
        Some("the assertion is issued in the future".to_owned())
    } else if claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECS {
        Some("the assertion lives longer than 5 minutes".to_owned())
    } else {
        let mut used = shared.used_jti.lock().expect("jti lock");
        used.retain(|_, exp| *exp > now);
        if used.insert(claims.jti.clone(), claims.exp).is_some() {
            Some("the assertion's jti was already used".to_owned())
        } else {
            None
        }
    };
    if let Some(description) = refusal {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    }
    let bearer = shared.random_hex(24);
    shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
    shared.tokens.lock().expect("tokens lock").insert(
        bearer.clone(),
        Instant::now() + Duration::from_secs(TOKEN_LIFETIME_SECS),
    );
    Json(json!({"access_token": bearer, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS}))
        .into_response()
}

fn unauthorised() -> Response {
    provider_error(
        StatusCode::UNAUTHORIZED,
        16,
        "missing or expired bearer token",
    )
}

/// Whether the request carries a bearer token this emulator issued and that has not expired.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.is_some_and(|bearer| {
        let mut tokens = shared.tokens.lock().expect("tokens lock");
        tokens.retain(|_, expiry| *expiry > Instant::now());
        tokens.contains_key(bearer)
    })
}

async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return provider_error(
            StatusCode::BAD_REQUEST,
            3,
            "the body must be a JSON object with webhookUrl",
        );
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let (url, secret) = match (text("webhookUrl"), text("webhook_url")) {
        (Some(url), None) => (url, None),
        (None, Some(url)) => match text("signing_secret").map(str::parse::<SharedSecret>) {
            None => (url, None),
            Some(Ok(secret)) => (url, Some(secret)),
            Some(Err(error)) => {
                return provider_error(
                    StatusCode::BAD_REQUEST,
                    3,
                    &format!("signing_secret: {error}"),
                )
            }
        },
        _ => {
            return provider_error(
                StatusCode::BAD_REQUEST,
                3,
                "give exactly one of webhookUrl or webhook_url",
            )
        }
    };
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"validated": false, "message": format!("Webhook URL {url:?} is not an http(s) URL")})),
            )
                .into_response()
        }
    }
    match validate(&shared, url, secret.as_ref()).await {
        Ok(()) => {
            // The path carries the monitor's webhook token: only the origin is logged.
            let origin = reqwest::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            tracing::info!(origin, "emulator: webhook URL validated; flows are delivered there");
            shared.target.send_replace(Some(Target {
                url: url.to_owned(),
                secret,
            }));
            Json(json!({"validated": true, "message": "Webhook URL validated successfully"})).into_response()
        }
        Err(reason) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"validated": false, "message": format!("Webhook validation failed: {reason}")})),
        )
            .into_response(),
    }
}

/// Sends the test request; `Err` says why the URL does not qualify.
async fn validate(shared: &Shared, url: &str, secret: Option<&SharedSecret>) -> Result<(), String> {
    let id = format!("msg_{}", shared.random_hex(12));
    let body = match shared.config.flows.form {
        PayloadForm::Flat => json!({"test": true, "message": "KYC webhook validation"}),
        PayloadForm::Envelope => json!({
            "event_type": "webhook.test", "event_id": id, "event_time": rfc3339_millis(now_millis()), "data": {}
        }),
    };
    let timeout = shared.config.validation_timeout;
    match send(shared, url, secret, &id, &body, timeout).await {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, _)) => Err(format!(
            "the test request got HTTP {} (a 2xx is required)",
            status.as_u16()
        )),
        Err(error) if error.is_timeout() => Err(format!(
            "the test request got no answer within {} s",
            timeout.as_secs_f64()
        )),
        Err(error) => Err(format!(
            "the test request could not be delivered ({})",
            innermost(&error)
        )),
    }
}

fn innermost(error: &reqwest::Error) -> String {
    let mut reason: &dyn std::error::Error = error;
    while let Some(source) = reason.source() {
        reason = source;
    }
    reason.to_string()
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    #[serde(rename = "externalId")]
    external_id: Option<String>,
}

async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<StatusQuery>,
) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let Some(external_id) = query.external_id.filter(|id| !id.is_empty()) else {
        return provider_error(StatusCode::BAD_REQUEST, 3, "externalId is required");
    };
    let state = shared
        .users
        .lock()
        .expect("users lock")
        .get(&external_id)
        .cloned();
    match state {
        Some(state) => Json(crate::kyc::flat_json(&external_id, &state)).into_response(),
        None => provider_error(
            StatusCode::NOT_FOUND,
            5,
            &format!("no KYC record for externalId {external_id}"),
        ),
    }
}

/// One step of a user's onboarding, as delivered.
struct Step {
    state: UserState,
    /// Pause before this step happens.
    delay: Duration,
}

fn state(decision: &str, status: &str, sub_status: &str) -> UserState {
    UserState {
        decision: decision.to_owned(),
        status: status.to_owned(),
        sub_status: sub_status.to_owned(),
        participant_id: String::new(),
        account: String::new(),
    }
}

fn plan(shared: &Shared, external_id: &str) -> Vec<Step> {
    let mut steps = vec![
        Step {
            state: state("", "NOT_STARTED", ""),
            delay: Duration::ZERO,
        },
        Step {
            state: state("", "OPEN", "pending"),
            delay: shared.delay(800.0, 2500.0),
        },
    ];
    if shared.chance(shared.config.flows.review_rate) {
        steps.push(Step {
            state: state("REVIEW", "ON_HOLD", "Document Request Initiated"),
            delay: shared.delay(1000.0, 3000.0),
        });
        steps.push(Step {
            state: state("REVIEW", "OPEN", "Documents Received"),
            delay: shared.delay(1500.0, 4000.0),
        });
    }
    let last = if shared.chance(shared.config.flows.reject_rate) {
        state("REJECT", "CLOSED", "")
    } else {
        UserState {
            participant_id: format!("firms/ISV-Participant-Emulator/users/{external_id}"),
            account: format!("firms/ISV-Emulator/accounts/{}", shared.random_hex(6)),
            ..state("ACCEPT", "CLOSED", "")
        }
    };
    steps.push(Step {
        state: last,
        delay: shared.delay(1000.0, 3500.0),
    });
    steps
}

/// Waits for a registered URL, then runs every simulated user's flow.
async fn run_flows(shared: Arc<Shared>) {
    let mut target = shared.target.subscribe();
    if target.wait_for(Option::is_some).await.is_err() {
        return;
    }
    let run = shared.random_hex(2);
    let mut users = tokio::task::JoinSet::new();
    for n in 1..=shared.config.flows.users {
        let external_id = format!("user-{run}-{n:03}");
        let arrival = shared.delay(300.0, 1200.0) * n.min(50);
        let shared = shared.clone();
        users.spawn(async move {
            tokio::time::sleep(arrival).await;
            shared.counters.users.fetch_add(1, Ordering::Relaxed);
            run_user(&shared, &external_id).await;
        });
    }
    while users.join_next().await.is_some() {}
    let summary = shared.summary();
    tracing::info!(%summary, "emulator: every flow is delivered");
    shared.finished.send_replace(true);
}

async fn run_user(shared: &Shared, external_id: &str) {
    let steps = plan(shared, external_id);
    let mut held_back: Option<(String, Value)> = None;
    for (index, step) in steps.iter().enumerate() {
        tokio::time::sleep(step.delay).await;
        shared
            .users
            .lock()
            .expect("users lock")
            .insert(external_id.to_owned(), step.state.clone());
        let is_last = index + 1 == steps.len();
        if shared.chance(shared.config.flows.drop_rate) {
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let id = format!("msg_{}", shared.random_hex(12));
        let body = payload(shared, external_id, &step.state, &id);
        if !is_last && held_back.is_none() && shared.chance(shared.config.flows.reorder_rate) {
            held_back = Some((id, body));
            continue;
        }
        deliver_once_or_twice(shared, &id, &body).await;
        if let Some((id, body)) = held_back.take() {
            deliver_once_or_twice(shared, &id, &body).await;
        }
    }
}

fn payload(shared: &Shared, external_id: &str, state: &UserState, id: &str) -> Value {
    match shared.config.flows.form {
        PayloadForm::Flat => crate::kyc::flat_json(external_id, state),
        PayloadForm::Envelope => {
            let event_type = match state.decision.as_str() {
                "ACCEPT" => "kyc.approved",
                "REJECT" => "kyc.rejected",
                _ => "kyc.status_changed",
            };
            let status = match state.decision.as_str() {
                "ACCEPT" => "KYC_STATUS_APPROVED".to_owned(),
                "REJECT" => "KYC_STATUS_REJECTED".to_owned(),
                _ => state.status.clone(),
            };
            let now = rfc3339_millis(now_millis());
            json!({
                "event_type": event_type,
                "event_id": id,
                "event_time": now,
                "data": {
                    "external_id": external_id,
                    "status": status,
                    "provisioned_participant": state.participant_id,
                    "provisioned_account": state.account,
                    "status_set_at": now,
                }
            })
        }
    }
}

async fn deliver_once_or_twice(shared: &Shared, id: &str, body: &Value) {
    let acked = deliver(shared, id, body).await;
    if acked && shared.chance(shared.config.flows.duplicate_rate) {
        shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        deliver(shared, id, body).await;
    }
}

/// Delivers one webhook with retries; true once a 2xx came back.
async fn deliver(shared: &Shared, id: &str, body: &Value) -> bool {
    let flows = &shared.config.flows;
    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
    for attempt in 1..=flows.max_attempts.max(1) {
        // The latest registration wins, also for retries of older deliveries.
        let Some(target) = shared.target.borrow().clone() else {
            return false;
        };
        let answer = send(
            shared,
            &target.url,
            target.secret.as_ref(),
            id,
            body,
            flows.delivery_timeout,
        )
        .await;
        let retry_after = match &answer {
            Ok((status, _)) if status.is_success() => {
                shared.counters.acked.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok((_, retry_after)) => *retry_after,
            Err(_) => None,
        };
        if attempt == flows.max_attempts.max(1) {
            break;
        }
        shared.counters.retried.fetch_add(1, Ordering::Relaxed);
        let backoff = flows
            .retry_base
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(MAX_BACKOFF);
        // Jitter: somewhere between half and all of the backoff.
        let unit = shared.rng.lock().expect("rng lock").unit();
        let wait = retry_after.map_or(backoff.mul_f64(0.5 + unit / 2.0), |asked| {
            asked.min(MAX_BACKOFF)
        });
        tracing::debug!(
            id,
            attempt,
            ?answer,
            wait_ms = wait.as_millis() as u64,
            "emulator: delivery not acknowledged; retrying"
        );
        tokio::time::sleep(wait).await;
    }
    shared.counters.failed.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        id,
        "emulator: gave up on a delivery after {} attempts",
        flows.max_attempts
    );
    false
}

async fn send(
    shared: &Shared,
    url: &str,
    secret: Option<&SharedSecret>,
    id: &str,
    body: &Value,
    timeout: Duration,
) -> Result<(StatusCode, Option<Duration>), reqwest::Error> {
    let bytes = serde_json::to_vec(body).expect("JSON serialises");
    let mut request = shared
        .http
        .post(url)
        .timeout(timeout)
        .header(header::CONTENT_TYPE, "application/json");
    let signing = shared.signing.lock().expect("signing lock").clone();
    let timestamp = now_millis() / 1000;
    let entries: Vec<String> = [
        secret.map(|secret| secret.sign(id, timestamp, &bytes)),
        signing.key.map(|key| key.sign(id, timestamp, &bytes)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !entries.is_empty() {
        let [id_name, timestamp_name, signature_name] = signing.headers.names();
        request = request
            .header(id_name, id)
            .header(timestamp_name, timestamp.to_string())
            .header(signature_name, entries.join(" "));
    }
    let response = request.body(bytes).send().await?;
    let status = response.status();
    // Honoured where the provider documents it (408, 429) and where this monitor sends it (503).
    let retry_after = [408, 429, 503]
        .contains(&status.as_u16())
        .then(|| {
            response
                .headers()
                .get(header::RETRY_AFTER)?
                .to_str()
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .flatten()
        .map(Duration::from_secs);
    Ok((status, retry_after))
}

/// SplitMix64: plenty for simulated delays and choices, seeded from the OS.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        Rng(u64::from_le_bytes(seed))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
