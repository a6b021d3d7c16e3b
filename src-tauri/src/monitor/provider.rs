//! The provider side as the UI uses it: the Register view, reconcile, users to watch, the demo.

use std::path::PathBuf;
use std::time::Duration;

use super::work::{WorkKind, WorkSlot};
use super::{
    CoreError, EnvironmentView, Monitor, ProviderOverview, RegisterAnswer, RegisterForm,
    SigningChoice,
};
use crate::provider::actions::{
    self, DemoError, DemoStatus, ProviderProfile, ReconcileError, ReconcileReport, RegisterError,
    Signing,
};
use crate::provider::watch::{self, WatchAnswer};
use crate::provider::{Endpoints, Environment, ProviderError};
use crate::secret_file;

/// The longest rotation grace a registration may ask for: a year, as `--rotation-grace`.
const MAX_GRACE_SECONDS: u64 = 365 * 86_400;

/// Registration attempts the Register view lists.
const HISTORY: u32 = 20;

const SECRET_FILE_UNAVAILABLE: &str =
    "the signing secret file beside the database could not be read or written; the monitor's log says why";

impl Monitor {
    pub async fn provider_overview(&self) -> Result<ProviderOverview, CoreError> {
        let db = self.store.path().to_owned();
        let (registrations, profile, demo_allowed, stored) = self
            .read(move |reader| {
                Ok((
                    reader.registrations(HISTORY)?,
                    ProviderProfile::read(reader)?,
                    actions::demo_allowed(reader)?,
                    secret_file::load_set(&db),
                ))
            })
            .await?;
        // A secret file that cannot be read counts as stored: the listener refuses unsigned
        // deliveries while it is there.
        let signing_secret_stored = stored.as_ref().map_or(true, Option::is_some);
        let now = crate::time::now_millis();
        let signing_secrets = match (&self.fixed_secrets, &stored) {
            (Some(given), _) => given.views(now, true),
            (None, Ok(Some(stored))) => stored.views(now, false),
            (None, _) => Vec::new(),
        };
        let demo = self.hub.demo_status().await;
        Ok(ProviderOverview {
            webhook_url: self.webhook_url.clone(),
            public_url: self.tunnel.borrow().public_url().map(str::to_owned),
            environments: Environment::ALL
                .into_iter()
                .map(|id| EnvironmentView {
                    id,
                    endpoints: id.endpoints(),
                })
                .collect(),
            profile,
            signing_secret_stored,
            signing_secrets,
            signing_secrets_given: self.fixed_secrets.is_some(),
            rotation_grace_seconds: self.hub.rotation_grace().as_secs(),
            registrations,
            demo,
            demo_allowed,
        })
    }

    /// The provider profile of the last validated registration, if there was one.
    pub async fn saved_profile(&self) -> Result<Option<ProviderProfile>, CoreError> {
        self.read(|reader| Ok(ProviderProfile::read(reader)?)).await
    }

    /// Registers the webhook as the Register view's form says.
    pub async fn register(&self, form: RegisterForm) -> Result<RegisterAnswer, CoreError> {
        let endpoints = match form.environment {
            Some(environment) => environment.endpoints(),
            None => Endpoints::custom(form.api_base.trim(), form.token_url.trim())
                .map_err(|e| CoreError::Invalid(e.to_string()))?,
        };
        if form.private_key_path.trim().is_empty() {
            return Err(CoreError::Invalid(
                "choose the private key file (PEM) whose public half the provider holds".into(),
            ));
        }
        let webhook_url = actions::checked_webhook_url(&form.webhook_url)
            .map_err(|error| CoreError::Invalid(error.to_string()))?
            .to_owned();
        let signing = match (&form.signing_secret, form.signing) {
            (Some(text), _) => Signing::Given(
                text.trim()
                    .parse()
                    .map_err(|e| CoreError::Invalid(format!("the signing secret: {e}")))?,
            ),
            (None, SigningChoice::None) => Signing::Unsigned,
            (None, SigningChoice::Keep) => Signing::Keep,
            (None, SigningChoice::New) => Signing::New,
        };
        let profile = ProviderProfile {
            environment: form.environment,
            endpoints,
            client_id: form.client_id.trim().to_owned(),
            private_key_path: PathBuf::from(form.private_key_path.trim()),
        };
        let grace = match form.rotation_grace_seconds {
            Some(seconds) if seconds > MAX_GRACE_SECONDS => {
                return Err(CoreError::Invalid(format!(
                    "rotationGraceSeconds {seconds} is more than a year ({MAX_GRACE_SECONDS})"
                )))
            }
            seconds => seconds.map(Duration::from_secs),
        };
        let registered = self
            .hub
            .register(profile, &webhook_url, signing, grace)
            .await
            .map_err(register_error)?;
        Ok(RegisterAnswer {
            // The secret itself never reaches the UI; it went to the provider and the secret file.
            new_secret_stored: registered.new_secret.is_some(),
            attempt: registered.attempt,
        })
    }

    /// Asks the provider about every user not CLOSED.
    pub async fn reconcile(&self) -> Result<ReconcileReport, CoreError> {
        self.reconcile_as(None).await
    }

    /// [`Monitor::reconcile`] with the provider `profile` names (the CLI's options), or, without
    /// one, the provider last registered with.
    pub async fn reconcile_as(
        &self,
        profile: Option<ProviderProfile>,
    ) -> Result<ReconcileReport, CoreError> {
        let client = match profile {
            Some(profile) => Some(
                crate::blocking::off_worker(move || profile.client())
                    .await
                    .map_err(|error| register_error(error.into()))?,
            ),
            None => None,
        };
        let total = self
            .read(|reader| Ok(reader.unclosed_user_total()?))
            .await?;
        let slot = WorkSlot::claim(&self.work, WorkKind::Reconcile, "users", Some(total))?;
        let progress = |report: &ReconcileReport| slot.progress(report.asked, None);
        let answer = match &client {
            Some(client) => self.hub.reconcile_with(client, progress).await,
            None => self.hub.reconcile(progress).await,
        };
        let answer = answer.map_err(|error| match error {
            ReconcileError::NoProvider => CoreError::Conflict(error.to_string()),
            ReconcileError::Store(error) => error.into(),
            ReconcileError::Provider(error) => CoreError::Provider(error.to_string()),
        });
        slot.finish(match &answer {
            Ok(report) => match &report.error {
                Some(error) => Err(format!(
                    "stopped after {}: {error}",
                    super::poll::users(report.asked)
                )),
                None => Ok(format!(
                    "{} asked, {} learned, {} unknown to the provider",
                    super::poll::users(report.asked),
                    report.learned.len(),
                    report.unknown
                )),
            },
            Err(error) => Err(error.to_string()),
        });
        answer
    }

    /// Watches the users `external_ids` names (see [`crate::provider::watch`]): each unknown one
    /// is on the board at once, at `NOT_STARTED`; a known one is left as it is.
    pub async fn watch(&self, external_ids: Vec<String>) -> Result<WatchAnswer, CoreError> {
        if let Some((n, problem)) = external_ids
            .iter()
            .enumerate()
            .find_map(|(n, id)| watch::id_problem(id).map(|problem| (n, problem)))
        {
            return Err(CoreError::Invalid(format!(
                "externalIds[{n}]: {problem}; give each user's id as the provider knows it"
            )));
        }
        Ok(watch::watch(&self.writer, &external_ids).await?)
    }

    /// Starts the demo, on an empty database (or one that is already a demo's) only.
    pub async fn start_demo(&self) -> Result<DemoStatus, CoreError> {
        // A running demo's database is a demo's: it is reported, not started twice.
        if !self
            .read(|reader| Ok(actions::demo_allowed(reader)?))
            .await?
        {
            return Err(CoreError::Conflict(
                actions::DEMO_NEEDS_ITS_OWN_DATABASE.to_owned(),
            ));
        }
        self.hub
            .start_demo(&self.webhook_url)
            .await
            .map_err(|error| match error {
                DemoError::Store(error) => error.into(),
                DemoError::Register(inner) => match register_error(inner) {
                    CoreError::Provider(reason) | CoreError::Invalid(reason) => {
                        CoreError::Provider(format!(
                            "the demo could not register this monitor's webhook: {reason}"
                        ))
                    }
                    other => other,
                },
                DemoError::Emulator(error) => CoreError::internal(
                    "the demo emulator could not start; the monitor's log says why",
                    &error,
                ),
                other => CoreError::Provider(other.to_string()),
            })
    }
}

fn register_error(error: RegisterError) -> CoreError {
    match error {
        RegisterError::Store(error) => error.into(),
        RegisterError::SecretFile(error) => CoreError::internal(SECRET_FILE_UNAVAILABLE, &error),
        RegisterError::NoStoredSecret => CoreError::Invalid(error.to_string()),
        RegisterError::Provider(ProviderError::Key(_) | ProviderError::Config(_)) => {
            CoreError::Invalid(error.to_string())
        }
        RegisterError::Provider(error) => CoreError::Provider(error.to_string()),
    }
}
