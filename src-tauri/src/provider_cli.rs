//! `register`, `reconcile` and `emulate`: the provider side on the command line. Register and
//! reconcile run through a `Monitor` (`Monitor::open`), or ask the one that holds the database.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kyc_monitor::monitor::{
    Monitor, MonitorConfig, OpenError, RegisterForm, SigningChoice, WorkKind,
};
use kyc_monitor::provider::actions::{self, ProviderProfile, Signing};
use kyc_monitor::provider::{
    ApiGeneration, DeliverySigning, Emulator, EmulatorConfig, Endpoints, Environment, FlowConfig,
    PayloadForm, PrivateKey, PublicKey, SignatureHeaderNames,
};
use kyc_monitor::secret_file;
use kyc_monitor::signature::{Ed25519PrivateKey, Signer, SigningSecret};
use kyc_monitor::store::{Store, StoreError};

use crate::ask_monitor::{Registered, RunningMonitor};
use crate::progress::{Progress, Unit};
use crate::{parse_addr, UsageError};

/// Who to call and as whom. Anything not given comes from the last validated registration.
#[derive(Args)]
pub struct ProviderArgs {
    /// The provider's environment (known auth domain and API base).
    #[arg(long, value_enum, conflicts_with_all = ["api_base", "token_url"])]
    env: Option<Environment>,
    /// A custom API base (also the token's audience), such as an emulator's; needs --token-url.
    #[arg(long, value_name = "URL", requires = "token_url")]
    api_base: Option<String>,
    /// A custom token endpoint (also the assertion's aud); needs --api-base.
    #[arg(long, value_name = "URL", requires = "api_base")]
    token_url: Option<String>,
    /// The client id the provider issued.
    #[arg(long, env = "KYC_MONITOR_CLIENT_ID", value_name = "ID")]
    client_id: Option<String>,
    /// The partner's RSA private key (PEM) whose public half the provider holds.
    #[arg(long, env = "KYC_MONITOR_PRIVATE_KEY", value_name = "PEM_PATH")]
    private_key: Option<PathBuf>,
}

impl ProviderArgs {
    /// Whether any option names the provider (otherwise the saved profile does).
    fn names_a_provider(&self) -> bool {
        self.env.is_some()
            || self.api_base.is_some()
            || self.client_id.is_some()
            || self.private_key.is_some()
    }

    fn profile(self, saved: Option<ProviderProfile>) -> anyhow::Result<ProviderProfile> {
        let (environment, endpoints) = match (self.env, self.api_base, self.token_url) {
            (Some(env), _, _) => (Some(env), env.endpoints()),
            (None, Some(api_base), Some(token_url)) => (
                None,
                Endpoints::custom(&api_base, &token_url).map_err(|e| UsageError(e.to_string()))?,
            ),
            _ => match &saved {
                Some(saved) => (saved.environment, saved.endpoints.clone()),
                None => {
                    return Err(UsageError(
                        "say which provider to call: --env dev|preprod|prod, or --api-base URL --token-url URL".into(),
                    )
                    .into())
                }
            },
        };
        let client_id = self
            .client_id
            .or_else(|| saved.as_ref().map(|s| s.client_id.clone()))
            .ok_or_else(|| {
                UsageError(
                    "give the client id the provider issued: --client-id or KYC_MONITOR_CLIENT_ID"
                        .into(),
                )
            })?;
        let private_key_path = self
            .private_key
            .or_else(|| saved.as_ref().map(|s| s.private_key_path.clone()))
            .ok_or_else(|| {
                UsageError(
                    "give the private key file: --private-key PEM_PATH or KYC_MONITOR_PRIVATE_KEY"
                        .into(),
                )
            })?;
        Ok(ProviderProfile {
            environment,
            endpoints,
            client_id,
            private_key_path,
        })
    }
}

#[derive(Args)]
pub struct RegisterArgs {
    /// The URL the provider must call: the public (tunnel) URL of this monitor's webhook.
    webhook_url: String,
    #[command(flatten)]
    provider: ProviderArgs,
    /// Registers with this Standard Webhooks secret (whsec_..., the newer body) and keeps it
    /// for serve. A whpk_ Ed25519 public key registers the documented body and is kept for serve,
    /// which then requires v1a signatures made with the provider's private key.
    #[arg(long, value_name = "SECRET", conflicts_with_all = ["new_signing_secret", "unsigned"])]
    signing_secret: Option<String>,
    /// Makes a new whsec_ secret, registers with it, keeps it for serve and prints it once.
    #[arg(long, conflicts_with = "unsigned")]
    new_signing_secret: bool,
    /// Registers the documented unsigned body; once validated, the stored secret is removed and
    /// serve stops requiring signatures. [default without any of these: the stored secret is
    /// kept and sent again; unsigned when none is stored]
    #[arg(long)]
    unsigned: bool,
    /// How long the stored secret stays valid once another replaces it: a duration such as
    /// 24h or 2s, or 0 for none [default: the running monitor's --rotation-grace, else 24h]
    #[arg(long, value_name = "DURATION", value_parser = kyc_monitor::config::rotation_grace)]
    rotation_grace: Option<Duration>,
}

/// Where `register`, `reconcile` and `watch` run: a monitor of their own, or the one running.
pub(crate) enum Through {
    Own(Arc<Monitor>),
    Running(RunningMonitor),
}

impl Through {
    /// Opens a monitor on `db` for `command`; when one already holds it, finds that one's UI.
    pub(crate) async fn open(db: &Path, command: &str) -> anyhow::Result<Through> {
        match Monitor::open(MonitorConfig::for_command(db.to_owned())).await {
            Ok((monitor, _)) => Ok(Through::Own(monitor)),
            Err(OpenError::Store(StoreError::InUse { pid, .. })) => {
                let (db, command) = (db.to_owned(), command.to_owned());
                let running =
                    tokio::task::spawn_blocking(move || RunningMonitor::find(&db, &pid, &command))
                        .await??;
                Ok(Through::Running(running))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The saved provider profile: through the own monitor, or read-only beside a running one.
    async fn saved_profile(&self, db: &Path) -> anyhow::Result<Option<ProviderProfile>> {
        match self {
            Through::Own(monitor) => Ok(monitor.saved_profile().await?),
            Through::Running(_) => {
                let db = db.to_owned();
                tokio::task::spawn_blocking(move || {
                    Ok(ProviderProfile::load(&Store::open_existing(&db)?)?)
                })
                .await?
            }
        }
    }

    /// Lets go of the own monitor (its writer finishes, its claim is released).
    pub(crate) async fn close(&self) {
        if let Through::Own(monitor) = self {
            monitor.close().await;
        }
    }
}

pub fn register(db: PathBuf, args: RegisterArgs) -> anyhow::Result<()> {
    // A secret the partner chose travels as text; it is checked here first (a usage error).
    let chosen = match (args.signing_secret, args.new_signing_secret, args.unsigned) {
        (Some(text), _, _) => {
            text.parse::<SigningSecret>()
                .map_err(|e| UsageError(format!("--signing-secret: {e}")))?;
            Some((SigningChoice::Keep, Some(text)))
        }
        (None, true, _) => Some((SigningChoice::New, None)),
        (None, false, true) => Some((SigningChoice::None, None)),
        (None, false, false) => None,
    };
    let url = actions::checked_webhook_url(&args.webhook_url)
        .map_err(|e| UsageError(e.to_string()))?
        .to_owned();
    let provider = args.provider;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (registered, signing, given, had_secret, replaced) = runtime.block_on(async {
        let through = Through::open(&db, "register").await?;
        let answer = async {
            let had_secret = secret_file::path_for(&db).exists();
            let replaced = secret_file::load(&db).ok().flatten();
            let (signing, given) = match chosen {
                Some(chosen) => chosen,
                None => match Signing::keep_stored(&db)? {
                    Signing::Keep => (SigningChoice::Keep, None),
                    _ => (SigningChoice::None, None),
                },
            };
            let profile = provider.profile(through.saved_profile(&db).await?)?;
            let form = RegisterForm {
                environment: profile.environment,
                api_base: profile.endpoints.api_base.clone(),
                token_url: profile.endpoints.token_url.clone(),
                client_id: profile.client_id.clone(),
                private_key_path: profile.private_key_path.to_string_lossy().into_owned(),
                webhook_url: url,
                signing,
                signing_secret: given.clone(),
                rotation_grace_seconds: args.rotation_grace.map(|grace| grace.as_secs()),
            };
            let registered = match &through {
                Through::Own(monitor) => {
                    let answer = monitor.register(form).await?;
                    Registered {
                        validated: answer.attempt.validated == Some(true),
                        message: answer.attempt.message,
                        new_secret_stored: answer.new_secret_stored,
                    }
                }
                Through::Running(running) => running.register(&form).await?,
            };
            anyhow::Ok((registered, signing, given.is_some(), had_secret, replaced))
        }
        .await;
        through.close().await;
        answer
    })?;
    let validated = registered.validated;
    let mut out = std::io::stdout().lock();
    writeln!(out, "validated: {validated}")?;
    writeln!(out, "message: {}", registered.message)?;
    if registered.new_secret_stored {
        // Shown once: read back from the file the registration kept it in.
        if let Some(secret) = secret_file::load(&db)? {
            writeln!(out, "signing-secret: {}", secret.expose())?;
        }
        eprintln!(
            "kyc-monitor: the signing secret is kept in {} for serve; it is not shown again",
            secret_file::path_for(&db).display()
        );
    } else if validated && !given {
        match signing {
            SigningChoice::Keep => eprintln!(
                "kyc-monitor: registered with the signing secret kept in {}",
                secret_file::path_for(&db).display()
            ),
            SigningChoice::None if had_secret => eprintln!(
                "kyc-monitor: the stored signing secret is removed: serve accepts unsigned deliveries for this database"
            ),
            _ => {}
        }
    }
    if validated {
        tell_rotation(&db, replaced.as_ref());
    }
    out.flush()?;
    if validated {
        Ok(())
    } else {
        Err(crate::Silent.into())
    }
}

/// Says until when the secret a registration replaced stays valid (never the secret).
fn tell_rotation(db: &Path, replaced: Option<&SigningSecret>) {
    let (Some(replaced), Ok(Some(stored))) = (replaced, secret_file::load_set(db)) else {
        return;
    };
    let kept = stored.previous.iter().find(|p| &p.secret == replaced);
    match kept {
        Some(kept) if stored.current != *replaced => eprintln!(
            "kyc-monitor: the replaced signing secret (fingerprint {}) stays valid until {}",
            replaced.fingerprint(),
            kyc_monitor::time::rfc3339_millis(kept.valid_until)
        ),
        _ => {}
    }
}

pub fn reconcile(db: PathBuf, provider: ProviderArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let through = Through::open(&db, "reconcile").await?;
        let report = async {
            let saved = through.saved_profile(&db).await?;
            match &through {
                Through::Own(monitor) => {
                    let profile = provider.profile(saved)?;
                    let mut progress = Progress::start("reconcile", Unit::Items("users"), None);
                    let mut work = monitor.follow_work();
                    let reconciled = monitor.reconcile_as(Some(profile));
                    tokio::pin!(reconciled);
                    let report = loop {
                        tokio::select! {
                            report = &mut reconciled => break report,
                            Ok(()) = work.changed() => {
                                let board = work.borrow_and_update().clone();
                                if let Some(view) = board.get(&WorkKind::Reconcile) {
                                    // Users that arrive meanwhile are asked about too.
                                    if let Some(total) = view.total {
                                        progress.set_total(total.max(view.done));
                                    }
                                    progress.set(view.done);
                                }
                            }
                        }
                    };
                    progress.finish();
                    Ok(serde_json::to_value(report?)?)
                }
                Through::Running(running) => {
                    // The running monitor asks the provider it registered with.
                    if provider.names_a_provider() && saved != Some(provider.profile(saved.clone())?) {
                        return Err(anyhow::anyhow!(
                            "a KYC Monitor is running on {} and reconciles with the provider it last registered with: leave out the provider options, or stop it first",
                            db.display()
                        ));
                    }
                    running.reconcile().await
                }
            }
        }
        .await;
        through.close().await;
        report
    })?;
    let mut out = std::io::stdout().lock();
    let learned = report["learned"].as_array().cloned().unwrap_or_default();
    for learned in &learned {
        writeln!(
            out,
            "learned: {}  {} -> {}",
            learned["externalId"].as_str().unwrap_or_default(),
            learned["was"].as_str().unwrap_or_default(),
            learned["now"].as_str().unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "reconciled: asked={} learned={} unknown={}",
        report["asked"],
        learned.len(),
        report["unknown"]
    )?;
    out.flush()?;
    match report["error"].as_str() {
        Some(error) => Err(anyhow::anyhow!("reconcile stopped early: {error}")),
        None => Ok(()),
    }
}

#[derive(Args)]
pub struct EmulateArgs {
    /// Where the emulated API listens; port 0 takes any free port.
    #[arg(long, default_value = "127.0.0.1:8790", value_name = "ADDR:PORT", value_parser = parse_addr)]
    listen: SocketAddr,
    /// The client id assertions must carry.
    #[arg(long, default_value = "emulator-client", value_name = "ID")]
    client_id: String,
    /// The partner's public key (PEM). Without it, a key pair is made and the private half
    /// written to --write-private-key.
    #[arg(long, value_name = "PEM_PATH")]
    public_key: Option<PathBuf>,
    /// Where a made private key is written [default: a file in the temporary folder]
    #[arg(long, value_name = "PEM_PATH", conflicts_with = "public_key")]
    write_private_key: Option<PathBuf>,
    /// Delivers to this URL straight away, without waiting for a registration.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// Signs deliveries to --webhook-url with this secret: whsec_... (v1 entries, HMAC), or a
    /// whsk_... Ed25519 private key (as --signing-key).
    #[arg(long, value_name = "SECRET", requires = "webhook_url")]
    signing_secret: Option<String>,
    /// Signs every delivery, the validation request included, with this Ed25519 private key
    /// (whsk_..., v1a entries), as a provider with asymmetric signing; also after a registration
    /// with a whsec_ secret (then both entries are sent). Prints the public key as
    /// `signing-public-key: whpk_...`, for serve --signing-secret.
    #[arg(long, value_name = "KEY", conflicts_with = "new_signing_key")]
    signing_key: Option<String>,
    /// Like --signing-key, with a key pair made now.
    #[arg(long)]
    new_signing_key: bool,
    /// The header names signatures travel in: webhook-id/-timestamp/-signature (Standard
    /// Webhooks) or svix-id/-timestamp/-signature (as senders built on the Svix libraries).
    #[arg(long, value_enum, default_value = "webhook", value_name = "NAMES")]
    signature_headers: SignatureHeaderNames,
    /// Simulated users.
    #[arg(long, default_value_t = 20)]
    users: u32,
    /// Divides every simulated delay (1: a watchable demo; 100: a quick test).
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    speed: f64,
    /// Share of users rejected.
    #[arg(long, default_value_t = 0.2, value_parser = parse_rate)]
    reject_rate: f64,
    /// Share of users left ON_HOLD for review, never decided.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    hold_rate: f64,
    /// Share of users who stop at NOT_STARTED or OPEN and never finish; the users not
    /// rejected, held or abandoned are approved.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    abandon_rate: f64,
    /// Share of the users who finish that are put ON_HOLD for documents on the way.
    #[arg(long, default_value_t = 0.3, value_parser = parse_rate)]
    review_rate: f64,
    /// Seeds the simulation: the same seed gives the same ids, outcomes and delays.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The payload form deliveries use (the documented API; the beta API sends envelopes).
    #[arg(long, value_enum, default_value = "flat")]
    form: PayloadForm,
    /// Which provider API to behave as: `documented` (every status change delivered) or `beta`
    /// (only final outcomes, as signed envelopes with the newer fields; the states between
    /// answered by /v1/kyc/status; each user's id printed as `started: ID` when it starts).
    #[arg(long, value_enum, default_value = "documented", value_name = "API")]
    api: ApiGeneration,
    /// Share of deliveries sent twice (same id).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    duplicates: f64,
    /// Share of steps delivered after the step that follows them.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    reorder: f64,
    /// Share of steps never delivered (reconcile finds them).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    drop: f64,
    /// Attempts per delivery before giving up.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// The first retry's wait in milliseconds (doubling, with jitter, up to 30 s).
    #[arg(long, default_value_t = 500)]
    retry_base_ms: u64,
    /// How long an attempt (and the validation request) waits for an answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Requests per second allowed per client address (the provider allows about 20).
    #[arg(long, default_value_t = 20)]
    rate_limit: u32,
    /// Exits once every flow is delivered (exit 1 if some delivery was given up).
    #[arg(long)]
    exit_when_done: bool,
}

/// The flows, once their outcome shares (rejected, held, abandoned) add up to at most 1.
pub fn outcome_shares_checked(flows: FlowConfig, flags: &str) -> Result<FlowConfig, UsageError> {
    let taken = flows.reject_rate + flows.hold_rate + flows.abandon_rate;
    if taken > 1.0 + 1e-9 {
        return Err(UsageError(format!(
            "{flags} add up to {taken}: they are shares of all users, so at most 1 together (the rest are approved)"
        )));
    }
    Ok(flows)
}

pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a share between 0 and 1, such as 0.25"
        )),
    }
}

pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed > 0.0 && speed.is_finite() => Ok(speed),
        _ => Err(format!(
            "{text:?} is not a positive number, such as 1 or 50"
        )),
    }
}

pub fn emulate(args: EmulateArgs) -> anyhow::Result<()> {
    let (signing_secret, mut signing_key) = match args.signing_secret.as_deref() {
        None => (None, None),
        Some(text) => match text
            .parse::<Signer>()
            .map_err(|e| UsageError(format!("--signing-secret: {e}")))?
        {
            Signer::Shared(secret) => (Some(secret), None),
            Signer::Ed25519(key) => (None, Some(key)),
        },
    };
    let other_key = match (args.signing_key.as_deref(), args.new_signing_key) {
        (Some(text), _) => Some(
            text.parse::<Ed25519PrivateKey>()
                .map_err(|e| UsageError(format!("--signing-key: {e}")))?,
        ),
        (None, true) => Some(Ed25519PrivateKey::generate()),
        (None, false) => None,
    };
    if other_key.is_some() {
        if signing_key.is_some() {
            return Err(UsageError(
                "--signing-secret already gives a whsk_ key: leave out --signing-key and --new-signing-key".into(),
            )
            .into());
        }
        signing_key = other_key;
    }
    let (public_key, written_key) = match &args.public_key {
        Some(path) => (PublicKey::from_file(path)?, None),
        None => {
            let key = PrivateKey::generate();
            (key.public_key(), Some(key))
        }
    };
    let flows = FlowConfig {
        users: args.users,
        speed: args.speed,
        reject_rate: args.reject_rate,
        hold_rate: args.hold_rate,
        abandon_rate: args.abandon_rate,
        review_rate: args.review_rate,
        seed: args.seed,
        form: args.form,
        api: args.api,
        duplicate_rate: args.duplicates,
        reorder_rate: args.reorder,
        drop_rate: args.drop,
        max_attempts: args.max_attempts.max(1),
        retry_base: Duration::from_millis(args.retry_base_ms),
        delivery_timeout: Duration::from_millis(args.timeout_ms),
        refused_ids: Vec::new(),
    };
    let flows = outcome_shares_checked(flows, "--reject-rate, --hold-rate and --abandon-rate")?;
    let config = EmulatorConfig {
        listen: args.listen,
        client_id: args.client_id.clone(),
        public_key,
        flows,
        validation_timeout: Duration::from_millis(args.timeout_ms),
        rate_limit: args.rate_limit.max(1),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let emulator = Emulator::start(config)
            .await
            .with_context(|| format!("cannot listen on {}; choose another with --listen", args.listen))?;
        let stop = kyc_monitor::serve::stop_signal().context("cannot listen for Ctrl-C and SIGTERM")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "api-base: {}", emulator.api_base())?;
        writeln!(out, "token-url: {}", emulator.token_url())?;
        writeln!(out, "client-id: {}", args.client_id)?;
        if let Some(key) = &signing_key {
            writeln!(out, "signing-public-key: {}", key.public_key().expose())?;
        }
        emulator.sign_with(DeliverySigning {
            headers: args.signature_headers,
            key: signing_key,
        });
        if let Some(key) = written_key {
            let path = args.write_private_key.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("kyc-monitor-emulator-{}.pem", emulator.addr().port()))
            });
            kyc_monitor::private_file::replace(&path, key.expose_pem().as_bytes())
                .with_context(|| format!("cannot write the private key to {}", path.display()))?;
            writeln!(out, "private-key: {}", path.display())?;
        }
        if let Some(url) = &args.webhook_url {
            emulator.deliver_to(url, signing_secret);
        }
        out.flush()?;
        drop(out);
        if let Some(mut started) = emulator.follow_started_users() {
            // The newer API names a user only once final: a partner's backend knows them from
            // the start, and a script plays that backend with these lines.
            tokio::spawn(async move {
                while let Some(user) = started.recv().await {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "started: {}", user.external_id).and_then(|()| out.flush());
                    drop(out);
                    user.known();
                }
            });
        }
        tracing::info!("emulator ready: register a webhook URL with it (kyc-monitor register ... --api-base ... --token-url ...)");
        tokio::pin!(stop);
        let finished = tokio::select! {
            summary = emulator.finished() => Some(summary),
            () = &mut stop => None,
        };
        if let Some(summary) = &finished {
            println!("summary: {summary}");
            if !args.exit_when_done {
                tokio::select! {
                    () = &mut stop => {},
                }
            }
        } else if emulator.target_url().is_some() {
            println!("summary: {}", emulator.summary());
        }
        let failed = emulator.summary().failed;
        emulator.stop().await;
        if args.exit_when_done && failed > 0 {
            return Err(anyhow::anyhow!("{failed} deliveries were given up after {} attempts", args.max_attempts));
        }
        Ok(())
    })
}
