//! The review queue's routes: the queue, filtered, and its settings.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::monitor::{CoreError, Monitor, ReviewPage, ReviewQuery, ReviewSettings};

type Answer<T> = Result<Json<T>, CoreError>;

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new()
        .route("/api/review", get(review))
        .route("/api/review/settings", get(settings).post(save_settings))
}

async fn review(
    State(monitor): State<Arc<Monitor>>,
    Query(query): Query<ReviewQuery>,
) -> Answer<ReviewPage> {
    monitor.review(query).await.map(Json)
}

async fn settings(State(monitor): State<Arc<Monitor>>) -> Answer<ReviewSettings> {
    monitor.review_settings().await.map(Json)
}

async fn save_settings(
    State(monitor): State<Arc<Monitor>>,
    Json(settings): Json<ReviewSettings>,
) -> Answer<ReviewSettings> {
    monitor.save_review_settings(settings).await.map(Json)
}
