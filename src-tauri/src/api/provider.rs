//! The UI API's provider routes: the Register view, reconcile and the demo.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, Ui};
use crate::provider::actions::{
    demo_allowed, DemoError, ProviderProfile, ReconcileError, RegisterError, Signing,
};
use crate::provider::{Endpoints, Environment, FlowConfig};
use crate::secret_file;

const HISTORY: u32 = 20;

pub(super) async fn overview(State(ui): State<Arc<Ui>>) -> Result<Json<Value>, ApiError> {
    let store = ui.hub.store();
    let registrations = ui.read(|reader| Ok(reader.registrations(HISTORY)?)).await?;
    let environments: Vec<Value> = [Environment::Dev, Environment::Preprod, Environment::Prod]
        .into_iter()
        .map(|env| json!({"id": env, "endpoints": env.endpoints()}))
        .collect();
    let signing_secret_stored = secret_file::load(store.path())
        .map(|secret| secret.is_some())
        .unwrap_or(true);
    Ok(Json(json!({
        "webhookUrl": ui.config.webhook_url,
        "publicUrl": ui.config.tunnel.1.borrow().public_url(),
        "environments": environments,
        "profile": ProviderProfile::load(store)?,
        "signingSecretStored": signing_secret_stored,
        "registrations": registrations,
        "demo": ui.hub.demo_status().await,
        "demoAllowed": demo_allowed(store)?,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterForm {
    environment: Option<Environment>,
    #[serde(default)]
    api_base: String,
    #[serde(default)]
    token_url: String,
    client_id: String,
    private_key_path: String,
    webhook_url: String,
    /// `none`, `keep` or `new`.
    signing: String,
}

pub(super) async fn register(
    State(ui): State<Arc<Ui>>,
    Json(form): Json<RegisterForm>,
) -> Result<Json<Value>, ApiError> {
    let endpoints = match form.environment {
        Some(env) => env.endpoints(),
        None => Endpoints::custom(form.api_base.trim(), form.token_url.trim())
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    if form.private_key_path.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "choose the private key file (PEM) whose public half the provider holds".into(),
        ));
    }
    let webhook_url = form.webhook_url.trim();
    if !(webhook_url.starts_with("https://") || webhook_url.starts_with("http://")) {
        return Err(ApiError::BadRequest(
            "the webhook URL must start with https:// (the provider calls it from the internet)"
                .into(),
        ));
    }
    let signing = match form.signing.as_str() {
        "none" => Signing::Unsigned,
        "keep" => Signing::Keep,
        "new" => Signing::New,
        other => {
            return Err(ApiError::BadRequest(format!(
                "signing must be none, keep or new, not {other:?}"
            )))
        }
    };
    let profile = ProviderProfile {
        environment: form.environment,
        endpoints,
        client_id: form.client_id.trim().to_owned(),
        private_key_path: PathBuf::from(form.private_key_path.trim()),
    };
    match ui.hub.register(profile, webhook_url, signing).await {
        Ok(registered) => Ok(Json(json!({
            "attempt": registered.attempt,
            // The secret itself never reaches the UI; it went to the provider and the secret file.
            "newSecretStored": registered.new_secret.is_some(),
        }))),
        Err(RegisterError::Store(error)) => Err(error.into()),
        Err(RegisterError::NoStoredSecret) => Err(ApiError::BadRequest(
            RegisterError::NoStoredSecret.to_string(),
        )),
        Err(error @ RegisterError::Provider(crate::provider::ProviderError::Key(_)))
        | Err(error @ RegisterError::Provider(crate::provider::ProviderError::Config(_))) => {
            Err(ApiError::BadRequest(error.to_string()))
        }
        Err(error) => Err(ApiError::Provider(error.to_string())),
    }
}

pub(super) async fn reconcile(State(ui): State<Arc<Ui>>) -> Result<Json<Value>, ApiError> {
    match ui.hub.reconcile().await {
        Ok(report) => Ok(Json(json!(report))),
        Err(ReconcileError::NoProvider) => {
            Err(ApiError::Conflict(ReconcileError::NoProvider.to_string()))
        }
        Err(ReconcileError::Store(error)) => Err(error.into()),
        Err(error) => Err(ApiError::Provider(error.to_string())),
    }
}

pub(super) async fn start_demo(State(ui): State<Arc<Ui>>) -> Result<Json<Value>, ApiError> {
    match ui.hub.start_demo(FlowConfig::default(), true).await {
        Ok(status) => Ok(Json(json!(status))),
        Err(DemoError::RealUsers) => Err(ApiError::Conflict(DemoError::RealUsers.to_string())),
        Err(DemoError::Store(error)) => Err(error.into()),
        Err(error) => Err(ApiError::Provider(error.to_string())),
    }
}
