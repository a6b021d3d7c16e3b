//! A local stand-in for the provider: the same routes (`/oauth/token`, `/v1/kyc/webhook`,
//! `/v1/kyc/status`) and behaviour as documented, and simulated users whose onboarding is
//! delivered as real webhooks, with retries, optional signatures and injectable trouble.

//!
//! One room a job: `oauth` (the token endpoint and bearer tokens), `rate` (the per-client rate
//! limit), `routes` (registration with its validation request, the status endpoint), `flows`
//! (the simulated users and their deliveries with retries), `rng` (the simulation's PRNG).

mod flows;
mod oauth;
mod rate;
mod rng;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::jwt::PublicKey;
use crate::kyc::UserState;
use crate::signature::{Ed25519PrivateKey, SharedSecret};
use rng::Rng;

pub use oauth::TOKEN_LIFETIME_SECS;

/// Which of the two documented payload forms flows are delivered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadForm {
    /// `{"externalId", "decision", "status", "subStatus", "participantId", "account"}`
    Flat,
    /// `{"event_type", "event_id", "event_time", "data": {...}}`
    Envelope,
}

/// Which generation of the provider's API the emulator behaves as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiGeneration {
    /// The documented API (the seed): every status change is delivered.
    #[default]
    Documented,
    /// The newer API: only final outcomes (`kyc.approved`, `kyc.rejected`) are delivered, as
    /// signed envelopes with the newer fields; the states between are read from the status
    /// route; the ids of users it starts are handed over as a partner's backend would learn them.
    Beta,
}

/// How a simulated user's onboarding ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// `CLOSED` with `ACCEPT`, a `participantId` and an `account`.
    Approved,
    /// `CLOSED` with `REJECT`.
    Rejected,
    /// Left `ON_HOLD` with `REVIEW`: waits on a person, in the review queue.
    Held,
    /// Stopped early, at `NOT_STARTED` or `OPEN`, and never came back.
    Abandoned,
}

/// What the simulated users do and what goes wrong on the way.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub users: u32,
    /// Divides every simulated delay: 1 is a watchable demo, 100 is a quick test.
    pub speed: f64,
    /// Share of users rejected at the end. The outcome shares are of all users, dealt
    /// exactly (the largest remainder rounds); those not rejected, held or abandoned are approved.
    pub reject_rate: f64,
    /// Share of users left ON_HOLD for review, never decided.
    pub hold_rate: f64,
    /// Share of users who stop at NOT_STARTED or OPEN and never finish.
    pub abandon_rate: f64,
    /// Share of the users who finish that are put ON_HOLD for documents on the way.
    pub review_rate: f64,
    /// Seeds the simulation (ids, outcomes, delays, choices); `None`: a new run every time.
    pub seed: Option<u64>,
    /// The payload form of the documented API (the newer API always sends envelopes).
    pub form: PayloadForm,
    pub api: ApiGeneration,
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
    /// Ids whose status the provider refuses (400), as it would an id it cannot take: a fault
    /// to test a poll with.
    pub refused_ids: Vec<String>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            users: 20,
            speed: 1.0,
            reject_rate: 0.2,
            hold_rate: 0.0,
            abandon_rate: 0.0,
            review_rate: 0.3,
            seed: None,
            form: PayloadForm::Flat,
            api: ApiGeneration::Documented,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            drop_rate: 0.0,
            max_attempts: 8,
            retry_base: Duration::from_millis(500),
            delivery_timeout: Duration::from_secs(5),
            refused_ids: Vec::new(),
        }
    }
}

impl FlowConfig {
    /// The demo's story: forty users, most approved, some rejected, some left on hold for a
    /// person to review, a few who give up early.
    pub fn demo() -> FlowConfig {
        FlowConfig {
            users: 40,
            reject_rate: 0.15,
            hold_rate: 0.2,
            abandon_rate: 0.1,
            ..FlowConfig::default()
        }
    }

    /// How many users end each way: the shares of `users`, rounded so that they add up.
    pub fn outcome_counts(&self) -> BTreeMap<Outcome, u32> {
        let clamp = |share: f64| share.clamp(0.0, 1.0);
        let mut left = 1.0;
        let mut shares = Vec::new();
        for (outcome, share) in [
            (Outcome::Abandoned, self.abandon_rate),
            (Outcome::Held, self.hold_rate),
            (Outcome::Rejected, self.reject_rate),
        ] {
            let share = clamp(share).min(left);
            left -= share;
            shares.push((outcome, share));
        }
        shares.push((Outcome::Approved, left.max(0.0)));
        let users = f64::from(self.users);
        let mut counts: Vec<(Outcome, u32, f64)> = shares
            .iter()
            .map(|&(outcome, share)| {
                let exact = share * users;
                (outcome, exact.floor() as u32, exact - exact.floor())
            })
            .collect();
        let dealt: u32 = counts.iter().map(|c| c.1).sum();
        let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
        by_remainder.sort_by(|&a, &b| counts[b].2.total_cmp(&counts[a].2));
        for &index in by_remainder.iter().take((self.users - dealt) as usize) {
            counts[index].1 += 1;
        }
        counts
            .into_iter()
            .map(|(outcome, count, _)| (outcome, count))
            .collect()
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
    /// Users the run brings in all.
    pub planned: u64,
    /// Users who have begun onboarding so far.
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
    /// Users whose onboarding has ended, by how it ended.
    pub approved: u64,
    pub rejected: u64,
    /// Left ON_HOLD for review.
    pub held: u64,
    pub abandoned: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "users={} sent={} acked={} retried={} failed={} dropped={} duplicates={} \
             approved={} rejected={} held={} abandoned={}",
            self.users,
            self.sent,
            self.acked,
            self.retried,
            self.failed,
            self.dropped,
            self.duplicates,
            self.approved,
            self.rejected,
            self.held,
            self.abandoned
        )
    }
}

#[derive(Default)]
struct Counters {
    planned: AtomicU64,
    users: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
    approved: AtomicU64,
    rejected: AtomicU64,
    held: AtomicU64,
    abandoned: AtomicU64,
}

impl Counters {
    fn ended(&self, outcome: Outcome) -> &AtomicU64 {
        match outcome {
            Outcome::Approved => &self.approved,
            Outcome::Rejected => &self.rejected,
            Outcome::Held => &self.held,
            Outcome::Abandoned => &self.abandoned,
        }
    }
}

/// Where deliveries go: the last URL that passed validation.
#[derive(Clone)]
struct Target {
    url: String,
    secret: Option<SharedSecret>,
}

struct Shared {
    config: EmulatorConfig,
    /// What every external id of this run starts with (`user-a78c-`), once the flows began.
    ids_prefix: std::sync::OnceLock<String>,
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
    /// How each simulated user's onboarding ends, dealt when the flows start.
    outcomes: Mutex<BTreeMap<String, Outcome>>,
    /// Users who gave up, once their flow has sent its last step: they stay where they stopped.
    gave_up: Mutex<Vec<String>>,
    counters: Counters,
    finished: watch::Sender<bool>,
    rate: Mutex<rate::Windows>,
    rng: Mutex<Rng>,
    /// The newer API's users as they start, for whoever plays the partner's backend.
    started: tokio::sync::mpsc::UnboundedSender<StartedUser>,
    /// Someone took the started users ([`Emulator::take_started_users`]): each flow waits until
    /// its user is known to them before it goes on.
    handed_over: std::sync::atomic::AtomicBool,
}

/// A user the newer API started, as a partner's backend learns of it from `POST /v1/kyc/start`:
/// the backend knows the user before the provider does anything with it, so the flow goes on
/// once [`StartedUser::known`] is called (or this is dropped).
pub struct StartedUser {
    pub external_id: String,
    known: tokio::sync::oneshot::Sender<()>,
}

impl StartedUser {
    /// The partner's side has recorded the user: its flow may go on.
    pub fn known(self) {
        let _ = self.known.send(());
    }
}

/// A running emulator; dropping it does not stop it, [`Emulator::stop`] does.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    started: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<StartedUser>>>,
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
        let (started, started_ids) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            ids_prefix: std::sync::OnceLock::new(),
            token_url: format!("{api_base}/oauth/token"),
            api_base,
            http,
            used_jti: Mutex::default(),
            tokens: Mutex::default(),
            tokens_issued: AtomicU64::new(0),
            target: watch::channel(None).0,
            signing: Mutex::default(),
            users: Mutex::default(),
            outcomes: Mutex::default(),
            gave_up: Mutex::default(),
            counters: Counters::default(),
            finished: watch::channel(false).0,
            rate: Mutex::default(),
            rng: Mutex::new(config.flows.seed.map_or_else(Rng::seeded, Rng::from_seed)),
            started,
            handed_over: std::sync::atomic::AtomicBool::new(false),
            config,
        });
        let router = Router::new()
            .route("/oauth/token", post(oauth::token))
            .route("/v1/kyc/webhook", post(routes::register))
            .route("/v1/kyc/status", get(routes::status))
            .fallback(|| async { provider_error(StatusCode::NOT_FOUND, 5, "no such route") })
            .layer(middleware::from_fn_with_state(shared.clone(), rate::limit))
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
        tokio::spawn(flows::run_flows(shared.clone()));
        Ok(Emulator {
            shared,
            addr,
            stop,
            server,
            started: Mutex::new(Some(started_ids)),
        })
    }

    /// The users the newer API starts, each as it starts (before its first state), as the
    /// partner's backend learns them from `POST /v1/kyc/start`; the flows do not wait for the
    /// taker (a script reading them at its pace). Taken once (this or
    /// [`Emulator::follow_started_users`]); the documented API sends none.
    pub fn take_started_users(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<StartedUser>> {
        self.started.lock().expect("started lock").take()
    }

    /// As [`Emulator::take_started_users`], but from then on each user's flow waits until the
    /// taker calls [`StartedUser::known`] (or drops it), as the provider acts on a user only
    /// after the partner's backend has started it.
    pub fn follow_started_users(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<StartedUser>> {
        let taken = self.take_started_users();
        if taken.is_some() {
            self.shared
                .handed_over
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        taken
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

    /// How each simulated user's onboarding ends (known once the flows have started).
    pub fn outcomes(&self) -> BTreeMap<String, Outcome> {
        self.shared.outcomes.lock().expect("outcomes lock").clone()
    }

    /// What every external id of this run starts with, once its flows began.
    pub fn ids_prefix(&self) -> Option<String> {
        self.shared.ids_prefix.get().cloned()
    }

    /// The users who abandoned onboarding, in the order their flows ended (only those whose
    /// flow is over: the rest may still be on their way).
    pub fn abandoned_users(&self) -> Vec<String> {
        self.shared.gave_up.lock().expect("gave_up lock").clone()
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
            planned: get(&c.planned),
            users: get(&c.users),
            sent: get(&c.sent),
            acked: get(&c.acked),
            retried: get(&c.retried),
            failed: get(&c.failed),
            dropped: get(&c.dropped),
            duplicates: get(&c.duplicates),
            approved: get(&c.approved),
            rejected: get(&c.rejected),
            held: get(&c.held),
            abandoned: get(&c.abandoned),
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

/// An error answer in the provider's documented shape.
fn provider_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "details": []})),
    )
        .into_response()
}
