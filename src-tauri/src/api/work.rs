//! Long work started from the UI: a backup, and how far it and reconcile are (the live feed
//! carries the same as it changes).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::monitor::{BackupReport, BackupRequest, CoreError, Monitor, WorkView};

type Answer<T> = Result<Json<T>, CoreError>;

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new()
        .route("/api/work", get(work))
        .route("/api/backup", post(backup))
}

async fn work(State(monitor): State<Arc<Monitor>>) -> Json<Vec<WorkView>> {
    Json(monitor.work().into_values().collect())
}

async fn backup(
    State(monitor): State<Arc<Monitor>>,
    Json(request): Json<BackupRequest>,
) -> Answer<BackupReport> {
    monitor.backup(request).await.map(Json)
}
