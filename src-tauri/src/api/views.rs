//! The views' routes: each handler turns the request into a call on the [`Monitor`].

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use serde::Deserialize;

use crate::access::Caller;
use crate::monitor::{
    BoardPage, CoreError, DeliveriesPage, DeliveriesQuery, Destinations, Forwarding, Monitor,
    Overview, ReplayAnswer, ReplayRequest, RetryAnswer, ReviewQuery, Stats, UserDetail, UsersFound,
};

type Answer<T> = Result<Json<T>, CoreError>;

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/stats", get(stats))
        .route("/api/board/{status}", get(board))
        .route("/api/search", get(search))
        .route("/api/users/{external_id}", get(user))
        .route("/api/deliveries", get(deliveries))
        .route("/api/deliveries/{id}/replay", post(replay))
        .route("/api/deliveries/{id}/forwards", get(forwarding))
        .route("/api/deliveries/{id}/retry", post(retry_forward))
        .route("/api/destinations", get(destinations))
        .route("/api/destinations/{id}/pause", post(pause_destination))
}

async fn overview(State(monitor): State<Arc<Monitor>>) -> Answer<Overview> {
    monitor.overview().await.map(Json)
}

async fn stats(State(monitor): State<Arc<Monitor>>) -> Answer<Stats> {
    monitor.stats().await.map(Json)
}

async fn board(
    State(monitor): State<Arc<Monitor>>,
    Path(status): Path<String>,
    Query(query): Query<ReviewQuery>,
) -> Answer<BoardPage> {
    monitor.board(status, query).await.map(Json)
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

/// The request's peer, as the listener puts it in every request.
pub(super) type Remote = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The person behind a request to the local UI: the local person, at the request's address.
pub(super) fn local_caller(remote: Remote) -> Caller {
    match remote {
        Some(Extension(ConnectInfo(addr))) => Caller::local_from(addr.to_string()),
        None => Caller::local(),
    }
}

async fn search(
    State(monitor): State<Arc<Monitor>>,
    remote: Remote,
    Query(query): Query<SearchQuery>,
) -> Answer<UsersFound> {
    let caller = local_caller(remote);
    monitor
        .search(query.q, query.limit, &caller)
        .await
        .map(Json)
}

async fn user(
    State(monitor): State<Arc<Monitor>>,
    remote: Remote,
    Path(external_id): Path<String>,
) -> Answer<UserDetail> {
    let caller = local_caller(remote);
    monitor.user(external_id, &caller).await.map(Json)
}

async fn deliveries(
    State(monitor): State<Arc<Monitor>>,
    Query(query): Query<DeliveriesQuery>,
) -> Answer<DeliveriesPage> {
    monitor.deliveries(query).await.map(Json)
}

/// Without a body (or with `{}`), the stored bytes again; with `{"body": ...}`, an edited one.
async fn replay(
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    request: Option<Json<ReplayRequest>>,
) -> Answer<ReplayAnswer> {
    let request = request.map(|Json(request)| request).unwrap_or_default();
    monitor.replay_with(id, request).await.map(Json)
}

async fn forwarding(
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
) -> Answer<Forwarding> {
    monitor.forwarding(id).await.map(Json)
}

async fn retry_forward(
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
) -> Answer<RetryAnswer> {
    monitor.retry_forward(id).await.map(Json)
}

async fn destinations(State(monitor): State<Arc<Monitor>>) -> Answer<Destinations> {
    monitor.destinations().await.map(Json)
}

#[derive(Deserialize)]
struct PauseRequest {
    paused: bool,
}

async fn pause_destination(
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    Json(request): Json<PauseRequest>,
) -> Answer<Destinations> {
    monitor
        .pause_destination(id, request.paused)
        .await
        .map(Json)
}
