//! Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers (or their `svix-*` twins) over `<id>.<timestamp>.<body>`, signed either with a shared
//! secret (`whsec_`, `v1` entries: HMAC-SHA256) or with the sender's Ed25519 key (`whsk_` private,
//! `whpk_` public, `v1a` entries).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a delivery's timestamp may be from this machine's clock, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;
/// Shorter shared secrets are refused: guessable keys make signatures forgeable.
pub const MIN_SECRET_BYTES: usize = 16;
const SECRET_PREFIX: &str = "whsec_";
const PUBLIC_KEY_PREFIX: &str = "whpk_";
const PRIVATE_KEY_PREFIX: &str = "whsk_";

/// Reads base64 as the Standard Webhooks libraries do: padded or not, loose trailing bits allowed.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the signing secret is not base64 (a whsec_ secret, with or without its prefix and padding, or a whpk_ public key)")]
    NotBase64,
    #[error("the signing secret is too short: it must hold at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
    #[error("the whpk_ key is not an Ed25519 public key: it must be 32 bytes in base64")]
    NotPublicKey,
    #[error("the whsk_ key is not an Ed25519 private key: it must be a 32-byte seed in base64")]
    NotPrivateKey,
    #[error("this is a whsk_ private key, which signs: give this monitor the matching whpk_ public key instead")]
    PrivateKeyGiven,
    #[error(
        "a whpk_ public key only verifies: signing needs a whsec_ secret or a whsk_ private key"
    )]
    PublicKeyCannotSign,
    #[error("a line after the first is not `previous <valid-until milliseconds> <secret>` (the form a rotation writes)")]
    BadRotationLine,
}

/// A key shared with the sender (`whsec_`): it makes and checks `v1` (HMAC-SHA256) entries.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Vec<u8>);

/// The sender's Ed25519 public key (`whpk_`): it checks `v1a` entries.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey(VerifyingKey);

/// An Ed25519 private key (`whsk_`, the 32-byte seed): it makes `v1a` entries.
#[derive(Clone)]
pub struct Ed25519PrivateKey(SigningKey);

/// What this monitor checks deliveries with: the contract's "signing secret".
#[derive(Clone, PartialEq, Eq)]
pub enum SigningSecret {
    Shared(SharedSecret),
    Ed25519(Ed25519PublicKey),
}

/// What a sender (the emulator, a forwarder) signs deliveries with.
#[derive(Clone)]
pub enum Signer {
    Shared(SharedSecret),
    Ed25519(Ed25519PrivateKey),
}

// Key material never reaches a log through Debug.
macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(redacted)"))
            }
        }
    )*};
}
redacted_debug!(
    SharedSecret,
    Ed25519PublicKey,
    Ed25519PrivateKey,
    SigningSecret,
    Signer
);

fn decode(encoded: &str) -> Result<Vec<u8>, SecretError> {
    LENIENT_BASE64
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)
}

impl SharedSecret {
    /// A fresh random secret (32 bytes).
    pub fn generate() -> SharedSecret {
        SharedSecret(crate::random::bytes::<32>().to_vec())
    }

    /// The secret in its `whsec_` form. Named so that every place that shows it stands out.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `webhook-signature` entry for a delivery: `v1,<base64 HMAC>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac(id, &timestamp.to_string(), body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&signed_content(id, timestamp, body));
        mac
    }
}

impl std::str::FromStr for SharedSecret {
    type Err = SecretError;

    /// `whsec_` followed by base64, or the base64 alone; padding optional.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.starts_with(PUBLIC_KEY_PREFIX) {
            return Err(SecretError::PublicKeyCannotSign);
        }
        if text.starts_with(PRIVATE_KEY_PREFIX) {
            return Err(SecretError::PrivateKeyGiven);
        }
        let key = decode(text.strip_prefix(SECRET_PREFIX).unwrap_or(text))?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort);
        }
        Ok(SharedSecret(key))
    }
}

impl Ed25519PublicKey {
    /// The key in its `whpk_` form.
    pub fn expose(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }
}

impl std::str::FromStr for Ed25519PublicKey {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text
            .trim()
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or(SecretError::NotPublicKey)?;
        let bytes: [u8; 32] = decode(encoded)
            .map_err(|_| SecretError::NotPublicKey)?
            .try_into()
            .map_err(|_| SecretError::NotPublicKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| SecretError::NotPublicKey)?;
        // A small-order key would accept signatures anyone can make.
        if key.is_weak() {
            return Err(SecretError::NotPublicKey);
        }
        Ok(Ed25519PublicKey(key))
    }
}

impl Ed25519PrivateKey {
    /// A fresh random key pair.
    pub fn generate() -> Ed25519PrivateKey {
        Ed25519PrivateKey(SigningKey::from_bytes(&crate::random::bytes::<32>()))
    }

    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.verifying_key())
    }

    /// The key in its `whsk_` form (the seed). Named so that every place that shows it stands out.
    pub fn expose(&self) -> String {
        format!("{PRIVATE_KEY_PREFIX}{}", BASE64.encode(self.0.to_bytes()))
    }

    /// The `webhook-signature` entry for a delivery: `v1a,<base64 Ed25519 signature>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let content = signed_content(id, &timestamp.to_string(), body);
        format!("v1a,{}", BASE64.encode(self.0.sign(&content).to_bytes()))
    }
}

impl std::str::FromStr for Ed25519PrivateKey {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text
            .trim()
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(SecretError::NotPrivateKey)?;
        let seed: [u8; 32] = decode(encoded)
            .map_err(|_| SecretError::NotPrivateKey)?
            .try_into()
            .map_err(|_| SecretError::NotPrivateKey)?;
        Ok(Ed25519PrivateKey(SigningKey::from_bytes(&seed)))
    }
}

impl Signer {
    /// The `webhook-signature` entry for a delivery (`v1,...` or `v1a,...`).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        match self {
            Signer::Shared(secret) => secret.sign(id, timestamp, body),
            Signer::Ed25519(key) => key.sign(id, timestamp, body),
        }
    }

    /// What the receiving side checks these signatures with.
    pub fn verifier(&self) -> SigningSecret {
        match self {
            Signer::Shared(secret) => SigningSecret::Shared(secret.clone()),
            Signer::Ed25519(key) => SigningSecret::Ed25519(key.public_key()),
        }
    }
}

impl std::str::FromStr for Signer {
    type Err = SecretError;

    /// A `whsk_` private key, or a shared secret in any form [`SharedSecret`] reads.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().starts_with(PRIVATE_KEY_PREFIX) {
            text.parse().map(Signer::Ed25519)
        } else {
            text.parse().map(Signer::Shared)
        }
    }
}

/// Why a delivery's signature was not accepted. Each message says what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook-{0} header (or svix-{0}) is missing: deliveries must be signed because this monitor has a signing secret")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp {0:?} is not Unix seconds")]
    BadTimestamp(String),
    #[error("webhook-timestamp is {skew_secs} s away from this machine's clock (at most {TOLERANCE_SECS} s allowed): check both clocks, or this is an old delivery replayed")]
    OutsideTolerance { skew_secs: i64 },
    #[error("no v1 signature in webhook-signature matches this body: check that the provider and this monitor use the same signing secret")]
    NoSharedMatch,
    #[error("webhook-signature holds no v1 entry (this monitor has a whsec_ secret and checks v1 HMAC signatures, not v1a): give it the sender's whpk_ public key to check v1a ones")]
    NoV1Entry,
    #[error("no v1a signature in webhook-signature matches this body: check that the sender signs with the private key of this monitor's whpk_ public key")]
    NoEd25519Match,
    #[error("webhook-signature holds no v1a entry (this monitor has a whpk_ public key and checks v1a Ed25519 signatures; v1 HMAC entries are not enough)")]
    NoV1aEntry,
    #[error("this delivery is signed with a signing secret that was rotated out at {at} (its grace is over): the sender must sign with the current secret")]
    Rotated { at: String },
}

/// The three signature headers as a request carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl SigningSecret {
    /// A fresh random shared secret (32 bytes).
    pub fn generate() -> SigningSecret {
        SigningSecret::Shared(SharedSecret::generate())
    }

    /// The text form (`whsec_...` or `whpk_...`), as the secret file and the flags take it.
    pub fn expose(&self) -> String {
        match self {
            SigningSecret::Shared(secret) => secret.expose(),
            SigningSecret::Ed25519(key) => key.expose(),
        }
    }

    /// `whsec` or `whpk`: what kind of secret this is, not which.
    pub fn kind(&self) -> &'static str {
        match self {
            SigningSecret::Shared(_) => "whsec",
            SigningSecret::Ed25519(_) => "whpk",
        }
    }

    /// The first 8 hex digits of the SHA-256 of [`SigningSecret::expose`]: tells secrets apart
    /// (`printf %s whsec_... | sha256sum`) without revealing one.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let digest = Sha256::digest(self.expose().as_bytes());
        hex::encode(&digest[..4])
    }

    /// The secret to hand the provider at registration: only a shared one can be handed over.
    pub fn shared(&self) -> Option<&SharedSecret> {
        match self {
            SigningSecret::Shared(secret) => Some(secret),
            SigningSecret::Ed25519(_) => None,
        }
    }

    /// Checks a delivery; on success returns its `webhook-id`.
    pub fn verify<'a>(
        &self,
        headers: SignatureHeaders<'a>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<&'a str, SignatureError> {
        // An empty header is a missing one: an empty id must never mark later deliveries duplicate.
        let present = |value: Option<&'a str>, name| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or(SignatureError::MissingHeader(name))
        };
        let id = present(headers.id, "id")?;
        let timestamp = present(headers.timestamp, "timestamp")?.trim();
        let signature = present(headers.signature, "signature")?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::BadTimestamp(timestamp.to_owned()))?;
        let skew_secs = now_secs.saturating_sub(seconds).saturating_abs();
        if skew_secs > TOLERANCE_SECS {
            return Err(SignatureError::OutsideTolerance { skew_secs });
        }
        let entries = |version: &str| -> Vec<Vec<u8>> {
            signature
                .split(' ')
                .filter_map(|entry| entry.split_once(','))
                .filter(|(v, _)| *v == version)
                .filter_map(|(_, encoded)| LENIENT_BASE64.decode(encoded).ok())
                .collect()
        };
        let matched = match self {
            SigningSecret::Shared(secret) => {
                let candidates = entries("v1");
                let expected = secret.mac(id, timestamp, body);
                // verify_slice compares in constant time.
                let matched = candidates
                    .iter()
                    .any(|candidate| expected.clone().verify_slice(candidate).is_ok());
                match (matched, candidates.is_empty() && !entries("v1a").is_empty()) {
                    (true, _) => Ok(()),
                    (false, true) => Err(SignatureError::NoV1Entry),
                    (false, false) => Err(SignatureError::NoSharedMatch),
                }
            }
            SigningSecret::Ed25519(key) => {
                let candidates = entries("v1a");
                let content = signed_content(id, timestamp, body);
                let matched = candidates.iter().any(|candidate| {
                    ed25519_dalek::Signature::from_slice(candidate)
                        .is_ok_and(|sig| key.0.verify_strict(&content, &sig).is_ok())
                });
                match (matched, candidates.is_empty()) {
                    (true, _) => Ok(()),
                    (false, true) => Err(SignatureError::NoV1aEntry),
                    (false, false) => Err(SignatureError::NoEd25519Match),
                }
            }
        };
        matched.map(|()| id)
    }
}

impl std::str::FromStr for SigningSecret {
    type Err = SecretError;

    /// A `whpk_` public key, or a shared secret in any form [`SharedSecret`] reads.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().starts_with(PUBLIC_KEY_PREFIX) {
            text.parse().map(SigningSecret::Ed25519)
        } else {
            text.parse().map(SigningSecret::Shared)
        }
    }
}

/// What both kinds of signature cover: `<id>.<timestamp>.<body>`.
fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests;
