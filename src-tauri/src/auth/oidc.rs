//! Sign-in through an OpenID Provider with the `openidconnect` crate: discovery, the
//! authorization code flow with PKCE (S256), `state` and `nonce`, and the ID token verified
//! (signature through the provider's JWKS, fetched again once when a token names a key it does
//! not hold; `iss`, `aud`, `exp`, `nonce`). Pending sign-ins wait here, short-lived and few.

use super::SetupError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::team::OidcConfig;

/// How long a started sign-in may take at the provider.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins waiting at once; past this the oldest is dropped.
const MOST_PENDING: usize = 1024;
/// The provider's keys are fetched again for an unknown key at most this often.
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(10);
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a sign-in did not work: each says what happened; [`SignInError::reason`] is its short
/// name for the audit log.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider at {issuer} cannot be reached or read ({detail}); try again in a moment, or ask whoever runs the monitor to check --oidc-issuer")]
    ProviderUnreachable { issuer: String, detail: String },
    #[error("the identity provider refused the sign-in ({error}{description})")]
    ProviderRefused { error: String, description: String },
    #[error("this sign-in is unknown or has expired (it was started more than 10 minutes ago, in another browser, or already used)")]
    UnknownState,
    #[error("the identity provider did not accept the sign-in's code ({0}); it may have been used already")]
    CodeRefused(String),
    #[error("the identity provider's answer carried no ID token")]
    NoIdToken,
    #[error("the ID token is not signed by a key of the identity provider")]
    BadSignature,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued for another application (its audience is not this monitor's client id)")]
    WrongAudience,
    #[error("the ID token was issued by another identity provider")]
    WrongIssuer,
    #[error("the ID token does not belong to this sign-in (its nonce differs)")]
    WrongNonce,
    #[error("the ID token could not be verified ({0})")]
    Invalid(String),
    #[error("the identity provider says the email {0:?} is not verified, so it cannot name who signed in; verify it at the provider, then sign in again")]
    UnverifiedEmail(String),
    #[error("{0}")]
    BadIdentity(String),
}

impl SignInError {
    pub fn reason(&self) -> &'static str {
        match self {
            SignInError::ProviderUnreachable { .. } => "provider-unreachable",
            SignInError::ProviderRefused { .. } => "provider-refused",
            SignInError::UnknownState => "unknown-state",
            SignInError::CodeRefused(_) => "code-refused",
            SignInError::NoIdToken => "no-id-token",
            SignInError::BadSignature => "bad-signature",
            SignInError::Expired => "expired",
            SignInError::WrongAudience => "wrong-audience",
            SignInError::WrongIssuer => "wrong-issuer",
            SignInError::WrongNonce => "wrong-nonce",
            SignInError::Invalid(_) => "invalid-token",
            SignInError::UnverifiedEmail(_) => "unverified-email",
            SignInError::BadIdentity(_) => "bad-identity",
        }
    }
}

/// Every claim beyond the standard ones, so the groups claim may have any name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct OtherClaims(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type GroupsIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The email when the token has one, else the subject.
    pub user: String,
    pub name: String,
    pub groups: Vec<String>,
}

/// A sign-in sent to the provider: where to send the browser, and the value of the cookie that
/// ties the sign-in to that browser.
pub struct LoginStart {
    pub url: String,
    pub browser: String,
}

/// What the provider sends back to `/auth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

struct Pending {
    nonce: String,
    verifier: String,
    browser_hash: [u8; 32],
    started: Instant,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    keys: CoreJsonWebKeySet,
    refetched: Option<Instant>,
}

/// This monitor as a relying party of one OpenID Provider.
pub struct RelyingParty {
    config: OidcConfig,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Option<Discovered>>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn random_text() -> String {
    URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>())
}

impl RelyingParty {
    pub fn new(config: OidcConfig, public_ui_url: &str) -> Result<RelyingParty, SetupError> {
        let redirect_uri = RedirectUrl::new(format!("{public_ui_url}/auth/callback"))
            .map_err(|e| SetupError(format!("--public-ui-url: {e}")))?;
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| SetupError(format!("--oidc-issuer: {e}")))?;
        // The provider's endpoints are called as they are: a redirect is refused, not followed.
        let http = crate::trust::https_client(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(PROVIDER_TIMEOUT)
        })
        .map_err(|e| SetupError(format!("cannot make the HTTP client: {e}")))?;
        Ok(RelyingParty {
            config,
            redirect_uri,
            http,
            provider: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn unreachable(&self, detail: impl std::fmt::Display) -> SignInError {
        SignInError::ProviderUnreachable {
            issuer: self.config.issuer.clone(),
            detail: detail.to_string(),
        }
    }

    /// The provider's metadata and keys, discovered on first use (and again after a failure).
    async fn discovered(&self) -> Result<(CoreProviderMetadata, CoreJsonWebKeySet), SignInError> {
        let mut provider = self.provider.lock().await;
        if provider.is_none() {
            let issuer =
                IssuerUrl::new(self.config.issuer.clone()).map_err(|e| self.unreachable(e))?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?;
            let keys = metadata.jwks().clone();
            *provider = Some(Discovered {
                metadata,
                keys,
                refetched: None,
            });
        }
        let found = provider.as_ref().expect("discovered above");
        Ok((found.metadata.clone(), found.keys.clone()))
    }

    /// Fetches the provider's keys again (a token named a key not held: the provider may have
    /// rotated them); `None` when that was done moments ago.
    async fn refetch_keys(&self) -> Result<Option<CoreJsonWebKeySet>, SignInError> {
        let mut provider = self.provider.lock().await;
        let Some(found) = provider.as_mut() else {
            return Ok(None);
        };
        if found
            .refetched
            .is_some_and(|at| at.elapsed() < REFETCH_KEYS_AFTER)
        {
            return Ok(None);
        }
        found.refetched = Some(Instant::now());
        let keys = CoreJsonWebKeySet::fetch_async(found.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        found.keys = keys.clone();
        tracing::info!("fetched the identity provider's signing keys again");
        Ok(Some(keys))
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config
                .client_secret
                .as_ref()
                .map(|secret| ClientSecret::new(secret.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }

    /// Starts a sign-in: the provider's authorization URL, with PKCE, state and nonce.
    pub async fn begin(&self) -> Result<LoginStart, SignInError> {
        let (metadata, _) = self.discovered().await?;
        let verifier = random_text();
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
        let (state, nonce, browser) = (random_text(), random_text(), random_text());
        let (url, _, _) = {
            let (state, nonce) = (state.clone(), nonce.clone());
            self.client(metadata)
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(state),
                    move || Nonce::new(nonce),
                )
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("profile".into()))
                .set_pkce_challenge(challenge)
                .url()
        };
        let mut pending = self.pending.lock().expect("pending sign-ins");
        pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
        if pending.len() >= MOST_PENDING {
            if let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(state, _)| state.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            state,
            Pending {
                nonce,
                verifier,
                browser_hash: Sha256::digest(browser.as_bytes()).into(),
                started: Instant::now(),
            },
        );
        Ok(LoginStart {
            url: url.to_string(),
            browser,
        })
    }

    /// Finishes a sign-in from the provider's answer and the browser's sign-in cookie: the code
    /// exchanged, the ID token verified, the person and their groups read from it.
    pub async fn finish(
        &self,
        callback: Callback,
        browser: Option<&str>,
    ) -> Result<SignedIn, SignInError> {
        // The state is used up whatever follows: a sign-in is tried once.
        let pending = callback.state.as_deref().and_then(|state| {
            let mut pending = self.pending.lock().expect("pending sign-ins");
            pending.remove(state)
        });
        if let Some(error) = callback.error {
            return Err(SignInError::ProviderRefused {
                error: printable(&error),
                description: callback
                    .error_description
                    .map(|d| format!(": {}", printable(&d)))
                    .unwrap_or_default(),
            });
        }
        let browser_hash: Option<[u8; 32]> = browser.map(|b| Sha256::digest(b.as_bytes()).into());
        let pending = pending
            .filter(|p| p.started.elapsed() < PENDING_FOR)
            .filter(|p| browser_hash == Some(p.browser_hash))
            .ok_or(SignInError::UnknownState)?;
        let code = callback.code.ok_or(SignInError::UnknownState)?;
        let (metadata, keys) = self.discovered().await?;
        let issuer = metadata.issuer().clone();
        let token = self
            .client(metadata)
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| self.unreachable(e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => SignInError::CodeRefused(format!(
                    "{}{}",
                    answer.error(),
                    answer
                        .error_description()
                        .map(|d| format!(": {}", printable(d)))
                        .unwrap_or_default()
                )),
                other => self.unreachable(error_chain(&other)),
            })?;
        let id_token: GroupsIdToken = token
            .id_token()
            .ok_or(SignInError::NoIdToken)?
            .to_string()
            .parse()
            .map_err(|e| SignInError::Invalid(format!("{e}")))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = match self.verify(&id_token, &issuer, keys, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => match self.refetch_keys().await? {
                Some(keys) => self.verify(&id_token, &issuer, keys, &nonce),
                None => Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )),
            },
            checked => checked,
        }
        .map_err(refusal)?;
        // An email names the person only when the provider vouches for it: one a person may set
        // themselves would let them act, and be audited, as someone else. A provider that does
        // not say (no `email_verified`) is taken at its word, as most that leave it out verify.
        // Some say it as a string ("false", as Amazon Cognito does): read alike
        // (openidconnect's `accept-string-booleans`).
        let user = match (claims.email(), claims.email_verified()) {
            (Some(email), Some(false)) => {
                return Err(SignInError::UnverifiedEmail(printable(email.as_str())))
            }
            (Some(email), _) => email.as_str().to_owned(),
            (None, _) => claims.subject().as_str().to_owned(),
        };
        if let Some(refusal) = crate::access::identity_refusal(&user) {
            return Err(SignInError::BadIdentity(refusal));
        }
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
            .unwrap_or_else(|| user.clone());
        // Shown beside what the person does (the top bar, sessions): never disguised.
        let name = crate::access::spelled_out(&name);
        let groups = match claims.additional_claims().0.get(&self.config.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(SignedIn { user, name, groups })
    }

    fn verify(
        &self,
        id_token: &GroupsIdToken,
        issuer: &IssuerUrl,
        keys: CoreJsonWebKeySet,
        nonce: &Nonce,
    ) -> Result<openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>, ClaimsVerificationError>
    {
        let client_id = ClientId::new(self.config.client_id.clone());
        // Asymmetric signatures only: an HMAC keyed by the client secret proves nothing about
        // the provider.
        let verifier = CoreIdTokenVerifier::new_public_client(client_id, issuer.clone(), keys)
            .set_allowed_algs([
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
                CoreJwsSigningAlgorithm::RsaSsaPssSha256,
                CoreJwsSigningAlgorithm::RsaSsaPssSha384,
                CoreJwsSigningAlgorithm::RsaSsaPssSha512,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            ]);
        id_token.claims(&verifier, nonce).cloned()
    }
}

fn refusal(error: ClaimsVerificationError) -> SignInError {
    match error {
        ClaimsVerificationError::SignatureVerification(_) => SignInError::BadSignature,
        ClaimsVerificationError::Expired(_) => SignInError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => SignInError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => SignInError::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => SignInError::WrongNonce,
        other => SignInError::Invalid(other.to_string()),
    }
}

/// An error and its causes on one line (a certificate that does not verify, in words).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(tls) = crate::trust::rustls_error(error) {
        return crate::trust::tls_failure(tls);
    }
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Text from the provider's answer, cut short and without control characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
