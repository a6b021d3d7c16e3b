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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_790_000_000;

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn shared(secret: &SharedSecret) -> SigningSecret {
        SigningSecret::Shared(secret.clone())
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let secret: SharedSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig);
        assert_eq!(
            shared(&secret).verify(h, body, 1614265330 + 10),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
    }

    #[test]
    fn every_form_the_libraries_accept_reads_as_the_same_secret() {
        let reference: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        // 20 bytes: its base64 needs one padding character.
        let padded: SigningSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhM=".parse().unwrap();
        for (text, expected) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &reference),
            ("  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", &reference),
            ("whsec_AAECAwQFBgcICQoLDA0ODxAREhM", &padded),
            ("AAECAwQFBgcICQoLDA0ODxAREhM", &padded),
            ("AAECAwQFBgcICQoLDA0ODxAREhM=", &padded),
        ] {
            assert_eq!(&text.parse::<SigningSecret>().unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn one_valid_entry_among_several_is_enough() {
        let secret = SharedSecret::generate();
        let good = secret.sign("id1", NOW, b"{}");
        let other = SharedSecret::generate().sign("id1", NOW, b"{}");
        let header = format!("v1a,abc {other} garbage {good}");
        assert!(shared(&secret)
            .verify(headers("id1", &NOW.to_string(), &header), b"{}", NOW)
            .is_ok());
    }

    #[test]
    fn refuses_wrong_key_tampered_body_and_stale_timestamps() {
        let secret = SharedSecret::generate();
        let verifier = shared(&secret);
        let ts = NOW.to_string();
        let sig = secret.sign("id1", NOW, b"{}");
        let wrong = SigningSecret::generate();
        assert_eq!(
            wrong.verify(headers("id1", &ts, &sig), b"{}", NOW),
            Err(SignatureError::NoSharedMatch)
        );
        assert_eq!(
            verifier.verify(headers("id1", &ts, &sig), b"{ }", NOW),
            Err(SignatureError::NoSharedMatch)
        );
        assert_eq!(
            verifier.verify(headers("id2", &ts, &sig), b"{}", NOW),
            Err(SignatureError::NoSharedMatch)
        );
        assert_eq!(
            verifier.verify(headers("id1", &ts, &sig), b"{}", NOW + 301),
            Err(SignatureError::OutsideTolerance { skew_secs: 301 })
        );
        assert!(verifier
            .verify(headers("id1", &ts, &sig), b"{}", NOW - 300)
            .is_ok());
        assert!(matches!(
            verifier.verify(headers("id1", "soon", &sig), b"{}", NOW),
            Err(SignatureError::BadTimestamp(_))
        ));
        let missing = SignatureHeaders {
            id: Some("id1"),
            timestamp: Some(&ts),
            signature: None,
        };
        assert_eq!(
            verifier.verify(missing, b"{}", NOW),
            Err(SignatureError::MissingHeader("signature"))
        );
    }

    #[test]
    fn empty_or_blank_headers_count_as_missing() {
        let secret = SharedSecret::generate();
        let ts = NOW.to_string();
        // A signature over the empty id is still refused: an empty id is no id.
        let sig = secret.sign("", NOW, b"{}");
        let verifier = shared(&secret);
        assert_eq!(
            verifier.verify(headers("", &ts, &sig), b"{}", NOW),
            Err(SignatureError::MissingHeader("id"))
        );
        assert_eq!(
            verifier.verify(headers("id1", " ", &sig), b"{}", NOW),
            Err(SignatureError::MissingHeader("timestamp"))
        );
        assert_eq!(
            verifier.verify(headers("id1", &ts, ""), b"{}", NOW),
            Err(SignatureError::MissingHeader("signature"))
        );
    }

    #[test]
    fn ed25519_keys_verify_v1a_entries_only() {
        let key = Ed25519PrivateKey::generate();
        let verifier = SigningSecret::Ed25519(key.public_key());
        let ts = NOW.to_string();
        let sig = key.sign("id1", NOW, b"{}");
        assert!(sig.starts_with("v1a,"));
        assert_eq!(
            verifier.verify(headers("id1", &ts, &sig), b"{}", NOW),
            Ok("id1")
        );
        assert_eq!(
            verifier.verify(headers("id1", &ts, &sig), b"{ }", NOW),
            Err(SignatureError::NoEd25519Match)
        );
        let other = Ed25519PrivateKey::generate().sign("id1", NOW, b"{}");
        assert_eq!(
            verifier.verify(headers("id1", &ts, &other), b"{}", NOW),
            Err(SignatureError::NoEd25519Match)
        );
        // A v1 entry, even one made with the key's own bytes, is not enough.
        let v1 = SharedSecret::generate().sign("id1", NOW, b"{}");
        let error = verifier
            .verify(headers("id1", &ts, &v1), b"{}", NOW)
            .unwrap_err();
        assert_eq!(error, SignatureError::NoV1aEntry);
        assert!(error.to_string().contains("v1a"));
        // And a whsec_ monitor says so when it only gets v1a entries.
        let error = SigningSecret::generate()
            .verify(headers("id1", &ts, &sig), b"{}", NOW)
            .unwrap_err();
        assert_eq!(error, SignatureError::NoV1Entry);
        assert!(error.to_string().contains("v1 "));
        // Both kinds side by side: each side finds its own.
        let both = format!("{v1} {sig}");
        assert!(verifier
            .verify(headers("id1", &ts, &both), b"{}", NOW)
            .is_ok());
    }

    #[test]
    fn keys_parse_round_trip_and_never_print() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        assert_eq!(text.parse::<SigningSecret>().unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&text[6..12]));

        let private = Ed25519PrivateKey::generate();
        let public = SigningSecret::Ed25519(private.public_key());
        assert!(public.expose().starts_with("whpk_"));
        assert_eq!(public.expose().parse::<SigningSecret>().unwrap(), public);
        let private_text = private.expose();
        assert!(private_text.starts_with("whsk_"));
        let signer: Signer = private_text.parse().unwrap();
        assert_eq!(signer.verifier(), public);
        for debug in [
            format!("{public:?}"),
            format!("{private:?}"),
            format!("{signer:?}"),
        ] {
            assert!(debug.contains("redacted"), "{debug}");
            assert!(!debug.contains(&private_text[5..12]), "{debug}");
            assert!(!debug.contains(&public.expose()[5..12]), "{debug}");
        }
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        for (text, error) in [
            ("whsec_***SECRET", SecretError::NotBase64),
            ("whsec_AAAA", SecretError::TooShort),
            ("AAAA", SecretError::TooShort),
            ("whpk_AAAA", SecretError::NotPublicKey),
            ("whpk_***", SecretError::NotPublicKey),
            (
                "whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                SecretError::PrivateKeyGiven,
            ),
        ] {
            let refused = text.parse::<SigningSecret>().unwrap_err();
            assert_eq!(refused, error, "{text}");
            assert!(!refused.to_string().contains("SECRET"));
        }
        // The all-zero point has small order: anyone could forge for it.
        let weak = format!("whpk_{}", BASE64.encode([0u8; 32]));
        assert_eq!(
            weak.parse::<SigningSecret>(),
            Err(SecretError::NotPublicKey)
        );
        assert_eq!(
            SigningSecret::generate()
                .expose()
                .replace("whsec_", "whpk_")
                .parse::<Signer>()
                .unwrap_err(),
            SecretError::PublicKeyCannotSign
        );
    }

    /// Either kind of key, made from proptest's bytes so that failures shrink and replay.
    fn any_signer() -> impl Strategy<Value = Signer> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), MIN_SECRET_BYTES..64)
                .prop_map(|key| Signer::Shared(SharedSecret(key))),
            any::<[u8; 32]>()
                .prop_map(|seed| Signer::Ed25519(Ed25519PrivateKey(SigningKey::from_bytes(&seed)))),
        ]
    }

    /// Random text, or entries shaped like real ones (`v1a` with 64 bytes reaches Ed25519).
    fn any_signature_header() -> impl Strategy<Value = String> {
        let entry = (
            proptest::sample::select(vec!["v1", "v1a", "v2", ""]),
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(version, bytes)| format!("{version},{}", BASE64.encode(bytes)));
        prop_oneof![
            ".{0,300}",
            proptest::collection::vec(entry, 0..5).prop_map(|entries| entries.join(" ")),
        ]
    }

    /// Random text, or base64 behind each prefix, padded or not.
    fn any_secret_text() -> impl Strategy<Value = String> {
        let shaped = (
            proptest::sample::select(vec!["", "whsec_", "whpk_", "whsk_"]),
            proptest::collection::vec(any::<u8>(), 0..70),
            any::<bool>(),
        )
            .prop_map(|(prefix, bytes, padded)| {
                let encoded = BASE64.encode(bytes);
                let encoded = if padded {
                    encoded.as_str()
                } else {
                    encoded.trim_end_matches('=')
                };
                format!("{prefix}{encoded}")
            });
        prop_oneof![".{0,80}", shaped]
    }

    proptest! {
        #[test]
        fn arbitrary_headers_bodies_and_keys_never_panic(
            signer in any_signer(),
            id in proptest::option::of(".{0,40}"),
            timestamp in proptest::option::of(prop_oneof![".{0,24}", any::<i64>().prop_map(|t| t.to_string())]),
            signature in proptest::option::of(any_signature_header()),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            now in any::<i64>(),
            secret_text in any_secret_text(),
        ) {
            let headers = SignatureHeaders {
                id: id.as_deref(),
                timestamp: timestamp.as_deref(),
                signature: signature.as_deref(),
            };
            let _ = signer.verifier().verify(headers, &body, now);
            if let Ok(secret) = secret_text.parse::<SigningSecret>() {
                let _ = secret.verify(headers, &body, now);
            }
            let _ = secret_text.parse::<Signer>();
        }

        #[test]
        fn a_valid_signature_verifies_and_any_changed_byte_breaks_it(
            signer in any_signer(),
            id in "[ -~]{1,40}",
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
            body in proptest::collection::vec(any::<u8>(), 0..512),
            position in any::<proptest::sample::Index>(),
            replacement in 0x20u8..0x7f,
            target in 0..3usize,
        ) {
            prop_assume!(!id.trim().is_empty());
            let verifier = signer.verifier();
            let timestamp = NOW + skew;
            let signature = signer.sign(&id, timestamp, &body);
            let ts = timestamp.to_string();
            prop_assert_eq!(
                verifier.verify(headers(&id, &ts, &signature), &body, NOW),
                Ok(id.as_str())
            );
            // Another printable byte, so that ids and timestamps stay text as headers are.
            let change = |bytes: &mut Vec<u8>| {
                let at = position.index(bytes.len());
                bytes[at] = if bytes[at] == replacement { replacement ^ 1 } else { replacement };
            };
            let (mut id_bytes, mut ts_bytes, mut body) = (id.clone().into_bytes(), ts.clone().into_bytes(), body);
            match target {
                0 if !body.is_empty() => change(&mut body),
                1 => change(&mut id_bytes),
                _ => change(&mut ts_bytes),
            };
            let id = String::from_utf8(id_bytes).unwrap();
            let ts = String::from_utf8(ts_bytes).unwrap();
            prop_assert!(verifier.verify(headers(&id, &ts, &signature), &body, NOW).is_err());
        }
    }
}
