//! What the CLI, the UI API and the desktop app do with the provider, in one place: register the
//! webhook (and keep the attempt), reconcile users from the status API, run the demo.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use super::client::{registration_form, Endpoints, Environment, ProviderClient, ProviderError};
use super::emulator::{ApiGeneration, Emulator, EmulatorConfig, FlowConfig, StartedUser};
use super::jwt::PrivateKey;
pub use super::signing::Signing;
use super::signing::{keep_stored_signing, store_secret};
use crate::blocking::off_worker;
use crate::kyc::{KycEvent, Payload, UserState};
use crate::monitor::ReaderPool;
use crate::secret_file::{self, SecretFileError, SecretSet};
use crate::signature::SigningSecret;
use crate::store::{
    NewDelivery, Outcome, Reader, RegistrationAttempt, Store, StoreError, Verdict, Writer,
};
use crate::time::now_millis;

const PROFILE_SETTING: &str = "provider_profile";
const DEMO_SETTING: &str = "demo_database";
/// The demo's simulated partner.
const DEMO_CLIENT_ID: &str = "kyc-monitor-demo";
/// Users asked per page while reconciling.
const RECONCILE_PAGE: u32 = 200;

/// Who the monitor is to the provider, without any secret: remembered after a validated
/// registration so that reconcile and re-registration need no retyping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ProviderProfile {
    /// A known environment, or `None` for custom endpoints.
    pub environment: Option<Environment>,
    pub endpoints: Endpoints,
    pub client_id: String,
    /// Where the private key is read from; the key itself is never stored.
    pub private_key_path: PathBuf,
}

impl ProviderProfile {
    pub fn load(store: &Store) -> Result<Option<ProviderProfile>, StoreError> {
        ProviderProfile::read(&store.reader()?)
    }

    /// The profile of the last validated registration, if there was one.
    pub fn read(reader: &Reader) -> Result<Option<ProviderProfile>, StoreError> {
        Ok(reader
            .setting(PROFILE_SETTING)?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub async fn save(&self, writer: &Writer) -> Result<(), StoreError> {
        let json = serde_json::to_string(self).expect("profile serialises");
        writer.set_setting(PROFILE_SETTING, &json).await
    }

    /// A client for this profile, reading the key file now.
    pub fn client(&self) -> Result<ProviderClient, ProviderError> {
        let key = PrivateKey::from_file(&self.private_key_path)?;
        ProviderClient::new(self.endpoints.clone(), &self.client_id, key)
    }
}

/// A webhook URL that is not one, with the sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a webhook URL: give its full https:// URL (the provider calls it from the internet)")]
pub struct NotAWebhookUrl(pub String);

/// The webhook URL as given, trimmed, when it is an http(s) URL.
pub fn checked_webhook_url(text: &str) -> Result<&str, NotAWebhookUrl> {
    let url = text.trim();
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") && parsed.has_host() => Ok(url),
        _ => Err(NotAWebhookUrl(url.to_owned())),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no signing secret is stored for this database yet: choose to make a new one")]
    NoStoredSecret,
}

/// What a registration came to.
#[derive(Debug)]
pub struct Registered {
    pub attempt: RegistrationAttempt,
    /// The secret made for this registration, to be shown once (CLI only).
    pub new_secret: Option<SigningSecret>,
}

/// Registers `webhook_url` with the profile's provider and keeps the attempt; once validated,
/// remembers the profile (for reconcile and the next registration). Returns the client too.
pub async fn register_profile(
    store: &Store,
    writer: &Writer,
    profile: &ProviderProfile,
    webhook_url: &str,
    signing: Signing,
    grace: Duration,
) -> Result<(Registered, ProviderClient), RegisterError> {
    // Reads and parses the key file.
    let client = off_worker({
        let profile = profile.clone();
        move || profile.client()
    })
    .await?;
    let registered = register(store, writer, &client, webhook_url, signing, grace).await?;
    if registered.attempt.validated == Some(true) {
        profile.save(writer).await?;
    }
    Ok((registered, client))
}

/// Registers `webhook_url` and keeps the attempt, whatever its result. The secret file is set
/// (or, unsigned, removed) before the provider's test request arrives, so the listener answers
/// it as it will answer deliveries, and restored if the registration does not validate. Another
/// secret than the stored one rotates: the stored one stays valid for `grace`.
pub async fn register(
    store: &Store,
    writer: &Writer,
    client: &ProviderClient,
    webhook_url: &str,
    signing: Signing,
    grace: Duration,
) -> Result<Registered, RegisterError> {
    let db = store.path().to_owned();
    let previous = off_worker({
        let db = db.clone();
        move || secret_file::load_set(&db)
    })
    .await?;
    let (secret, made) = match signing {
        Signing::Unsigned => (None, false),
        Signing::Keep => (
            Some(
                previous
                    .as_ref()
                    .map(|set| set.current.clone())
                    .ok_or(RegisterError::NoStoredSecret)?,
            ),
            false,
        ),
        Signing::New => (Some(SigningSecret::generate()), true),
        Signing::Given(secret) => (Some(secret), false),
    };
    let secrets = secret
        .clone()
        .map(|new| SecretSet::rotated(previous.as_ref(), new, now_millis(), grace));
    store_secret(&db, secrets).await?;
    let handed_over = secret.as_ref().and_then(SigningSecret::shared);
    let answer = client.register(webhook_url, handed_over).await;
    let validated = matches!(&answer, Ok(registration) if registration.validated);
    if !validated {
        store_secret(&db, previous).await?;
    }
    let attempt = RegistrationAttempt {
        id: 0,
        attempted_at: now_millis(),
        webhook_url: webhook_url.to_owned(),
        form: registration_form(handed_over).to_owned(),
        api_base: client.endpoints().api_base.clone(),
        client_id: client.client_id().to_owned(),
        validated: answer.as_ref().ok().map(|r| r.validated),
        message: match &answer {
            Ok(registration) => registration.message.clone(),
            Err(error) => error.to_string(),
        },
        http_status: answer.as_ref().ok().map(|r| r.http_status),
    };
    let id = writer.record_registration(&attempt).await?;
    answer?;
    Ok(Registered {
        attempt: RegistrationAttempt { id, ..attempt },
        new_secret: if made && validated { secret } else { None },
    })
}

/// What reconcile found.
#[derive(Debug, Default, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Users not CLOSED that the provider was asked about.
    pub asked: u64,
    /// Users whose state the provider knew better, now recorded.
    pub learned: Vec<Learned>,
    /// Users the provider does not know.
    pub unknown: u64,
    /// Why reconcile stopped early, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Learned {
    pub external_id: String,
    pub was: String,
    pub now: String,
}

fn describe(state: &UserState) -> String {
    match state.decision.as_str() {
        "" => state.status.clone(),
        decision => format!("{} {decision}", state.status),
    }
}

/// Asks the provider about every user not yet CLOSED and records, as a delivery marked as polled,
/// any state the webhooks did not bring. `progress` is told after each user.
pub async fn reconcile(
    readers: &Arc<ReaderPool>,
    writer: &Writer,
    client: &ProviderClient,
    mut progress: impl FnMut(&ReconcileReport),
) -> Result<ReconcileReport, StoreError> {
    let mut report = ReconcileReport::default();
    let mut after = String::new();
    loop {
        let from = after.clone();
        let page = readers
            .read(move |reader| reader.unclosed_users(&from, RECONCILE_PAGE))
            .await?;
        let Some(last) = page.last() else { break };
        after = last.external_id.clone();
        for user in page {
            report.asked += 1;
            let known = &user.state;
            match client.status(&user.external_id).await {
                Ok(None) => report.unknown += 1,
                Ok(Some(state)) if state == *known => {}
                Ok(Some(state)) => {
                    record_polled(writer, client, &user.external_id, &state).await?;
                    report.learned.push(Learned {
                        external_id: user.external_id.clone(),
                        was: describe(known),
                        now: describe(&state),
                    });
                }
                Err(error) => {
                    report.error = Some(error.to_string());
                    return Ok(report);
                }
            }
            progress(&report);
        }
    }
    Ok(report)
}

pub(crate) async fn record_polled(
    writer: &Writer,
    client: &ProviderClient,
    external_id: &str,
    state: &UserState,
) -> Result<(), StoreError> {
    let body =
        serde_json::to_vec(&crate::kyc::flat_json(external_id, state)).expect("JSON serialises");
    let recorded = writer
        .record(NewDelivery {
            received_at: now_millis(),
            remote_addr: client.endpoints().api_base.clone(),
            method: "GET".to_owned(),
            headers: "[]".to_owned(),
            body_size: Some(body.len() as i64),
            body: Some(body),
            verified_webhook_id: None,
            replay_of: None,
            polled: true,
            verdict: Verdict::Payload(Payload::Event(KycEvent {
                external_id: external_id.to_owned(),
                state: state.clone(),
                event_id: None,
                details: Default::default(),
            })),
        })
        .await?;
    debug_assert_ne!(recorded.outcome, Outcome::Rejected);
    Ok(())
}

/// The emulator running in-process for a demo, with the client registered against it.
pub struct Demo {
    pub emulator: Emulator,
    pub client: Arc<ProviderClient>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo emulator could not start: {0}")]
    Emulator(std::io::Error),
    #[error("the demo could not register this monitor's webhook: {0}")]
    Register(#[from] RegisterError),
    #[error("the demo emulator did not validate this monitor's webhook: {0}")]
    NotValidated(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the UI may not start a demo on a database with real users.
pub const DEMO_NEEDS_ITS_OWN_DATABASE: &str = "this database already holds real users; run `kyc-monitor serve --demo` to demo on a database of its own";

/// Whether the UI may start a demo here: the database is empty or already a demo's.
pub fn demo_allowed(reader: &Reader) -> Result<bool, StoreError> {
    let empty = reader.user_counts()?.iter().all(|count| count.users == 0);
    Ok(empty || reader.setting(DEMO_SETTING)?.is_some())
}

/// Starts the emulator in-process, registers `webhook_url` with it through the real client (so
/// the demo exercises registration too), and lets the flows run.
pub async fn start_demo(
    store: &Store,
    writer: &Arc<Writer>,
    webhook_url: &str,
    flows: FlowConfig,
) -> Result<Demo, DemoError> {
    writer.set_setting(DEMO_SETTING, "1").await?;
    let api = flows.api;
    let key = off_worker(PrivateKey::generate).await;
    let emulator = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        client_id: DEMO_CLIENT_ID.to_owned(),
        public_key: key.public_key(),
        flows,
        validation_timeout: std::time::Duration::from_secs(5),
        rate_limit: 20,
    })
    .await
    .map_err(DemoError::Emulator)?;
    // The monitor plays the partner's backend: it watches each user the newer API starts, and
    // the provider acts on the user once it is watched. Followed before the registration that
    // starts the flows, so that no user starts unwatched.
    if let Some(users) = emulator.follow_started_users() {
        tokio::spawn(watch_started(writer.clone(), users));
    }
    let endpoints = Endpoints {
        api_base: emulator.api_base().to_owned(),
        token_url: emulator.token_url().to_owned(),
    };
    let client =
        ProviderClient::new(endpoints, DEMO_CLIENT_ID, key).map_err(RegisterError::from)?;
    // Unsigned would drop a secret stored for the real provider; a kept one signs the demo too.
    // The newer API signs its envelopes: its demo makes a secret when none is kept.
    let signing = match keep_stored_signing(store.path())
        .await
        .map_err(RegisterError::from)?
    {
        Signing::Unsigned if api == ApiGeneration::Beta => Signing::New,
        signing => signing,
    };
    // Nothing rotates (a secret is kept, or made where there was none): no grace is given.
    let grace = secret_file::DEFAULT_GRACE;
    let registered = register(store, writer, &client, webhook_url, signing, grace).await?;
    if registered.attempt.validated != Some(true) {
        emulator.stop().await;
        return Err(DemoError::NotValidated(registered.attempt.message));
    }
    tracing::info!(
        emulator = emulator.api_base(),
        "demo: simulated users are on their way"
    );
    Ok(Demo {
        emulator,
        client: Arc::new(client),
    })
}

/// The database path a `--demo` run uses when none is given: its own, beside the usual one.
pub fn demo_db_beside(default_db: &Path) -> PathBuf {
    default_db.with_file_name("kyc-monitor-demo.db")
}

/// The demo's state as the UI shows it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DemoStatus {
    pub api_base: String,
    pub finished: bool,
    pub summary: super::emulator::Summary,
    /// The users the demo is done with who abandoned onboarding: they stay at `NOT_STARTED` or
    /// `OPEN`, and the board marks their cards.
    pub abandoned_users: Vec<String>,
    /// What the external ids of this run's users start with, once its flows began: the board
    /// counts the story of this run only (not an earlier run's users, nor watched ones).
    pub ids_prefix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("no provider is configured yet: register the webhook first (or start the demo)")]
    NoProvider,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The provider side of one running monitor, shared by `serve`, the UI API and the desktop app.
pub struct ProviderHub {
    store: Store,
    readers: Arc<ReaderPool>,
    writer: Arc<Writer>,
    demo: tokio::sync::Mutex<Option<Demo>>,
    /// What a demo started from the UI (or `serve --demo`) runs.
    demo_flows: FlowConfig,
    /// The client of the last validated registration in this run (it holds the key in memory).
    client: tokio::sync::Mutex<Option<Arc<ProviderClient>>>,
    /// How long a registration with another secret keeps the replaced one valid.
    rotation_grace: Duration,
    /// Told at each validated registration and each demo started (a provider to ask that there
    /// was not, or another one), so that the poller asks at once rather than at its next turn.
    provider_came: tokio::sync::watch::Sender<u64>,
}

impl ProviderHub {
    pub fn new(
        store: Store,
        readers: Arc<ReaderPool>,
        writer: Arc<Writer>,
        demo_flows: FlowConfig,
        rotation_grace: Duration,
    ) -> ProviderHub {
        ProviderHub {
            store,
            readers,
            writer,
            demo: tokio::sync::Mutex::new(None),
            demo_flows,
            client: tokio::sync::Mutex::new(None),
            rotation_grace,
            provider_came: tokio::sync::watch::Sender::new(0),
        }
    }

    /// How long a registration with a new secret keeps the replaced one valid, unless it says.
    pub fn rotation_grace(&self) -> Duration {
        self.rotation_grace
    }

    /// Changes each time a provider is registered or a demo started: a receiver marks what it
    /// has seen (`borrow_and_update`) and waits for the next (`changed`).
    pub fn provider_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.provider_came.subscribe()
    }

    /// Starts the demo on this database (the caller decided it may: see [`demo_allowed`]),
    /// registering `webhook_url` with its emulator, or tells the one running.
    pub async fn start_demo(&self, webhook_url: &str) -> Result<DemoStatus, DemoError> {
        let mut demo = self.demo.lock().await;
        if let Some(running) = demo.as_ref().filter(|d| !d.emulator.is_finished()) {
            return Ok(demo_status(running));
        }
        if let Some(old) = demo.take() {
            old.emulator.stop().await;
        }
        let flows = self.demo_flows.clone();
        let started = start_demo(&self.store, &self.writer, webhook_url, flows).await?;
        let status = demo_status(&started);
        *demo = Some(started);
        self.provider_came.send_modify(|came| *came += 1);
        Ok(status)
    }

    pub async fn demo_status(&self) -> Option<DemoStatus> {
        self.demo.lock().await.as_ref().map(demo_status)
    }

    /// Registers with the profile's provider; on validation, remembers the profile and client.
    /// A new secret keeps the replaced one valid for `grace` (default: this monitor's).
    pub async fn register(
        &self,
        profile: ProviderProfile,
        webhook_url: &str,
        signing: Signing,
        grace: Option<Duration>,
    ) -> Result<Registered, RegisterError> {
        let grace = grace.unwrap_or(self.rotation_grace);
        let (registered, client) = register_profile(
            &self.store,
            &self.writer,
            &profile,
            webhook_url,
            signing,
            grace,
        )
        .await?;
        if registered.attempt.validated == Some(true) {
            *self.client.lock().await = Some(Arc::new(client));
            self.provider_came.send_modify(|came| *came += 1);
        }
        Ok(registered)
    }

    /// Reconciles with the last registered provider (or the demo's, or the saved profile's).
    /// `progress` is told after each user.
    pub async fn reconcile(
        &self,
        progress: impl FnMut(&ReconcileReport),
    ) -> Result<ReconcileReport, ReconcileError> {
        let client = self.client().await?.ok_or(ReconcileError::NoProvider)?;
        self.reconcile_with(&client, progress).await
    }

    /// The provider to ask: the last registered in this run, the demo's, or the saved
    /// profile's (reading its key file now); `None` before any validated registration.
    pub async fn client(&self) -> Result<Option<Arc<ProviderClient>>, ReconcileError> {
        if let Some(client) = self.client.lock().await.clone() {
            return Ok(Some(client));
        }
        if let Some(demo) = self.demo.lock().await.as_ref() {
            return Ok(Some(demo.client.clone()));
        }
        let profile = self.readers.read(ProviderProfile::read).await?;
        let client = off_worker(move || profile.map(|p| p.client()).transpose()).await?;
        Ok(client.map(Arc::new))
    }

    /// Reconciles with `client`'s provider. `progress` is told after each user.
    pub async fn reconcile_with(
        &self,
        client: &ProviderClient,
        progress: impl FnMut(&ReconcileReport),
    ) -> Result<ReconcileReport, ReconcileError> {
        Ok(reconcile(&self.readers, &self.writer, client, progress).await?)
    }

    /// Registers `public_url` again when the tunnel's URL is not the one last validated, if this
    /// monitor has registered before (a saved profile). Failures are logged, never fatal.
    pub async fn follow_public_url(&self, public_url: &str) {
        let result = async {
            let (profile, last) = self
                .readers
                .read(|reader| {
                    let last = reader
                        .registrations(100)?
                        .into_iter()
                        .find(|attempt| attempt.validated == Some(true));
                    Ok::<_, StoreError>((ProviderProfile::read(reader)?, last))
                })
                .await?;
            let Some(profile) = profile else {
                return Ok(None);
            };
            if last.is_none_or(|attempt| attempt.webhook_url == public_url) {
                return Ok(None);
            }
            let signing = keep_stored_signing(self.store.path()).await?;
            self.register(profile, public_url, signing, None)
                .await
                .map(Some)
        }
        .await;
        match result {
            Ok(None) => {}
            Ok(Some(registered)) if registered.attempt.validated == Some(true) => {
                tracing::info!("the new public URL is registered with the provider");
            }
            Ok(Some(registered)) => tracing::warn!(
                "the provider did not validate the new public URL: {}",
                registered.attempt.message
            ),
            Err(error) => tracing::warn!("could not register the new public URL: {error}"),
        }
    }

    /// Stops the demo's emulator, if one runs.
    pub async fn stop(&self) {
        if let Some(demo) = self.demo.lock().await.take() {
            demo.emulator.stop().await;
        }
    }
}

/// Watches each user the beta emulator starts, as the partner's backend would; ends with the
/// emulator (its sender dropped) or the writer.
async fn watch_started(writer: Arc<Writer>, mut users: UnboundedReceiver<StartedUser>) {
    while let Some(user) = users.recv().await {
        let external_id = user.external_id.clone();
        if let Err(error) = super::watch::watch(&writer, &[external_id]).await {
            tracing::warn!("demo: could not watch a started user: {error}");
            return;
        }
        user.known();
    }
}

fn demo_status(demo: &Demo) -> DemoStatus {
    DemoStatus {
        api_base: demo.emulator.api_base().to_owned(),
        finished: demo.emulator.is_finished(),
        summary: demo.emulator.summary(),
        abandoned_users: demo.emulator.abandoned_users(),
        ids_prefix: demo.emulator.ids_prefix(),
    }
}
