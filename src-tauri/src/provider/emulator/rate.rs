//! The provider's rate limit: so many requests a second per client address, then 429 with
//! `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::{provider_error, Shared};

/// Each client address's current one-second window.
pub(super) type Windows = HashMap<IpAddr, Window>;

pub(super) struct Window {
    started: Instant,
    requests: u32,
}

pub(super) async fn limit(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = {
        let mut windows = shared.rate.lock().expect("rate lock");
        let now = Instant::now();
        let window = windows.entry(remote.ip()).or_insert(Window {
            started: now,
            requests: 0,
        });
        if now.duration_since(window.started) >= Duration::from_secs(1) {
            *window = Window {
                started: now,
                requests: 0,
            };
        }
        window.requests += 1;
        window.requests <= shared.config.rate_limit
    };
    if !allowed {
        let mut response = provider_error(StatusCode::TOO_MANY_REQUESTS, 8, "rate limit exceeded");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    }
    next.run(request).await
}
