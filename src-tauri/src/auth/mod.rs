//! Team mode's sign-in: who a request comes from, through an OpenID Provider's sign-in and the
//! session it opens (`oidc`), or through a trusted reverse proxy's headers (`proxy`), and the
//! role their groups give them. What the HTTP layer does with it lives in `api/`.

pub mod desktop;
pub mod oidc;
pub mod pages;
pub mod sessions;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::access::Actor;
use crate::config::team::{SignIn, TeamConfig};
use crate::monitor::Monitor;
use oidc::RelyingParty;
use sessions::{cookie, SessionSecret, Sessions, SESSION_COOKIE};

/// Team mode's state: its configuration, the sessions and the OpenID Provider (if any).
pub struct TeamAuth {
    pub config: TeamConfig,
    pub sessions: Sessions,
    pub oidc: Option<RelyingParty>,
    /// Desktop apps signing in through the system browser (`/auth/desktop`).
    pub desktop: desktop::DesktopSignIns,
}

/// Who a request comes from, with the session it carries (if any).
pub struct Identity {
    pub actor: Actor,
    pub session: Option<SessionSecret>,
    /// Whether the session came as `Authorization: Bearer` (a desktop app), not as a cookie: no
    /// browser sends that header on its own, so such a request needs no CSRF token.
    pub bearer: bool,
}

/// Why a request has no identity.
#[derive(Debug)]
pub enum Refusal {
    /// Nobody is signed in (or not from where they could be believed): the sentence says which.
    NotSignedIn(&'static str),
    /// Someone is, but none of their groups has a role here.
    NoRole { user: String, groups: Vec<String> },
    /// The sessions could not be read; the log says why.
    Unavailable,
}

/// Why team sign-in cannot be set up from its configuration, in a sentence naming the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl TeamAuth {
    pub fn new(config: TeamConfig, monitor: &Monitor) -> Result<TeamAuth, SetupError> {
        let oidc = match &config.sign_in {
            SignIn::Oidc(oidc) => Some(RelyingParty::new(oidc.clone(), &config.public_ui_url)?),
            SignIn::Proxy(_) => None,
        };
        Ok(TeamAuth {
            sessions: Sessions::new(
                monitor.readers(),
                monitor.writer().clone(),
                config.session_idle,
            ),
            config,
            oidc,
            desktop: Default::default(),
        })
    }

    pub fn new_shared(config: TeamConfig, monitor: &Monitor) -> Result<Arc<TeamAuth>, SetupError> {
        TeamAuth::new(config, monitor).map(Arc::new)
    }

    /// The session secret a request's cookie carries, if it is well formed.
    pub fn session_secret(headers: &HeaderMap) -> Option<SessionSecret> {
        cookie(headers, SESSION_COOKIE).and_then(SessionSecret::from_cookie)
    }

    /// The session secret a desktop app sends as `Authorization: Bearer`, if any (`Some(None)`:
    /// a bearer that is not one of this monitor's sessions).
    pub fn bearer_secret(headers: &HeaderMap) -> Option<Option<SessionSecret>> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let token = value.strip_prefix("Bearer ")?;
        Some(SessionSecret::from_cookie(token.trim()))
    }

    /// The person behind a request from `peer`.
    pub async fn identify(&self, peer: IpAddr, headers: &HeaderMap) -> Result<Identity, Refusal> {
        // A bearer of ours, when there is one, is what the request means: a cookie beside it is
        // not used. Another kind (a proxy passing its own token on) leaves the cookie's say.
        let (secret, bearer) = match TeamAuth::bearer_secret(headers) {
            Some(Some(secret)) => (Some(secret), true),
            _ => (TeamAuth::session_secret(headers), false),
        };
        let signed_in = match &secret {
            Some(secret) => self.sessions.resolve(secret).await.map_err(|error| {
                tracing::error!(%error, "the sessions cannot be read");
                Refusal::Unavailable
            })?,
            None => None,
        };
        let SignIn::Proxy(proxy) = &self.config.sign_in else {
            return match signed_in {
                Some(actor) => Ok(Identity {
                    actor,
                    session: secret,
                    bearer,
                }),
                None => Err(Refusal::NotSignedIn("sign in first: open /auth/login")),
            };
        };
        if !proxy.trusts(peer) {
            return Err(Refusal::NotSignedIn(
                "this monitor is reached through its sign-in proxy only",
            ));
        }
        // A header given twice is refused, not read first-wins: a proxy that appends its own
        // value to one the client sent would otherwise let the client's say who asks, or with
        // what groups.
        for name in [&proxy.user_header, &proxy.groups_header] {
            if headers.get_all(name.as_str()).iter().nth(1).is_some() {
                return Err(Refusal::NotSignedIn(
                    "the sign-in proxy's identity headers came more than once, so who is asking cannot be told",
                ));
            }
        }
        let header_text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .unwrap_or("")
                .to_owned()
        };
        let user = header_text(&proxy.user_header);
        // Several values joined by a comma (a proxy that merges a header the client sent with
        // its own) name nobody for certain.
        if user.contains(',') {
            return Err(Refusal::NotSignedIn(
                "the sign-in proxy's user header holds several values, so who is asking cannot be told",
            ));
        }
        if user.is_empty() {
            return Err(Refusal::NotSignedIn(
                "the sign-in proxy did not say who is asking",
            ));
        }
        if crate::access::identity_refusal(&user).is_some() {
            return Err(Refusal::NotSignedIn(
                "the sign-in proxy's user header is too long or holds a character that is not shown, so who is asking cannot be told",
            ));
        }
        let groups: Vec<String> = header_text(&proxy.groups_header)
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        let Some(role) = self
            .config
            .roles
            .role_for(groups.iter().map(String::as_str))
        else {
            return Err(Refusal::NoRole { user, groups });
        };
        // The proxy vouches for every request; a session (for its CSRF token) counts only
        // when it is this person's.
        let session = secret.filter(|_| signed_in.as_ref().is_some_and(|s| s.id == user));
        let bearer = bearer && session.is_some();
        Ok(Identity {
            actor: Actor {
                name: user.clone(),
                id: user,
                role,
            },
            session,
            bearer,
        })
    }
}
