//! A desktop app signing in to a team monitor through the system browser (RFC 8252, see
//! `auth/desktop.rs`): `GET /auth/desktop` starts the provider's sign-in for the app's loopback
//! address, the callback (`sign_in.rs`) asks the person whether the app may sign in as them,
//! [`confirm`] sends the browser on to the app with a one-time code when they say yes, and
//! `POST /auth/desktop/token` trades the code and its PKCE verifier for a session secret. The
//! session starts, and is audited as a sign-in, at that trade.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::{Deserialize, Serialize};

use super::client::ClientAddress;
use super::error::refuse;
use super::sign_in::{audit_entry, to_provider};
use crate::access::{AuditAction, AuditOutcome, Role};
use crate::auth::desktop::{DesktopQuery, TokenRequest};
use crate::auth::pages::page;
use crate::auth::TeamAuth;
use crate::monitor::Monitor;

/// What `POST /auth/desktop/token` answers: the secret to send as `Authorization: Bearer`, and
/// who it signs in.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesktopSession {
    pub session: String,
    pub user: String,
    pub name: String,
    pub role: Role,
}

/// The team monitor's sign-in, when it has one of its own for apps (`--auth oidc`).
fn signing_in_apps(team: Option<Extension<Arc<TeamAuth>>>) -> Option<Arc<TeamAuth>> {
    team.map(|Extension(team)| team)
        .filter(|team| team.oidc.is_some())
}

/// The answer of every app sign-in route on a monitor without one.
fn no_app_sign_in() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "this monitor has no sign-in of its own for apps (it runs without --auth oidc)",
    )
}

/// Starts the provider's sign-in for a desktop app waiting at its loopback address.
pub(super) async fn begin(
    team: Option<Extension<Arc<TeamAuth>>>,
    Query(query): Query<DesktopQuery>,
) -> Response {
    let Some(team) = signing_in_apps(team) else {
        return no_app_sign_in();
    };
    let request = match query.check() {
        Ok(request) => request,
        Err(sentence) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Not a desktop sign-in",
                &sentence,
                ("/", "Open the monitor"),
            )
        }
    };
    let rp = team.oidc.as_ref().expect("checked above");
    match rp.begin().await {
        Ok(start) => {
            team.desktop.begin(&start.browser, request);
            to_provider(&start, team.config.secure_cookies())
        }
        Err(error) => {
            tracing::warn!(%error, "a desktop sign-in could not start");
            page(
                StatusCode::BAD_GATEWAY,
                "Sign-in is not available",
                &format!("{error}. Try again from the app."),
                ("/", "Open the monitor"),
            )
        }
    }
}

/// The confirmation page's form.
#[derive(Debug, Deserialize)]
pub(super) struct Confirmation {
    token: Option<String>,
    answer: Option<String>,
}

/// The person's answer to "Sign in the app as you?": yes sends the browser on to the app with
/// its one-time code; anything else signs nobody in, and is audited.
pub(super) async fn confirm(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    client: ClientAddress,
    form: Result<Form<Confirmation>, FormRejection>,
) -> Response {
    let Some(team) = signing_in_apps(team) else {
        return no_app_sign_in();
    };
    let held = form
        .ok()
        .and_then(|Form(confirmation)| Some((confirmation.token?, confirmation.answer)))
        .and_then(|(token, answer)| Some((team.desktop.take_held(&token)?, answer)));
    let Some(((request, actor), answer)) = held else {
        return page(
            StatusCode::BAD_REQUEST,
            "This app sign-in has ended",
            "It is unknown, already answered, or older than 10 minutes; nobody was signed in. Start it again from the app.",
            ("/", "Open the monitor"),
        );
    };
    if answer.as_deref() == Some("yes") {
        let back = team.desktop.issue(request, actor);
        return Redirect::to(back.as_str()).into_response();
    }
    monitor.audit(audit_entry(
        &actor.id,
        Some(actor.role),
        AuditAction::SignInFailed,
        &actor.id,
        &client,
        AuditOutcome::Refused,
        format!(
            "desktop app: the person cancelled the sign-in of the app at {}",
            request.app_origin()
        ),
    ));
    page(
        StatusCode::OK,
        "The app was not signed in",
        "Nobody was signed in. If you did not start this from the KYC Monitor app, someone may have sent you the link to sign their program in as you: tell whoever runs the monitor.",
        ("/", "Open the monitor"),
    )
}

/// Trades a one-time code and its verifier for a session of the desktop app.
pub(super) async fn token(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    client: ClientAddress,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Response {
    let Some(team) = signing_in_apps(team) else {
        return no_app_sign_in();
    };
    let Ok(Json(asked)) = body else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "send JSON {\"code\": \"...\", \"code_verifier\": \"...\"}",
        );
    };
    let actor = match team.desktop.redeem(&asked.code, &asked.code_verifier) {
        Ok(actor) => actor,
        Err(refused) => {
            monitor.audit(audit_entry(
                "unknown",
                None,
                AuditAction::SignInFailed,
                "",
                &client,
                AuditOutcome::Refused,
                format!("desktop app: {}", refused.sentence()),
            ));
            return refuse(StatusCode::BAD_REQUEST, refused.sentence());
        }
    };
    match team.sessions.start(&actor).await {
        Ok(secret) => {
            monitor.audit(audit_entry(
                &actor.id,
                Some(actor.role),
                AuditAction::SignIn,
                &actor.id,
                &client,
                AuditOutcome::Ok,
                "desktop app".into(),
            ));
            Json(DesktopSession {
                session: secret.cookie_value(),
                user: actor.id,
                name: actor.name,
                role: actor.role,
            })
            .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "a session could not be kept");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the monitor could not keep the session (its log says why); sign in again in a moment",
            )
        }
    }
}
