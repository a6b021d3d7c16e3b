//! The signing secrets in force: the current one, and those a rotation replaced, each valid
//! until its grace ends. After its grace a replaced secret verifies nothing; it is kept
//! [`RECOGNISED_FOR`] longer only so that a delivery still signed with it is told why it is
//! refused, then dropped at the next write of the file.

use std::time::Duration;

use serde::Serialize;

use crate::signature::{SignatureError, SignatureHeaders, SigningSecret};
use crate::time::rfc3339_millis;

/// How long after its grace a replaced secret is still recognised (never accepted).
pub const RECOGNISED_FOR: Duration = Duration::from_secs(7 * 86_400);

/// The grace a rotation gives the secret it replaces unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(86_400);

/// What the listener verifies deliveries with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSet {
    pub current: SigningSecret,
    /// Replaced secrets, newest first.
    pub previous: Vec<Previous>,
}

/// A secret a rotation replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub secret: SigningSecret,
    /// Unix milliseconds: verifies deliveries before this, none after.
    pub valid_until: i64,
}

/// Where a secret stands, as the UI shows it (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "SigningSecretState")]
pub enum SecretState {
    /// The one registered with the provider (or, given at start, one of those given).
    Current,
    /// Replaced, still verifying until its grace ends.
    Previous,
    /// Replaced and past its grace: deliveries signed with it are refused, saying so.
    Retired,
}

/// One secret as the UI lists it: its state, until when, and a short fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretView {
    pub state: SecretState,
    /// `whsec` (shared) or `whpk` (the sender's Ed25519 public key).
    pub kind: String,
    /// The first 8 hex digits of the SHA-256 of the secret's canonical text.
    pub fingerprint: String,
    /// Previous: accepted until then; retired: refused since then. Unix milliseconds.
    pub valid_until: Option<i64>,
}

impl SecretSet {
    pub fn single(current: SigningSecret) -> SecretSet {
        SecretSet {
            current,
            previous: Vec::new(),
        }
    }

    /// Secrets all verifying for good (given at start): the first is shown as current.
    pub fn fixed(given: Vec<SigningSecret>) -> Option<SecretSet> {
        let mut secrets: Vec<SigningSecret> = Vec::new();
        for secret in given {
            if !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        if secrets.is_empty() {
            return None;
        }
        let current = secrets.remove(0);
        Some(SecretSet {
            current,
            previous: secrets
                .into_iter()
                .map(|secret| Previous {
                    secret,
                    valid_until: i64::MAX,
                })
                .collect(),
        })
    }

    /// This set with `new` current from `now`: the current one, if another, stays valid for
    /// `grace`; a secret made current again leaves the previous list.
    pub fn rotated(
        from: Option<&SecretSet>,
        new: SigningSecret,
        now: i64,
        grace: Duration,
    ) -> SecretSet {
        let Some(from) = from else {
            return SecretSet::single(new);
        };
        let mut previous = Vec::new();
        if from.current != new {
            previous.push(Previous {
                secret: from.current.clone(),
                valid_until: now.saturating_add(grace.as_millis().min(i64::MAX as u128) as i64),
            });
        }
        previous.extend(
            from.previous
                .iter()
                .filter(|p| p.secret != new && p.secret != from.current)
                .cloned(),
        );
        SecretSet {
            current: new,
            previous,
        }
        .pruned(now)
    }

    /// Without the secrets past their recognition too.
    pub fn pruned(mut self, now: i64) -> SecretSet {
        let recognised = RECOGNISED_FOR.as_millis() as i64;
        self.previous
            .retain(|p| p.valid_until.saturating_add(recognised) > now);
        self
    }

    /// The secrets that verify deliveries at `now`, the current one first.
    pub fn accepted(&self, now: i64) -> impl Iterator<Item = &SigningSecret> {
        std::iter::once(&self.current).chain(
            self.previous
                .iter()
                .filter(move |p| p.valid_until > now)
                .map(|p| &p.secret),
        )
    }

    /// Checks a delivery received at `now` (Unix milliseconds) against every secret in force;
    /// one signed with a secret rotated out is refused with the time it was.
    pub fn verify(
        &self,
        headers: SignatureHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<String, SignatureError> {
        let now_secs = now.div_euclid(1000);
        let mut refusal = None;
        for secret in self.accepted(now) {
            match secret.verify(headers, body, now_secs) {
                Ok(id) => return Ok(id.to_owned()),
                Err(error) => {
                    refusal.get_or_insert(error);
                }
            }
        }
        let refusal = refusal.expect("the current secret was tried");
        if matches!(
            refusal,
            SignatureError::NoSharedMatch | SignatureError::NoEd25519Match
        ) {
            let recognised = RECOGNISED_FOR.as_millis() as i64;
            let rotated = self.previous.iter().find(|p| {
                p.valid_until <= now
                    && p.valid_until.saturating_add(recognised) > now
                    && p.secret.verify(headers, body, now_secs).is_ok()
            });
            if let Some(rotated) = rotated {
                return Err(SignatureError::Rotated {
                    at: rfc3339_millis(rotated.valid_until),
                });
            }
        }
        Err(refusal)
    }

    /// Every secret as the UI lists it at `now`; `all_current` for secrets given at start.
    pub fn views(&self, now: i64, all_current: bool) -> Vec<SigningSecretView> {
        let view = |secret: &SigningSecret, state, valid_until| SigningSecretView {
            state,
            kind: secret.kind().to_owned(),
            fingerprint: secret.fingerprint(),
            valid_until,
        };
        let mut views = vec![view(&self.current, SecretState::Current, None)];
        for p in &self.previous {
            views.push(match (all_current, p.valid_until > now) {
                (true, _) => view(&p.secret, SecretState::Current, None),
                (false, true) => view(&p.secret, SecretState::Previous, Some(p.valid_until)),
                (false, false) => view(&p.secret, SecretState::Retired, Some(p.valid_until)),
            });
        }
        views
    }

    /// The file's text: the current secret on the first line (the form before rotations
    /// existed), then `previous <valid-until ms> <secret>` lines.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n", self.current.expose());
        for p in &self.previous {
            text.push_str(&format!(
                "previous {} {}\n",
                p.valid_until,
                p.secret.expose()
            ));
        }
        text
    }

    /// Reads [`SecretSet::to_text`]'s form; the reason never quotes the text.
    pub fn from_text(text: &str) -> Result<SecretSet, crate::signature::SecretError> {
        let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
        let current = lines
            .next()
            .ok_or(crate::signature::SecretError::NotBase64)?
            .parse()?;
        let mut previous = Vec::new();
        for line in lines {
            let mut parts = line.split_whitespace();
            let (Some("previous"), Some(until), Some(secret), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(crate::signature::SecretError::BadRotationLine);
            };
            previous.push(Previous {
                valid_until: until
                    .parse()
                    .map_err(|_| crate::signature::SecretError::BadRotationLine)?,
                secret: secret.parse()?,
            });
        }
        Ok(SecretSet { current, previous })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SharedSecret;

    fn shared() -> (SharedSecret, SigningSecret) {
        let key = SharedSecret::generate();
        let secret = SigningSecret::Shared(key.clone());
        (key, secret)
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_for_its_grace_then_explains_the_refusal() {
        let (old_key, old) = shared();
        let (new_key, new) = shared();
        let now = 1_800_000_000_000;
        let set = SecretSet::rotated(
            Some(&SecretSet::single(old.clone())),
            new.clone(),
            now,
            Duration::from_secs(60),
        );
        assert_eq!(set.current, new);
        assert_eq!(set.previous[0].valid_until, now + 60_000);
        let body = b"{}";
        let signed = |key: &SharedSecret, at: i64| key.sign("msg_1", at / 1000, body);
        let check = |signature: &str, at: i64| {
            let headers = SignatureHeaders {
                id: Some("msg_1"),
                timestamp: Some(&(at / 1000).to_string()),
                signature: Some(signature),
            };
            set.verify(headers, body, at)
        };
        let during = now + 59_000;
        assert_eq!(check(&signed(&old_key, during), during).unwrap(), "msg_1");
        assert_eq!(check(&signed(&new_key, during), during).unwrap(), "msg_1");
        let after = now + 61_000;
        let error = check(&signed(&old_key, after), after).unwrap_err();
        assert!(matches!(error, SignatureError::Rotated { .. }), "{error}");
        assert!(error.to_string().contains("rotated"), "{error}");
        assert_eq!(check(&signed(&new_key, after), after).unwrap(), "msg_1");
        let (stranger, _) = shared();
        let error = check(&signed(&stranger, after), after).unwrap_err();
        assert_eq!(error, SignatureError::NoSharedMatch);

        let text = set.to_text();
        assert_eq!(SecretSet::from_text(&text).unwrap(), set);
        let pruned = set
            .clone()
            .pruned(now + 60_000 + RECOGNISED_FOR.as_millis() as i64);
        assert!(pruned.previous.is_empty());
        let views = set.views(after, false);
        assert_eq!(views[1].state, SecretState::Retired);
        assert!(!format!("{views:?}").contains(&old.expose()[6..]));
    }

    #[test]
    fn making_a_previous_secret_current_again_removes_it_from_the_previous_list() {
        let (_, a) = shared();
        let (_, b) = shared();
        let grace = Duration::from_secs(60);
        let once = SecretSet::rotated(Some(&SecretSet::single(a.clone())), b.clone(), 0, grace);
        let back = SecretSet::rotated(Some(&once), a.clone(), 1, grace);
        assert_eq!(back.current, a);
        assert_eq!(back.previous.len(), 1);
        assert_eq!(back.previous[0].secret, b);
        let same = SecretSet::rotated(Some(&back), a.clone(), 2, grace);
        assert_eq!(
            same, back,
            "registering the current secret again changes nothing"
        );
    }

    #[test]
    fn the_old_single_line_file_still_reads_and_bad_lines_do_not_quote_the_secret() {
        let (_, a) = shared();
        let set = SecretSet::from_text(&format!("{}\n", a.expose())).unwrap();
        assert_eq!(set, SecretSet::single(a.clone()));
        let error = SecretSet::from_text(&format!("{}\nnext {}\n", a.expose(), a.expose()))
            .unwrap_err()
            .to_string();
        assert!(!error.contains(&a.expose()), "{error}");
    }
}
