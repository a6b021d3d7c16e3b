//! `register` and `reconcile`: the provider side on the command line. Both run through a
//! `Monitor` (`Monitor::open`), or ask the one that holds the database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kyc_monitor::monitor::{
    Monitor, MonitorConfig, OpenError, RegisterForm, SigningChoice, WorkKind,
};
use kyc_monitor::provider::actions::{self, ProviderProfile, Signing};
use kyc_monitor::provider::{Endpoints, Environment};
use kyc_monitor::secret_file;
use kyc_monitor::signature::SigningSecret;
use kyc_monitor::store::{Store, StoreError};

use crate::ask_monitor::{Reconciled, Registered, RunningMonitor};
use crate::progress::{Progress, Unit};
use crate::UsageError;

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
                    Ok(Reconciled::Report(serde_json::to_value(report?)?))
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
    let report = match report {
        Reconciled::Report(report) => report,
        // Past the running monitor's deadline: how it ended, as the strip says it (the users
        // learned are not listed; lookup and export have them).
        Reconciled::Followed { message, failed } => {
            return match failed {
                false => {
                    println!("reconciled: {message}");
                    Ok(())
                }
                true => Err(anyhow::anyhow!("reconcile stopped early: {message}")),
            };
        }
    };
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
