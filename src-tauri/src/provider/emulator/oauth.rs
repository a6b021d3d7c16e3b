//! The token endpoint (an OAuth client assertion exchanged for a bearer token) and the check of
//! the bearer tokens it issued.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::json;

use super::{provider_error, Shared};
use crate::provider::jwt::MAX_ASSERTION_LIFETIME_SECS;
use crate::time::now_millis;

/// How long the emulator's bearer tokens live, as the provider's do.
pub const TOKEN_LIFETIME_SECS: u64 = 180;
/// How far an assertion's `iat` may be ahead of this clock.
const CLOCK_SKEW_SECS: i64 = 60;

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials".into(),
        );
    }
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_assertion_type must be the JWT bearer type".into(),
        );
    }
    if field("audience") != shared.api_base {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("audience must be {}", shared.api_base),
        );
    }
    let claims = match shared.config.public_key.verify(field("client_assertion")) {
        Ok(claims) => claims,
        Err(error) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                error.to_string(),
            )
        }
    };
    let now = now_millis() / 1000;
    let refusal = if claims.iss != shared.config.client_id || claims.sub != claims.iss {
        Some("unknown client: iss and sub must both be the client id".to_owned())
    } else if claims.aud != shared.token_url {
        Some(format!("the assertion's aud must be {}", shared.token_url))
    } else if claims.exp <= now {
        Some("the assertion has expired".to_owned())
    } else if claims.iat > now + CLOCK_SKEW_SECS {
        Some("the assertion is issued in the future".to_owned())
    } else if claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECS {
        Some("the assertion lives longer than 5 minutes".to_owned())
    } else {
        let mut used = shared.used_jti.lock().expect("jti lock");
        used.retain(|_, exp| *exp > now);
        if used.insert(claims.jti.clone(), claims.exp).is_some() {
            Some("the assertion's jti was already used".to_owned())
        } else {
            None
        }
    };
    if let Some(description) = refusal {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    }
    let bearer = shared.random_hex(24);
    shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
    shared.tokens.lock().expect("tokens lock").insert(
        bearer.clone(),
        Instant::now() + Duration::from_secs(TOKEN_LIFETIME_SECS),
    );
    Json(json!({"access_token": bearer, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS}))
        .into_response()
}

pub(super) fn unauthorised() -> Response {
    provider_error(
        StatusCode::UNAUTHORIZED,
        16,
        "missing or expired bearer token",
    )
}

/// Whether the request carries a bearer token this emulator issued and that has not expired.
pub(super) fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.is_some_and(|bearer| {
        let mut tokens = shared.tokens.lock().expect("tokens lock");
        tokens.retain(|_, expiry| *expiry > Instant::now());
        tokens.contains_key(bearer)
    })
}

fn oauth_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}
