//! Who may call the UI API: Host and Origin must name the UI listener, and the UI's token must
//! come with the request (in the query once, then in the cookie that sets, or as a bearer token).
//! The token is kept in the database (an open page and a bookmark survive a restart); a new one
//! replaces it on request, after which the old link and cookies no longer get in.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use subtle::ConstantTimeEq;
use ts_rs::TS;

use super::error::refuse;
use crate::access::Actor;
use crate::monitor::CoreError;
use crate::random::hex_token;
use crate::store::{Writer, UI_TOKEN_SETTING};

const COOKIE: &str = "kyc_monitor_ui";

/// The UI listener's address and the UI's token.
pub struct UiAccess {
    token: RwLock<String>,
    local_addr: SocketAddr,
    allowed_hosts: Vec<String>,
    /// Where a new token is kept.
    writer: Arc<Writer>,
    /// Told when the token is replaced: open live feeds end, so that no page with the old
    /// token goes on receiving changes.
    replaced: tokio::sync::watch::Sender<u64>,
}

/// The UI's new link, after the old one was replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UiLink {
    pub url: String,
}

impl UiAccess {
    /// Access to the UI listening at `local_addr` with the kept `token`; `writer` keeps a new one.
    pub fn new(local_addr: SocketAddr, token: String, writer: Arc<Writer>) -> UiAccess {
        let port = local_addr.port();
        UiAccess {
            token: RwLock::new(token),
            local_addr,
            allowed_hosts: vec![
                local_addr.to_string(),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ],
            writer,
            replaced: tokio::sync::watch::channel(0).0,
        }
    }

    /// The secret in the `ui:` URL.
    pub fn token(&self) -> String {
        self.token.read().expect("the token lock").clone()
    }

    /// The link to open the UI with.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.local_addr, self.token())
    }

    /// The CSRF token `/api/session` hands out alone: derived from the token, so a page with
    /// the current link has it (the token and Origin checks already guard alone).
    fn csrf_token(&self) -> String {
        use hmac::Mac;
        let token = self.token.read().expect("the token lock");
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).expect("any key");
        mac.update(b"kyc-monitor csrf token");
        hex::encode(mac.finalize().into_bytes())
    }

    fn matches(&self, candidate: &str) -> bool {
        let token = self.token.read().expect("the token lock");
        bool::from(candidate.as_bytes().ct_eq(token.as_bytes()))
    }

    /// Makes and keeps a new token: every earlier link and cookie stops working.
    async fn replace_token(&self) -> Result<String, CoreError> {
        let token = hex_token(16);
        self.writer.set_setting(UI_TOKEN_SETTING, &token).await?;
        *self.token.write().expect("the token lock") = token.clone();
        self.replaced.send_modify(|count| *count += 1);
        Ok(token)
    }
}

fn session_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// Replaces the token and gives the page that asked the new cookie and link (the HTTP-only
/// operation `ui_link`; there is no token to replace where people sign in).
pub(super) async fn new_link(access: Option<Extension<Arc<UiAccess>>>) -> Response {
    let Some(Extension(access)) = access else {
        return CoreError::NotFound(
            "this monitor has no UI token: people sign in to it instead".into(),
        )
        .into_response();
    };
    match access.replace_token().await {
        Ok(token) => {
            let mut response = Json(UiLink { url: access.url() }).into_response();
            if let Some(cookie) = session_cookie(&token) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

pub(super) async fn guard(
    State(access): State<Arc<UiAccess>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !access.allowed_hosts.iter().any(|allowed| allowed == host) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("this UI answers only at http://{}", access.local_addr),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = access
            .allowed_hosts
            .iter()
            .any(|allowed| origin == format!("http://{allowed}"));
        if !same {
            return refuse(
                StatusCode::FORBIDDEN,
                "requests from other sites are refused",
            );
        }
    }
    let from_query = request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
        })
        .is_some_and(|token| access.matches(token));
    let from_cookie = cookie(headers, COOKIE).is_some_and(|token| access.matches(token));
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| access.matches(token));
    if !(from_query || from_cookie || from_header) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "open the UI with the link that kyc-monitor printed (the ui: line); it carries this run's token",
        );
    }
    // Single-person mode: whoever holds the token is the local user.
    request.extensions_mut().insert(Actor::local());
    request.extensions_mut().insert(access.clone());
    request
        .extensions_mut()
        .insert(super::sign_in::CsrfToken(access.csrf_token()));
    let mut replaced = access.replaced.subscribe();
    let mut response = next.run(request).await;
    let content_type = response.headers().get(header::CONTENT_TYPE);
    if content_type.is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream")) {
        // A live feed lasts only as long as the token it was opened with.
        let ended = async move {
            let _ = replaced.changed().await;
        };
        response = response.map(|body| {
            axum::body::Body::from_stream(futures_util::StreamExt::take_until(
                body.into_data_stream(),
                Box::pin(ended),
            ))
        });
    }
    if from_query && !from_cookie {
        if let Some(cookie) = session_cookie(&access.token()) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    response
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}
