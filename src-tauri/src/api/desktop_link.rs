//! A desktop app signing in to a team monitor through the system browser (RFC 8252, see
//! `auth/desktop.rs`): `GET /auth/desktop` starts the provider's sign-in for the app's loopback
//! address, the callback (`sign_in.rs`) sends the browser back there with a one-time code, and
//! `POST /auth/desktop/token` trades the code and its PKCE verifier for a session secret. The
//! session starts, and is audited as a sign-in, at that trade.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

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

/// Starts the provider's sign-in for a desktop app waiting at its loopback address.
pub(super) async fn begin(
    team: Option<Extension<Arc<TeamAuth>>>,
    Query(query): Query<DesktopQuery>,
) -> Response {
    let Some(Extension(team)) = team.filter(|t| t.oidc.is_some()) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this monitor has no sign-in of its own for apps (it runs without --auth oidc)",
        );
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

/// Trades a one-time code and its verifier for a session of the desktop app.
pub(super) async fn token(
    State(monitor): State<Arc<Monitor>>,
    team: Option<Extension<Arc<TeamAuth>>>,
    client: ClientAddress,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Response {
    let Some(Extension(team)) = team.filter(|t| t.oidc.is_some()) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this monitor has no sign-in of its own for apps (it runs without --auth oidc)",
        );
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
