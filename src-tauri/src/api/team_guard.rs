//! The UI API's guard in team mode: every request but the sign-in's own is made by a person
//! (the session, or the trusted proxy's headers), whose [`Actor`] it hands to the handlers as
//! an extension; a state-changing request must also carry the session's CSRF token and come
//! from the public UI's origin.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::error::refuse;
use super::sign_in::{CsrfToken, CurrentSession, CSRF_HEADER, LOGIN_PATH, SESSION_PATH};
use crate::auth::pages::page;
use crate::auth::sessions::{set_cookie, SESSION_COOKIE};
use crate::auth::{Refusal, TeamAuth};
use crate::config::team::{SignIn, SESSION_ABSOLUTE};

/// The pages that sign people in, reached without a session.
const OPEN_PATHS: [&str; 3] = [LOGIN_PATH, "/auth/callback", "/auth/signed-out"];

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(super) async fn guard(
    State(team): State<Arc<TeamAuth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(team.clone());
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
        Err(Refusal::NoRole { user, .. }) => {
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
    // Behind a proxy, the page asks for its CSRF token here: it gets a session to hold one.
    if session.is_none() && path == SESSION_PATH {
        match team.sessions.start(&identity.actor).await {
            Ok(secret) => {
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
    if changes_state(request.method()) {
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
    request.extensions_mut().insert(identity.actor);
    if let Some(token) = csrf {
        request.extensions_mut().insert(CsrfToken(token));
    }
    if let Some(secret) = session {
        request.extensions_mut().insert(CurrentSession(secret));
    }
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
