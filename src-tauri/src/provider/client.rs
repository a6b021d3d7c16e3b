//! The provider's partner API as the monitor calls it: an OAuth client assertion exchanged for a
//! bearer token (kept until shortly before it expires), webhook registration and the status of one
//! user. Every failure becomes one sentence that says what to do.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use super::jwt::{Claims, KeyError, PrivateKey, MAX_ASSERTION_LIFETIME_SECS};
use super::throttle::Gate;
use crate::kyc::UserState;
use crate::signature::SharedSecret;

/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A token is replaced this long before the provider says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// Throttled requests are tried again this many times, waiting as the provider asks (the wait
/// is shared with every other request to the provider: see `throttle.rs`).
const THROTTLE_RETRIES: u32 = 5;
/// The longest `Retry-After` this client waits for before giving up with the advice to wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The provider's known environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "EnvironmentId")]
pub enum Environment {
    Dev,
    Preprod,
    Prod,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Environment::Dev, Environment::Preprod, Environment::Prod];

    pub fn endpoints(self) -> Endpoints {
        let (auth, api) = match self {
            Environment::Dev => ("pmx-dev01.us.auth0.com", "api.dev01.polymarketexchange.com"),
            Environment::Preprod => (
                "pmx-preprod.us.auth0.com",
                "api.preprod.polymarketexchange.com",
            ),
            Environment::Prod => ("pmx-prod.us.auth0.com", "api.prod.polymarketexchange.com"),
        };
        Endpoints {
            api_base: format!("https://{api}"),
            token_url: format!("https://{auth}/oauth/token"),
        }
    }
}

/// Where the API and its token endpoint are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The routes' base, also the token's `audience`.
    pub api_base: String,
    /// The token endpoint, also the assertion's `aud`.
    pub token_url: String,
}

impl Endpoints {
    /// Custom endpoints (a staging copy, the emulator); both must be http(s) URLs.
    pub fn custom(api_base: &str, token_url: &str) -> Result<Endpoints, ProviderError> {
        for (flag, url) in [("--api-base", api_base), ("--token-url", token_url)] {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| ProviderError::Config(format!("{flag} {url:?} is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ProviderError::Config(format!(
                    "{flag} {url:?} must start with https:// (or http:// for a local emulator)"
                )));
            }
        }
        Ok(Endpoints {
            api_base: api_base.trim_end_matches('/').to_owned(),
            token_url: token_url.to_owned(),
        })
    }
}

/// Every way a call to the provider can fail, each a sentence naming what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the provider refused the client credentials (401: {0}): check the client id and that the provider holds the public half of this private key")]
    Unauthorized(String),
    #[error("the client is not allowed to use the KYC API (403: {0}): ask the provider to grant the KYC scopes (read:kyc, write:kyc) to this client id")]
    Forbidden(String),
    #[error("the provider reports a conflict (409: {0}): the webhook may already be registered; check it in the provider's console before trying again")]
    Conflict(String),
    #[error("the provider is throttling this client (429: {message}); try again in {retry_after_secs} s")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    #[error("the provider is failing (HTTP {status}: {message}); try again in a few minutes")]
    Unavailable { status: u16, message: String },
    #[error("the provider did not answer {url} within {secs} s; check the network, or try again")]
    Timeout { url: String, secs: f64 },
    #[error("cannot reach the provider at {url} ({reason}); check the environment or URLs and the network")]
    Unreachable { url: String, reason: String },
    #[error("the provider has no route {url} (404); check --api-base")]
    NoRoute { url: String },
    #[error("the provider refused the request (HTTP {status}: {message})")]
    Refused { status: u16, message: String },
    #[error("the provider answered {url} with something this monitor does not understand (HTTP {status}); check the URLs")]
    Unexpected { url: String, status: u16 },
}

/// The provider's answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub validated: bool,
    pub message: String,
    #[serde(skip)]
    pub http_status: u16,
}

/// Which of the two documented request bodies a registration used.
pub fn registration_form(signing_secret: Option<&SharedSecret>) -> &'static str {
    match signing_secret {
        Some(_) => "webhook_url",
        None => "webhookUrl",
    }
}

/// A provider's answer, read whole.
struct Answer {
    status: StatusCode,
    retry_after: Duration,
    bytes: Vec<u8>,
}

struct Token {
    bearer: String,
    renew_at: Instant,
}

/// A client for one partner (client id and key) at one set of endpoints.
pub struct ProviderClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    client_id: String,
    key: PrivateKey,
    token: Mutex<Option<Token>>,
    timeout: Duration,
    /// The provider's `Retry-After`, shared with every client of the same provider.
    gate: std::sync::Arc<Gate>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_expiry() -> u64 {
    180
}

impl ProviderClient {
    pub fn new(
        endpoints: Endpoints,
        client_id: &str,
        key: PrivateKey,
    ) -> Result<ProviderClient, ProviderError> {
        if client_id.trim().is_empty() {
            return Err(ProviderError::Config(
                "the client id is empty: give the one the provider issued (--client-id or KYC_MONITOR_CLIENT_ID)".into(),
            ));
        }
        let http = crate::trust::https_client(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("kyc-monitor/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| ProviderError::Config(format!("cannot set up HTTPS ({e})")))?;
        Ok(ProviderClient {
            http,
            gate: Gate::for_provider(&endpoints.api_base),
            endpoints,
            client_id: client_id.trim().to_owned(),
            key,
            token: Mutex::new(None),
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// How long one request may take (default 15 s).
    pub fn with_timeout(mut self, timeout: Duration) -> ProviderClient {
        self.timeout = timeout;
        self
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `POST /v1/kyc/webhook`. A refused validation is an answer (`validated: false`), not an error.
    pub async fn register(
        &self,
        webhook_url: &str,
        signing_secret: Option<&SharedSecret>,
    ) -> Result<Registration, ProviderError> {
        let body = match signing_secret {
            Some(secret) => json!({"webhook_url": webhook_url, "signing_secret": secret.expose()}),
            None => json!({"webhookUrl": webhook_url}),
        };
        let url = format!("{}/v1/kyc/webhook", self.endpoints.api_base);
        let answer = self
            .authorised(|http, bearer| http.post(&url).bearer_auth(bearer).json(&body))
            .await?;
        // The provider answers a failed validation with `validated: false`, whatever the status.
        if let Ok(mut registration) = serde_json::from_slice::<Registration>(&answer.bytes) {
            if answer.status.is_success() || !registration.validated {
                registration.http_status = answer.status.as_u16();
                return Ok(registration);
            }
        }
        Err(failure(&url, &answer))
    }

    /// `GET /v1/kyc/status?externalId=`: the user's state, or `None` when the provider does not know them.
    pub async fn status(&self, external_id: &str) -> Result<Option<UserState>, ProviderError> {
        let url = format!("{}/v1/kyc/status", self.endpoints.api_base);
        let answer = self
            .authorised(|http, bearer| {
                http.get(&url)
                    .bearer_auth(bearer)
                    .query(&[("externalId", external_id)])
            })
            .await?;
        // A 404 with the provider's JSON error means "no such user"; a bare 404 means no such route.
        if answer.status == StatusCode::NOT_FOUND && provider_message(&answer.bytes).is_some() {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(failure(&url, &answer));
        }
        match crate::kyc::parse_payload(&answer.bytes) {
            Ok(crate::kyc::Payload::Event(event)) if event.external_id == external_id => {
                Ok(Some(event.state))
            }
            _ => Err(ProviderError::Unexpected {
                url,
                status: answer.status.as_u16(),
            }),
        }
    }

    /// Sends a request with a bearer token; a 401 on a cached token gets one fresh token and one retry.
    async fn authorised(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let bearer = self.bearer(false).await?;
        let answer = self.send(|| build(&self.http, &bearer)).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            let bearer = self.bearer(true).await?;
            return self.send(|| build(&self.http, &bearer)).await;
        }
        Ok(answer)
    }

    /// A bearer token: the cached one while it lasts, otherwise a new one.
    async fn bearer(&self, renew: bool) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|t| !renew && Instant::now() < t.renew_at)
        {
            return Ok(token.bearer.clone());
        }
        let now = crate::time::now_millis() / 1000;
        let assertion = self.key.sign(&Claims::assertion(
            &self.client_id,
            &self.endpoints.token_url,
            now,
            MAX_ASSERTION_LIFETIME_SECS,
        ));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("audience", self.endpoints.api_base.as_str()),
        ];
        let url = &self.endpoints.token_url;
        let answer = self.send(|| self.http.post(url).form(&form)).await?;
        if !answer.status.is_success() {
            return Err(failure(url, &answer));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&answer.bytes).map_err(|_| ProviderError::Unexpected {
                url: url.clone(),
                status: answer.status.as_u16(),
            })?;
        let lifetime = Duration::from_secs(answer.expires_in);
        *cached = Some(Token {
            bearer: answer.access_token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2)),
        });
        Ok(answer.access_token)
    }

    /// Sends, waiting out `429 Retry-After` a bounded number of times.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let mut throttled = 0;
        loop {
            self.gate.wait().await;
            let built = request()
                .timeout(self.timeout)
                .build()
                .map_err(|e| ProviderError::Config(e.to_string()))?;
            let url = built.url().as_str().to_owned();
            let response = self
                .http
                .execute(built)
                .await
                .map_err(|e| transport_error(&url, &e, self.timeout))?;
            let status = response.status();
            let wait = retry_after(response.headers());
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport_error(&url, &e, self.timeout))?
                .to_vec();
            if status == StatusCode::TOO_MANY_REQUESTS && wait <= MAX_RETRY_AFTER {
                self.gate.throttled(wait);
                if throttled < THROTTLE_RETRIES {
                    throttled += 1;
                    tracing::info!(
                        wait_secs = wait.as_secs_f64(),
                        "the provider is throttling; waiting as it asks"
                    );
                    continue;
                }
            }
            return Ok(Answer {
                status,
                retry_after: wait,
                bytes,
            });
        }
    }
}

fn failure(url: &str, answer: &Answer) -> ProviderError {
    let status = answer.status;
    let message = provider_message(&answer.bytes)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
    match status.as_u16() {
        401 => ProviderError::Unauthorized(message),
        403 => ProviderError::Forbidden(message),
        404 => ProviderError::NoRoute {
            url: url.to_owned(),
        },
        409 => ProviderError::Conflict(message),
        429 => ProviderError::Throttled {
            message,
            retry_after_secs: answer.retry_after.as_secs().max(1),
        },
        500..=599 => ProviderError::Unavailable {
            status: status.as_u16(),
            message,
        },
        400..=499 => ProviderError::Refused {
            status: status.as_u16(),
            message,
        },
        _ => ProviderError::Unexpected {
            url: url.to_owned(),
            status: status.as_u16(),
        },
    }
}

/// The provider's own explanation in an error body (`message`, or OAuth's `error_description`).
fn provider_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["message", "error_description", "error"]
        .iter()
        .find_map(|key| value.get(key)?.as_str().filter(|s| !s.is_empty()))
        .map(|s| s.chars().take(300).collect())
}

/// The wait a 429 asks for; a second when it names none (or none that can be read).
fn retry_after(headers: &HeaderMap) -> Duration {
    crate::backoff::retry_after(headers).unwrap_or(Duration::from_secs(1))
}

fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> ProviderError {
    if error.is_timeout() {
        return ProviderError::Timeout {
            url: url.to_owned(),
            secs: timeout.as_secs_f64(),
        };
    }
    if let Some(tls) = crate::trust::https_failure(error) {
        return ProviderError::Unreachable {
            url: url.to_owned(),
            reason: tls,
        };
    }
    // The innermost cause is the one a person recognises ("Connection refused").
    let mut reason: &dyn std::error::Error = error;
    while let Some(source) = reason.source() {
        reason = source;
    }
    ProviderError::Unreachable {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}
