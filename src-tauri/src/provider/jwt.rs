//! RS256 JSON Web Tokens, just enough for the OAuth client assertion: the partner signs one with
//! its RSA private key, the provider (here: the emulator) checks it with the public half.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest lifetime the provider accepts for an assertion.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 5 * 60;
const KEY_BITS: usize = 2048;

/// The partner's RSA private key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PrivateKey(RsaPrivateKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(redacted)")
    }
}

/// The public half, as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(RsaPublicKey);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an RSA {kind} key in PEM form (expected \"-----BEGIN {expected}-----\"): check that you chose the right file")]
    NotPem {
        path: String,
        kind: &'static str,
        expected: &'static str,
    },
}

impl PrivateKey {
    /// Reads a PEM file in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) form.
    pub fn from_file(path: &Path) -> Result<PrivateKey, KeyError> {
        let text = read(path)?;
        Self::from_pem(&text).ok_or_else(|| KeyError::NotPem {
            path: path.display().to_string(),
            kind: "private",
            expected: "PRIVATE KEY",
        })
    }

    pub fn from_pem(text: &str) -> Option<PrivateKey> {
        RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text))
            .ok()
            .map(PrivateKey)
    }

    /// A fresh 2048-bit key (the emulator's demo partner; tests).
    pub fn generate() -> PrivateKey {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
            .expect("RSA key generation failed");
        PrivateKey(key)
    }

    /// The key as PKCS#8 PEM. Named so that every place that writes it out stands out.
    pub fn expose_pem(&self) -> String {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA key encodes as PKCS#8")
            .to_string()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// Signs `claims` as a compact RS256 JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = B64URL.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = B64URL.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signing_input = format!("{header}.{payload}");
        let signature: Signature =
            SigningKey::<Sha256>::new(self.0.clone()).sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(signature.to_bytes()))
    }
}

impl PublicKey {
    /// Reads a PEM file in SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`) form.
    pub fn from_file(path: &Path) -> Result<PublicKey, KeyError> {
        let text = read(path)?;
        RsaPublicKey::from_public_key_pem(&text)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(&text))
            .map(PublicKey)
            .map_err(|_| KeyError::NotPem {
                path: path.display().to_string(),
                kind: "public",
                expected: "PUBLIC KEY",
            })
    }

    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA key encodes as SPKI")
    }

    /// Checks an RS256 JWT's signature and returns its claims. Times are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("it is not three dot-separated parts"));
        };
        let header: Header = decode_json(header)?;
        if header.alg != "RS256" {
            return Err(JwtError::Algorithm(header.alg));
        }
        let signature = B64URL
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or(JwtError::Malformed("the signature is not base64url"))?;
        VerifyingKey::<Sha256>::new(self.0.clone())
            .verify(
                format!("{}.{}", header_part(token), payload).as_bytes(),
                &signature,
            )
            .map_err(|_| JwtError::BadSignature)?;
        decode_json(payload)
    }
}

fn header_part(token: &str) -> &str {
    token.split('.').next().unwrap_or_default()
}

fn read(path: &Path) -> Result<String, KeyError> {
    crate::named_file::read_text(path, crate::named_file::MAX_KEY_FILE).map_err(|source| {
        KeyError::Unreadable {
            path: path.display().to_string(),
            source,
        }
    })
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The client assertion's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Claims {
    /// A client assertion for `client_id` at `token_url`, valid for `lifetime_secs` from `now`.
    pub fn assertion(
        client_id: &str,
        token_url: &str,
        now_secs: i64,
        lifetime_secs: i64,
    ) -> Claims {
        let jti: [u8; 16] = crate::random::bytes();
        Claims {
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            aud: token_url.to_owned(),
            iat: now_secs,
            exp: now_secs + lifetime_secs.min(MAX_ASSERTION_LIFETIME_SECS),
            jti: hex::encode(jti),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the client assertion is malformed: {0}")]
    Malformed(&'static str),
    #[error("the client assertion is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("the client assertion's signature does not match the registered public key")]
    BadSignature,
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = B64URL
        .decode(part)
        .map_err(|_| JwtError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("a part is not the expected JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_assertion_verifies_with_its_public_key_only() {
        let key = PrivateKey::generate();
        let claims = Claims::assertion("client-1", "https://auth.example/oauth/token", 1_000, 300);
        let token = key.sign(&claims);
        assert_eq!(key.public_key().verify(&token), Ok(claims));

        let other = PrivateKey::generate();
        assert_eq!(
            other.public_key().verify(&token),
            Err(JwtError::BadSignature)
        );

        let mut tampered: Vec<&str> = token.split('.').collect();
        let forged = B64URL.encode(br#"{"iss":"x","sub":"x","aud":"x","iat":0,"exp":9,"jti":"j"}"#);
        tampered[1] = &forged;
        assert_eq!(
            key.public_key().verify(&tampered.join(".")),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn lifetime_is_capped_at_five_minutes_and_jti_is_unique() {
        let a = Claims::assertion("c", "u", 100, 3_600);
        let b = Claims::assertion("c", "u", 100, 60);
        assert_eq!(a.exp - a.iat, MAX_ASSERTION_LIFETIME_SECS);
        assert_eq!(b.exp - b.iat, 60);
        assert_ne!(a.jti, b.jti);
    }

    #[test]
    fn pem_round_trips_and_wrong_files_are_named() {
        let key = PrivateKey::generate();
        let again = PrivateKey::from_pem(&key.expose_pem()).expect("PKCS#8 PEM reads back");
        assert_eq!(again.public_key(), key.public_key());
        assert!(PrivateKey::from_pem(&key.public_key().to_pem()).is_none());
        assert_eq!(format!("{key:?}"), "PrivateKey(redacted)");
    }
}
