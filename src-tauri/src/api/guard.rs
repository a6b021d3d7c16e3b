//! Who may call the UI API: Host and Origin must name the UI listener, and the run's token must
//! come with the request (in the query once, then in the cookie that sets, or as a bearer token).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::error::refuse;

const COOKIE: &str = "kyc_monitor_ui";

/// The UI listener's address and this run's token.
#[derive(Debug, Clone)]
pub struct UiAccess {
    token: String,
    local_addr: SocketAddr,
    allowed_hosts: Vec<String>,
}

impl UiAccess {
    /// Access to the UI listening at `local_addr`, with a fresh random token.
    pub fn new(local_addr: SocketAddr) -> UiAccess {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let port = local_addr.port();
        UiAccess {
            token: hex::encode(random),
            local_addr,
            allowed_hosts: vec![
                local_addr.to_string(),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ],
        }
    }

    /// The per-run secret in the `ui:` URL.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn matches(&self, candidate: &str) -> bool {
        bool::from(candidate.as_bytes().ct_eq(self.token.as_bytes()))
    }
}

pub(super) async fn guard(
    State(access): State<Arc<UiAccess>>,
    request: Request,
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
    let mut response = next.run(request).await;
    if from_query && !from_cookie {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            access.token
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
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
