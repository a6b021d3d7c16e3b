//! The baseline for `bench/ingest`: the same axum stack and payload parsing as the webhook
//! listener, answering without storing anything. Prints `webhook: URL` like `serve`.

use axum::body::{to_bytes, Body};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use kyc_monitor::kyc::parse_payload;

const MAX_BODY: usize = 64 * 1024;

async fn answer_without_storing(body: Body) -> impl IntoResponse {
    let status = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) if parse_payload(&bytes).is_ok() => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"received":true}"#,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let router = Router::new().route("/kyc-webhook/{token}", any(answer_without_storing));
    println!(
        "webhook: http://{}/kyc-webhook/baseline",
        listener.local_addr()?
    );
    axum::serve(listener, router).await
}
