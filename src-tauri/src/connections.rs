//! Serves a router on a TCP listener with every client bounded: the listener a tunnel exposes
//! faces the internet, so no client may hold a connection, a file descriptor or the process for
//! longer than the rules below allow.
//!
//! hyper reads the requests (its header deadline starts as soon as a connection is idle, so a
//! silent client and an idle keep-alive are closed alike); the number of connections served at
//! once is capped, and a client over the cap is answered 503 and closed rather than left waiting
//! in the kernel's queue; open-file limits are raised once at start.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// A client that has not sent a request's complete headers within this is disconnected. It runs
/// from the moment a connection is idle: a fresh connection, or a keep-alive one between requests.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(10);
/// A request's body must have arrived this long after its headers.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// hyper's read buffer, which bounds a request's headers (larger ones are answered 431).
const MAX_HEADER_BUFFER: usize = 64 * 1024;
/// The most headers a request may have (hyper's default is 100): more are answered 431 and
/// counted like headers over the size. hyper makes room for this many on every request it
/// reads, so it costs on every request: 16,384 (as many as could fit in
/// [`MAX_HEADER_BUFFER`]) took 0.9 MB of writes and about 40 us a request, more CPU than the rest
/// of the HTTP side together; 1,024 take 57 KB.
const MAX_HEADERS: usize = 1024;

/// Told of each request answered 431 (headers over the limit) before anything of it was read.
pub type OnOversized = Arc<dyn Fn(std::net::SocketAddr) + Send + Sync>;
/// File descriptors kept free for the database, the tunnel, the UI and the rest of the process.
const RESERVED_FILES: u64 = 256;
/// Clients over the cap are answered 503 by tasks of their own; past this many at once the
/// extra ones are closed without an answer, so that refusing cannot itself exhaust the process.
const MAX_REFUSALS_IN_FLIGHT: usize = 256;
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);
const REFUSAL_BODY: &str =
    r#"{"error":"this monitor has too many open connections; send the request again later"}"#;

/// How many connections one listener serves at once.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimit(pub usize);

impl ConnectionLimit {
    /// The webhook listener's share of the open files the process may have: most of them, so
    /// that thousands of idle clients are held (until the header deadline) without refusing
    /// the provider, and never so many that the database or the UI cannot open a file.
    pub fn webhook(open_files: u64) -> ConnectionLimit {
        let usable = open_files.saturating_sub(RESERVED_FILES) * 3 / 4;
        ConnectionLimit(usable.clamp(16, 16_384) as usize)
    }

    /// The local UI: one person's browser or window, a handful of connections at a time.
    pub fn ui() -> ConnectionLimit {
        ConnectionLimit(512)
    }

    /// The metrics listener: a scraper or two, and health checks.
    pub fn metrics() -> ConnectionLimit {
        ConnectionLimit(64)
    }
}

/// Raises the soft limit on open files to the hard limit (a desktop session often starts with a
/// soft limit of 1,024, which a few hundred idle clients would exhaust); returns the limit in
/// force afterwards.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Serves `router` on `listener` until `stopping` turns true, then lets the requests in flight
/// finish (idle connections close at once). Each request sees the peer as `ConnectInfo`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limit: ConnectionLimit,
    oversized: Option<OnOversized>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .max_buf_size(MAX_HEADER_BUFFER)
        .max_headers(MAX_HEADERS);
    let connections = Arc::new(Semaphore::new(limit.0));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let graceful = GracefulShutdown::new();
    let mut told_full = false;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if !std::mem::replace(&mut told_full, true) {
                tracing::warn!(
                    limit = limit.0,
                    "every connection is taken; new clients are answered 503 until some close"
                );
            }
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        told_full = false;
        let service =
            router
                .clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request
                });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        let oversized = oversized.clone();
        tokio::spawn(async move {
            // Errors here are the client's: a reset, a header deadline missed, bytes that are
            // not HTTP. hyper has answered what could be answered.
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "a connection ended with an error");
                if let (true, Some(oversized)) = (error.is_parse_too_large(), oversized) {
                    oversized(remote);
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Answers a client over the cap with a 503 it can read, then closes. hyper reads its request
/// first (briefly): clients treat an answer that comes before their request as broken, and
/// closing on unread bytes makes the kernel send a reset that can destroy the answer.
async fn refuse(stream: TcpStream) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_DEADLINE)
        .keep_alive(false);
    let answer = hyper::service::service_fn(|request: hyper::Request<Incoming>| async move {
        let body = http_body_util::Limited::new(request.into_body(), 64 * 1024);
        let _ =
            tokio::time::timeout(REFUSAL_DEADLINE, http_body_util::BodyExt::collect(body)).await;
        hyper::Response::builder()
            .status(hyper::StatusCode::SERVICE_UNAVAILABLE)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::RETRY_AFTER, "5")
            .body(axum::body::Body::from(REFUSAL_BODY))
    });
    let connection = http.serve_connection(TokioIo::new(stream), answer);
    let _ = tokio::time::timeout(2 * REFUSAL_DEADLINE, connection).await;
}

/// Errors from `accept` that concern one connection are skipped; running out of file
/// descriptors or memory is waited out briefly, as the descriptors come back when clients leave.
async fn pause_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!(%error, "could not accept a connection; trying again shortly");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
