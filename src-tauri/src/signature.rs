//! Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers, an HMAC-SHA256 over `<id>.<timestamp>.<body>` keyed by the decoded `whsec_` secret.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a delivery's timestamp may be from this machine's clock, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;
const PREFIX: &str = "whsec_";

/// The shared secret that signs deliveries. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the signing secret must start with \"whsec_\" followed by base64")]
    MissingPrefix,
    #[error("the signing secret after \"whsec_\" is not valid base64")]
    NotBase64,
    #[error("the signing secret is too short: it must hold at least 16 bytes")]
    TooShort,
}

impl std::str::FromStr for SigningSecret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if key.len() < 16 {
            return Err(SecretError::TooShort);
        }
        Ok(SigningSecret(key))
    }
}

/// Why a delivery's signature was not accepted. Each message says what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing: deliveries must be signed because this monitor has a signing secret")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp {0:?} is not Unix seconds")]
    BadTimestamp(String),
    #[error("webhook-timestamp is {skew_secs} s away from this machine's clock (at most {TOLERANCE_SECS} s allowed): check both clocks, or this is an old delivery replayed")]
    OutsideTolerance { skew_secs: i64 },
    #[error("no v1 signature in webhook-signature matches this body: check that the provider and this monitor use the same signing secret")]
    NoMatch,
}

/// The three signature headers as a request carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl SigningSecret {
    /// A fresh random secret (32 bytes).
    pub fn generate() -> SigningSecret {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        SigningSecret(key)
    }

    /// The secret in its `whsec_` form. Named so that every place that shows it stands out.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `webhook-signature` header value for a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            BASE64.encode(
                self.mac(id, &timestamp.to_string(), body)
                    .finalize()
                    .into_bytes()
            )
        )
    }

    /// Checks a delivery; on success returns its `webhook-id`.
    pub fn verify<'a>(
        &self,
        headers: SignatureHeaders<'a>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<&'a str, SignatureError> {
        let id = headers
            .id
            .ok_or(SignatureError::MissingHeader("webhook-id"))?;
        let timestamp = headers
            .timestamp
            .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
        let signature = headers
            .signature
            .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp(timestamp.to_owned()))?;
        let skew_secs = now_secs.saturating_sub(seconds).saturating_abs();
        if skew_secs > TOLERANCE_SECS {
            return Err(SignatureError::OutsideTolerance { skew_secs });
        }
        let expected = self.mac(id, timestamp.trim(), body);
        let matched = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| BASE64.decode(encoded).ok())
            // verify_slice compares in constant time.
            .any(|candidate| expected.clone().verify_slice(&candidate).is_ok());
        if matched {
            Ok(id)
        } else {
            Err(SignatureError::NoMatch)
        }
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let secret: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig);
        assert_eq!(
            secret.verify(h, body, 1614265330 + 10),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
    }

    #[test]
    fn one_valid_entry_among_several_is_enough() {
        let secret = SigningSecret::generate();
        let good = secret.sign("id1", NOW, b"{}");
        let other = SigningSecret::generate().sign("id1", NOW, b"{}");
        let header = format!("v1a,abc {other} garbage {good}");
        assert!(secret
            .verify(headers("id1", &NOW.to_string(), &header), b"{}", NOW)
            .is_ok());
    }

    #[test]
    fn refuses_wrong_key_tampered_body_and_stale_timestamps() {
        let secret = SigningSecret::generate();
        let ts = NOW.to_string();
        let sig = secret.sign("id1", NOW, b"{}");
        let wrong = SigningSecret::generate();
        assert_eq!(
            wrong.verify(headers("id1", &ts, &sig), b"{}", NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            secret.verify(headers("id1", &ts, &sig), b"{ }", NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            secret.verify(headers("id2", &ts, &sig), b"{}", NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            secret.verify(headers("id1", &ts, &sig), b"{}", NOW + 301),
            Err(SignatureError::OutsideTolerance { skew_secs: 301 })
        );
        assert!(secret
            .verify(headers("id1", &ts, &sig), b"{}", NOW - 300)
            .is_ok());
        assert!(matches!(
            secret.verify(headers("id1", "soon", &sig), b"{}", NOW),
            Err(SignatureError::BadTimestamp(_))
        ));
        let missing = SignatureHeaders {
            id: Some("id1"),
            timestamp: Some(&ts),
            signature: None,
        };
        assert_eq!(
            secret.verify(missing, b"{}", NOW),
            Err(SignatureError::MissingHeader("webhook-signature"))
        );
    }

    #[test]
    fn secrets_parse_round_trip_and_never_print() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        assert_eq!(text.parse::<SigningSecret>().unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&text[6..12]));
        assert_eq!(
            "abc".parse::<SigningSecret>(),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            "whsec_***".parse::<SigningSecret>(),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            "whsec_AAAA".parse::<SigningSecret>(),
            Err(SecretError::TooShort)
        );
    }
}
