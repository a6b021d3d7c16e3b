//! The metrics listener's routes: `GET /metrics` (the Prometheus text format), `GET /healthz`
//! (200 while the process serves) and `GET /readyz` (200 when deliveries can be taken, else 503
//! with the reason). Nothing else is served on it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{readiness, Metrics};
use crate::monitor::Monitor;

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

type Shared = (Arc<Monitor>, Arc<Metrics>);

pub fn router(monitor: Arc<Monitor>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { plain(StatusCode::OK, "ok") }))
        .route("/readyz", get(ready))
        .fallback(|| async {
            plain(
                StatusCode::NOT_FOUND,
                "not found: this listener serves /metrics, /healthz and /readyz",
            )
        })
        .with_state((monitor, metrics))
}

async fn scrape(State((monitor, metrics)): State<Shared>) -> Response {
    let text = metrics.render(&monitor).await;
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response()
}

async fn ready(State((monitor, _)): State<Shared>) -> Response {
    match readiness(&monitor) {
        Ok(()) => plain(StatusCode::OK, "ready"),
        Err(reason) => plain(StatusCode::SERVICE_UNAVAILABLE, &reason),
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}
