//! The desktop app as a native app of a team monitor (RFC 8252): it opens
//! `/auth/desktop?redirect_uri=http://127.0.0.1:PORT/...&state=..&code_challenge=..` in the
//! system browser, the person signs in at the OpenID Provider as in the browser, says the app
//! is theirs (a link made by someone else must not hand the session to that someone's program
//! on the same computer), and the monitor sends the browser back to that loopback address with
//! a one-time code. The app
//! trades the code and its PKCE verifier at `POST /auth/desktop/token` for a session secret,
//! which it sends as `Authorization: Bearer`. Only loopback IP literals are accepted as the
//! return address (any port: the app binds a fresh one each time); a code is used once and
//! lasts [`CODE_LIFETIME`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::{Host, Url};

use crate::access::Actor;

/// How long a code sent back to the app can be traded for a session.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a desktop sign-in may take at the provider (as a browser's).
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins and codes kept at once; past this the oldest go.
const MOST_KEPT: usize = 1_000;

/// `GET /auth/desktop`'s query, as the app sends it.
#[derive(Debug, Default, Deserialize)]
pub struct DesktopQuery {
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked desktop sign-in: where to send the browser back, with what.
#[derive(Debug, Clone)]
pub struct DesktopRequest {
    redirect_uri: Url,
    state: String,
    challenge: String,
}

impl DesktopRequest {
    /// Where the app waits, as the confirmation page names it (`http://127.0.0.1:50123`).
    pub fn app_origin(&self) -> String {
        self.redirect_uri.origin().ascii_serialization()
    }
}

/// `POST /auth/desktop/token`'s body.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub code: String,
    pub code_verifier: String,
}

impl DesktopQuery {
    /// The request, or a sentence saying what is wrong with it.
    pub fn check(self) -> Result<DesktopRequest, String> {
        let uri = self
            .redirect_uri
            .ok_or("redirect_uri is missing: the app's loopback address, http://127.0.0.1:PORT/")?;
        let redirect_uri = loopback_uri(&uri)?;
        let state = self.state.unwrap_or_default();
        if state.is_empty() || state.len() > 200 || !state.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("state must be 1 to 200 printable characters".into());
        }
        if self.code_challenge_method.as_deref() != Some("S256") {
            return Err("code_challenge_method must be S256".into());
        }
        let challenge = self.code_challenge.unwrap_or_default();
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if challenge.len() != 43 || !challenge.bytes().all(base64url) {
            return Err(
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"
                    .into(),
            );
        }
        Ok(DesktopRequest {
            redirect_uri,
            state,
            challenge,
        })
    }
}

/// `uri` when it is a loopback address the app can listen on: `http`, the IP literal
/// 127.0.0.1 or ::1 (not the name `localhost`, RFC 8252 §8.3), an explicit port, nothing else.
fn loopback_uri(uri: &str) -> Result<Url, String> {
    let refused = || {
        format!(
            "redirect_uri must be the app's loopback address (http://127.0.0.1:PORT/...): {} is not",
            printable(uri)
        )
    };
    let url = Url::parse(uri).map_err(|_| refused())?;
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    if url.scheme() != "http" || !loopback || url.port().is_none() || !plain {
        return Err(refused());
    }
    Ok(url)
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

struct Issued {
    actor: Actor,
    challenge: String,
    issued: Instant,
}

/// A sign-in the person has finished at the provider, waiting for them to say the app is theirs.
struct Held {
    request: DesktopRequest,
    actor: Actor,
    held: Instant,
}

/// Desktop sign-ins under way and the codes sent back to the apps.
#[derive(Default)]
pub struct DesktopSignIns {
    /// By the SHA-256 of the browser's sign-in cookie.
    pending: Mutex<HashMap<[u8; 32], (DesktopRequest, Instant)>>,
    /// By the SHA-256 of the confirmation page's token.
    held: Mutex<HashMap<[u8; 32], Held>>,
    /// By the SHA-256 of the code.
    codes: Mutex<HashMap<[u8; 32], Issued>>,
}

/// Why a code was not traded for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Unknown, already used, or too old.
    UnknownCode,
    /// The verifier does not match the challenge the app sent.
    WrongVerifier,
}

impl Refused {
    pub fn sentence(self) -> &'static str {
        match self {
            Refused::UnknownCode => "this code is unknown, already used or expired: sign in again",
            Refused::WrongVerifier => {
                "the code_verifier does not match the code_challenge: sign in again"
            }
        }
    }
}

fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn trim<V>(map: &mut HashMap<[u8; 32], V>, started: impl Fn(&V) -> Instant, lasts: Duration) {
    map.retain(|_, v| started(v).elapsed() < lasts);
    if map.len() >= MOST_KEPT {
        if let Some(oldest) = map.iter().min_by_key(|(_, v)| started(v)).map(|(k, _)| *k) {
            map.remove(&oldest);
        }
    }
}

impl DesktopSignIns {
    /// Notes that the sign-in tied to the browser cookie `browser` is the app's `request`.
    pub fn begin(&self, browser: &str, request: DesktopRequest) {
        let mut pending = self.pending.lock().expect("desktop sign-ins");
        trim(&mut pending, |(_, at)| *at, PENDING_FOR);
        pending.insert(hash(browser), (request, Instant::now()));
    }

    /// The app's request behind the sign-in of browser cookie `browser`, if it was one.
    pub fn finishing(&self, browser: Option<&str>) -> Option<DesktopRequest> {
        let mut pending = self.pending.lock().expect("desktop sign-ins");
        pending
            .remove(&hash(browser?))
            .filter(|(_, at)| at.elapsed() < PENDING_FOR)
            .map(|(request, _)| request)
    }

    /// Holds `actor`'s finished sign-in for the app of `request` until the person confirms it
    /// (a link someone else made would otherwise hand the session to that someone's program
    /// listening on this computer): the token the confirmation page sends back.
    pub fn hold(&self, request: DesktopRequest, actor: Actor) -> String {
        let token = URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>());
        let mut held = self.held.lock().expect("desktop sign-ins");
        trim(&mut held, |held| held.held, PENDING_FOR);
        held.insert(
            hash(&token),
            Held {
                request,
                actor,
                held: Instant::now(),
            },
        );
        token
    }

    /// The held sign-in of `token` (used up), to confirm or decline: who, and for which app.
    pub fn take_held(&self, token: &str) -> Option<(DesktopRequest, Actor)> {
        self.held
            .lock()
            .expect("desktop sign-ins")
            .remove(&hash(token))
            .filter(|held| held.held.elapsed() < PENDING_FOR)
            .map(|held| (held.request, held.actor))
    }

    /// A one-time code for `actor`, and the loopback address that carries it to the app.
    pub fn issue(&self, request: DesktopRequest, actor: Actor) -> Url {
        let code = URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>());
        let mut codes = self.codes.lock().expect("desktop codes");
        trim(&mut codes, |issued| issued.issued, CODE_LIFETIME);
        codes.insert(
            hash(&code),
            Issued {
                actor,
                challenge: request.challenge,
                issued: Instant::now(),
            },
        );
        let mut back = request.redirect_uri;
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &request.state);
        back
    }

    /// The person a code was issued for, when `verifier` is its PKCE verifier. The code is
    /// used up whatever the outcome.
    pub fn redeem(&self, code: &str, verifier: &str) -> Result<Actor, Refused> {
        self.redeem_at(code, verifier, Instant::now())
    }

    fn redeem_at(&self, code: &str, verifier: &str, now: Instant) -> Result<Actor, Refused> {
        let issued = self
            .codes
            .lock()
            .expect("desktop codes")
            .remove(&hash(code))
            .filter(|issued| now.saturating_duration_since(issued.issued) < CODE_LIFETIME)
            .ok_or(Refused::UnknownCode)?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(challenge.as_bytes().ct_eq(issued.challenge.as_bytes())) {
            return Err(Refused::WrongVerifier);
        }
        Ok(issued.actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;

    fn query(uri: &str) -> DesktopQuery {
        DesktopQuery {
            redirect_uri: Some(uri.into()),
            state: Some("s1".into()),
            code_challenge: Some(URL_SAFE_NO_PAD.encode(Sha256::digest(b"verifier"))),
            code_challenge_method: Some("S256".into()),
        }
    }

    #[test]
    fn only_loopback_ip_literals_with_a_port_are_return_addresses() {
        for good in [
            "http://127.0.0.1:4711/done",
            "http://[::1]:8080/",
            "http://127.0.0.1:65535/a?b=c",
        ] {
            assert!(query(good).check().is_ok(), "{good}");
        }
        for bad in [
            "https://127.0.0.1:4711/",
            "http://localhost:4711/",
            "http://127.0.0.1/",
            "http://example.com:4711/",
            "http://user@127.0.0.1:4711/",
            "http://127.0.0.1:4711/#x",
            "http://10.0.0.1:4711/",
            "not a url",
        ] {
            let error = query(bad).check().unwrap_err();
            assert!(error.contains("loopback"), "{bad}: {error}");
        }
        let mut plain = query("http://127.0.0.1:1/");
        plain.code_challenge_method = Some("plain".into());
        assert!(plain.check().unwrap_err().contains("S256"));
    }

    #[test]
    fn a_code_is_traded_once_with_its_verifier_and_not_after_it_expires() {
        let links = DesktopSignIns::default();
        let request = query("http://127.0.0.1:4711/done").check().unwrap();
        let actor = Actor {
            id: "alice@example.com".into(),
            name: "Alice".into(),
            role: Role::Admin,
        };
        let code_of = |url: Url| {
            let pairs: HashMap<_, _> = url.query_pairs().into_owned().collect();
            assert_eq!(pairs["state"], "s1");
            pairs["code"].clone()
        };
        let code = code_of(links.issue(request.clone(), actor.clone()));
        assert_eq!(links.redeem(&code, "verifier").unwrap().id, actor.id);
        assert_eq!(links.redeem(&code, "verifier"), Err(Refused::UnknownCode));

        let code = code_of(links.issue(request.clone(), actor.clone()));
        assert_eq!(links.redeem(&code, "other"), Err(Refused::WrongVerifier));
        assert_eq!(links.redeem(&code, "verifier"), Err(Refused::UnknownCode));

        let code = code_of(links.issue(request, actor));
        let later = Instant::now() + CODE_LIFETIME;
        assert_eq!(
            links.redeem_at(&code, "verifier", later),
            Err(Refused::UnknownCode)
        );
    }
}
