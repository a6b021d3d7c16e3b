//! Tests of `signature`, beside it so that the module reads as the code it is.

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
