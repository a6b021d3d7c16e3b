//! The UI API's guard in team mode: every request but the sign-in's own is made by a person
//! (the session, or the trusted proxy's headers), whose [`Actor`] it hands to the handlers as
//! an extension; a state-changing request must also carry the session's CSRF token and come
//! from the public UI's origin. A live feed ends when the session it was opened with does.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::client::ClientAddress;
use super::error::refuse;
use super::sign_in::{
    audit_entry, CsrfToken, CurrentSession, CSRF_HEADER, DESKTOP_CONFIRM_PATH, DESKTOP_PATH,
    DESKTOP_TOKEN_PATH, LOGIN_PATH, SESSION_PATH,
};
use crate::access::{AuditAction, AuditOutcome};
use crate::auth::pages::page;
use crate::auth::sessions::{set_cookie, SessionSecret, SESSION_COOKIE};
use crate::auth::{Refusal, TeamAuth};
use crate::config::team::{SignIn, SESSION_ABSOLUTE};
use crate::monitor::Monitor;

/// The pages that sign people in, reached without a session.
const OPEN_PATHS: [&str; 6] = [
    LOGIN_PATH,
    "/auth/callback",
    "/auth/signed-out",
    DESKTOP_PATH,
    DESKTOP_TOKEN_PATH,
    DESKTOP_CONFIRM_PATH,
];

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(super) async fn guard(
    State((team, monitor)): State<(Arc<TeamAuth>, Arc<Monitor>)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(team.clone());
    let proxy = match &team.config.sign_in {
        SignIn::Proxy(proxy) => Some(proxy),
        SignIn::Oidc(_) => None,
    };
    let client = ClientAddress::of(peer.ip(), request.headers(), proxy);
    request.extensions_mut().insert(client.clone());
    let path = request.uri().path().to_owned();
    let is_api = path.starts_with("/api/") || path == "/api";
    let oidc = matches!(team.config.sign_in, SignIn::Oidc(_));
    if oidc && OPEN_PATHS.contains(&path.as_str()) {
        return next.run(request).await;
    }
    let identity = match team.identify(peer.ip(), request.headers()).await {
        Ok(identity) => identity,
        Err(Refusal::NotSignedIn(sentence)) => {
            // A page load in the browser goes to sign in; anything else is told.
            if oidc && !is_api && request.method() == Method::GET {
                return Redirect::to(LOGIN_PATH).into_response();
            }
            if is_api {
                return refuse(StatusCode::UNAUTHORIZED, sentence);
            }
            return page(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                sentence,
                ("/", "Open the monitor"),
            );
        }
        Err(Refusal::NoRole { user, groups }) => {
            // A browser's sign-in through the proxy (a page, or the page asking who it is) is
            // recorded; the API calls that page would go on to make are not, one by one.
            if !is_api || path == SESSION_PATH {
                monitor.audit(audit_entry(
                    &user,
                    None,
                    AuditAction::SignInFailed,
                    &user,
                    &client,
                    AuditOutcome::Refused,
                    format!(
                        "no-role: groups [{}]",
                        crate::access::spelled_out(&groups.join(", "))
                    ),
                ));
            }
            let sentence = format!("{user} is signed in, but none of their groups has a role in this monitor: ask its admin to map one of them with --role");
            if is_api {
                return refuse(StatusCode::FORBIDDEN, &sentence);
            }
            return page(
                StatusCode::FORBIDDEN,
                "No role here",
                &sentence,
                ("/", "Try again"),
            );
        }
        Err(Refusal::Unavailable) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the monitor cannot read its sessions just now; its log says why",
            )
        }
    };
    let mut session = identity.session;
    let mut new_cookie = None;
    // Behind a proxy, the page asks for its CSRF token here: it gets a session to hold one, and
    // that is its sign-in (once per session, not per request).
    if session.is_none() && path == SESSION_PATH {
        match team.sessions.start(&identity.actor).await {
            Ok(secret) => {
                let actor = &identity.actor;
                monitor.audit(audit_entry(
                    &actor.id,
                    Some(actor.role),
                    AuditAction::SignIn,
                    &actor.id,
                    &client,
                    AuditOutcome::Ok,
                    "through the sign-in proxy".into(),
                ));
                new_cookie = Some(set_cookie(
                    SESSION_COOKIE,
                    &secret.cookie_value(),
                    "/",
                    Some(SESSION_ABSOLUTE.as_secs()),
                    team.config.secure_cookies(),
                ));
                session = Some(secret);
            }
            Err(error) => {
                tracing::error!(%error, "a session could not be kept");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the monitor cannot keep a session just now; its log says why",
                );
            }
        }
    }
    let csrf = session.as_ref().map(|s| s.csrf_token());
    // A desktop app's bearer is no ambient credential: a page elsewhere cannot make a browser
    // send it, so there is no cross-site request to guard against.
    if changes_state(request.method()) && !identity.bearer {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if origin != Some(team.config.public_origin().as_str()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "requests that change something must come from the monitor's own page (its Origin)",
            );
        }
        let given = request
            .headers()
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        let matches = csrf
            .as_ref()
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(given)));
        if !matches {
            return refuse(
                StatusCode::FORBIDDEN,
                "this request lacks the session's CSRF token (X-CSRF-Token, from GET /api/session); reload the page",
            );
        }
    }
    let user = identity.actor.id.clone();
    request.extensions_mut().insert(identity.actor);
    if let Some(token) = csrf {
        request.extensions_mut().insert(CsrfToken(token));
    }
    // Subscribed before the request runs, so that an ending while the feed opens is not missed.
    let endings = session.as_ref().map(|_| team.sessions.endings());
    let held = session.clone();
    if let Some(secret) = session {
        request.extensions_mut().insert(CurrentSession(secret));
    }
    let mut response = next.run(request).await;
    if let (Some(endings), Some(secret)) = (endings, held) {
        response = ends_with_session(response, endings, secret, user);
    }
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A live feed lasts only as long as the session it was opened with: signing out, or an admin
/// ending the person's sessions, ends it (as a new UI link ends the feeds of the old token).
/// The browser then asks again and is told to sign in.
fn ends_with_session(
    response: Response,
    mut endings: tokio::sync::broadcast::Receiver<crate::auth::sessions::Ended>,
    secret: SessionSecret,
    user: String,
) -> Response {
    let is_feed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    if !is_feed {
        return response;
    }
    let ended = async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match endings.recv().await {
                Ok(ended) if ended.ends(&secret, &user) => return,
                Ok(_) => continue,
                // Missed endings may have held this one: the browser opens the feed again,
                // and gets it back while the session lasts.
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    response.map(|body| {
        axum::body::Body::from_stream(futures_util::StreamExt::take_until(
            body.into_data_stream(),
            Box::pin(ended),
        ))
    })
}
