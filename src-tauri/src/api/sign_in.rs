//! Signing in and out over HTTP: `/auth/login` and `/auth/callback` (the OpenID Provider's
//! code flow), `/auth/logout`, `GET /api/session` (who is signed in and their CSRF token, in
//! single-person mode too), and `POST /api/sessions/end` (an admin ends a person's sessions).
//! Every sign-in, failed sign-in, sign-out and ending is audited.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::client::ClientAddress;
use super::error::refuse;
use crate::access::{Actor, AuditAction, AuditEntry, AuditOutcome, Role};
use crate::auth::oidc::{Callback, SignInError};
use crate::auth::pages::{confirm_app, page};
use crate::auth::sessions::{cookie, set_cookie, SessionSecret, SESSION_COOKIE};
use crate::auth::TeamAuth;
use crate::config::team::SESSION_ABSOLUTE;
use crate::monitor::Monitor;

pub(super) const LOGIN_PATH: &str = "/auth/login";
pub(super) const SESSION_PATH: &str = "/api/session";
pub(super) const CSRF_HEADER: &str = "x-csrf-token";
pub(super) const DESKTOP_PATH: &str = "/auth/desktop";
pub(super) const DESKTOP_TOKEN_PATH: &str = "/auth/desktop/token";
pub(super) const DESKTOP_CONFIRM_PATH: &str = "/auth/desktop/confirm";
/// Ties a started sign-in to the browser that started it.
pub(super) const LOGIN_COOKIE: &str = "kyc_monitor_login";
pub(super) const LOGIN_COOKIE_SECONDS: u64 = 600;

/// The CSRF token of the request's session, for `GET /api/session`.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The session the request came with (team mode), for signing out.
#[derive(Debug, Clone)]
pub(super) struct CurrentSession(pub SessionSecret);

/// Who is signed in: `GET /api/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub user: String,
    pub name: String,
    pub role: Role,
    pub csrf_token: String,
    /// Whether people sign in to this monitor (team mode); alone, the one user is the local
    /// admin and there is nothing to sign out of.
    pub team: bool,
}

/// `POST /api/sessions/end`.
#[derive(Debug, Clone, Deserialize)]
pub struct EndSessions {
    pub user: String,
}

/// What `POST /api/sessions/end` ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionsEnded {
    pub user: String,
    pub ended: u32,
}

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new()
        .route(LOGIN_PATH, get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/auth/signed-out", get(signed_out))
        .route(DESKTOP_PATH, get(super::desktop_link::begin))
        .route(DESKTOP_TOKEN_PATH, post(super::desktop_link::token))
        .route(DESKTOP_CONFIRM_PATH, post(super::desktop_link::confirm))
}

pub(super) async fn session(
    Extension(actor): Extension<Actor>,
    csrf: Option<Extension<CsrfToken>>,
    team: Option<Extension<Arc<TeamAuth>>>,
) -> Json<SessionView> {
    Json(SessionView {
        user: actor.id,
        name: actor.name,
        role: actor.role,
        csrf_token: csrf.map(|Extension(token)| token.0).unwrap_or_default(),
        team: team.is_some(),
    })
}

/// An audit entry of signing in and out, from `client`.
pub(super) fn audit_entry(
    actor: &str,
    role: Option<Role>,
    action: AuditAction,
    target: &str,
    client: &ClientAddress,
    outcome: AuditOutcome,
    detail: String,
) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        role,
        action,
        target: target.to_owned(),
        remote_addr: client.0.clone(),
        outcome,
        detail,
    }
}

/// Starts a sign-in at the OpenID Provider.
async fn login(team: Option<Extension<Arc<TeamAuth>>>) -> Response {
    let Some(rp) = team.as_ref().and_then(|Extension(team)| team.oidc.as_ref()) else {
        return refuse(StatusCode::NOT_FOUND, "there is no such route");
    };
    let secure = team.as_ref().is_some_and(|t| t.config.secure_cookies());
    match rp.begin().await {
        Ok(start) => to_provider(&start, secure),
        Err(error) => {
            tracing::warn!(%error, "a sign-in could not start");
            page(
                StatusCode::BAD_GATEWAY,
                "Sign-in is not available",
                &error.to_string(),
                (LOGIN_PATH, "Try again"),
            )
        }
    }
}

/// Sends the browser to the provider's sign-in, with the cookie that ties its answer to this
/// browser (the browser's and the desktop app's sign-ins alike).
pub(super) fn to_provider(start: &crate::auth::oidc::LoginStart, secure: bool) -> Response {
    let mut response = Redirect::to(&start.url).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &start.browser,
            "/auth",
            Some(LOGIN_COOKIE_SECONDS),
            secure,
        ),
    );
    response
}

/// The provider's answer: a session for the person when all checks out, else a page saying
/// what happened.
async fn callback(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    client: ClientAddress,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let Some(Extension(team)) = team.filter(|t| t.oidc.is_some()) else {
        return refuse(StatusCode::NOT_FOUND, "there is no such route");
    };
    let rp = team.oidc.as_ref().expect("checked above");
    let secure = team.config.secure_cookies();
    // A desktop app's sign-in (`/auth/desktop`) goes back to the app instead of opening a session here.
    let for_app = team.desktop.finishing(cookie(&headers, LOGIN_COOKIE));
    let mut response = match rp.finish(callback, cookie(&headers, LOGIN_COOKIE)).await {
        Err(error) => {
            tracing::warn!(reason = error.reason(), "a sign-in failed: {error}");
            monitor.audit(audit_entry(
                "unknown",
                None,
                AuditAction::SignInFailed,
                "",
                &client,
                AuditOutcome::Refused,
                format!("{}: {error}", error.reason()),
            ));
            failure_page(&error)
        }
        Ok(signed_in) => {
            let groups = signed_in.groups.iter().map(String::as_str);
            match team.config.roles.role_for(groups) {
                None => {
                    monitor.audit(audit_entry(
                        &signed_in.user,
                        None,
                        AuditAction::SignInFailed,
                        &signed_in.user,
                        &client,
                        AuditOutcome::Refused,
                        format!(
                            "no-role: groups [{}]",
                            crate::access::spelled_out(&signed_in.groups.join(", "))
                        ),
                    ));
                    page(
                        StatusCode::FORBIDDEN,
                        "No role here",
                        &format!("You signed in as {}, but none of your groups has a role in this monitor. Ask its admin to give one of your groups a role (--role ROLE=GROUP), then sign in again.", signed_in.user),
                        (LOGIN_PATH, "Sign in again"),
                    )
                }
                Some(role) => {
                    let actor = Actor {
                        id: signed_in.user,
                        name: signed_in.name,
                        role,
                    };
                    // The person says the app is theirs before it gets a code (see
                    // `desktop_link::confirm`).
                    if let Some(request) = for_app {
                        let (user, app) = (actor.id.clone(), request.app_origin());
                        let token = team.desktop.hold(request, actor);
                        let mut response = confirm_app(&user, &app, DESKTOP_CONFIRM_PATH, &token);
                        response.headers_mut().append(
                            header::SET_COOKIE,
                            set_cookie(LOGIN_COOKIE, "", "/auth", Some(0), secure),
                        );
                        return response;
                    }
                    match team.sessions.start(&actor).await {
                        Ok(secret) => {
                            monitor.audit(audit_entry(
                                &actor.id,
                                Some(role),
                                AuditAction::SignIn,
                                &actor.id,
                                &client,
                                AuditOutcome::Ok,
                                String::new(),
                            ));
                            let mut response = Redirect::to("/").into_response();
                            response.headers_mut().append(
                                header::SET_COOKIE,
                                set_cookie(
                                    SESSION_COOKIE,
                                    &secret.cookie_value(),
                                    "/",
                                    Some(SESSION_ABSOLUTE.as_secs()),
                                    secure,
                                ),
                            );
                            response
                        }
                        Err(error) => {
                            tracing::error!(%error, "a session could not be kept");
                            page(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "Sign-in failed",
                                "The monitor could not keep your session (its log says why). Try again in a moment.",
                                (LOGIN_PATH, "Sign in again"),
                            )
                        }
                    }
                }
            }
        }
    };
    // The started sign-in is used up, whatever came of it.
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", "/auth", Some(0), secure),
    );
    response
}

fn failure_page(error: &SignInError) -> Response {
    let (status, title) = match error {
        SignInError::ProviderUnreachable { .. } => {
            (StatusCode::BAD_GATEWAY, "Sign-in is not available")
        }
        SignInError::ProviderRefused { .. } => (StatusCode::FORBIDDEN, "Sign-in refused"),
        _ => (StatusCode::BAD_REQUEST, "Sign-in failed"),
    };
    page(
        status,
        title,
        &format!("{}: {error}. Nobody was signed in. Sign in again; if this keeps happening, tell whoever runs the monitor.", title),
        (LOGIN_PATH, "Sign in again"),
    )
}

/// Ends the request's session.
async fn logout(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    actor: Option<Extension<Actor>>,
    session: Option<Extension<CurrentSession>>,
    client: ClientAddress,
) -> Response {
    let (Some(Extension(team)), Some(Extension(actor))) = (team, actor) else {
        return refuse(StatusCode::NOT_FOUND, "there is no such route");
    };
    if let Some(Extension(CurrentSession(secret))) = session {
        if let Err(error) = team.sessions.end(&secret).await {
            tracing::error!(%error, "a session could not be ended");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the monitor cannot end the session just now; its log says why",
            );
        }
    }
    monitor.audit(audit_entry(
        &actor.id,
        Some(actor.role),
        AuditAction::SignOut,
        &actor.id,
        &client,
        AuditOutcome::Ok,
        String::new(),
    ));
    let mut response = Redirect::to("/auth/signed-out").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            "/",
            Some(0),
            team.config.secure_cookies(),
        ),
    );
    response
}

async fn signed_out(team: Option<Extension<Arc<TeamAuth>>>) -> Response {
    let again = match team.as_ref().map(|Extension(t)| t.oidc.is_some()) {
        Some(true) => LOGIN_PATH,
        _ => "/",
    };
    page(
        StatusCode::OK,
        "Signed out",
        "You are signed out of the KYC Monitor.",
        (again, "Sign in again"),
    )
}

/// An admin ends every session of a person.
pub(super) async fn end_sessions(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    Extension(actor): Extension<Actor>,
    client: ClientAddress,
    asked: Result<Json<EndSessions>, JsonRejection>,
) -> Response {
    let Some(Extension(team)) = team else {
        return refuse(
            StatusCode::NOT_FOUND,
            "there are no sessions to end: this monitor is not shared (no --auth)",
        );
    };
    let asked = asked.ok().map(|Json(asked)| asked);
    if !actor.role.allows(Role::Admin) {
        monitor.audit(audit_entry(
            &actor.id,
            Some(actor.role),
            AuditAction::RefusedByRole,
            asked.as_ref().map_or("", |asked| asked.user.as_str()),
            &client,
            AuditOutcome::Refused,
            "sessions-ended needs admin".into(),
        ));
        return refuse(
            StatusCode::FORBIDDEN,
            "only an admin may end other people's sessions",
        );
    }
    // Said like the other routes' refusals, not as the JSON parser's own words.
    let Some(asked) = asked else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "name the person whose sessions to end: send JSON {\"user\": \"...\"}",
        );
    };
    let user = asked.user.trim().to_owned();
    if user.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "name the person: {\"user\": \"...\"}",
        );
    }
    match team.sessions.end_user(&user).await {
        Ok(ended) => {
            monitor.audit(audit_entry(
                &actor.id,
                Some(actor.role),
                AuditAction::SessionsEnded,
                &user,
                &client,
                AuditOutcome::Ok,
                format!("{ended} sessions"),
            ));
            Json(SessionsEnded {
                user,
                ended: ended as u32,
            })
            .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "sessions could not be ended");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the monitor cannot end sessions just now; its log says why",
            )
        }
    }
}
