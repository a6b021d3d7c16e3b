//! The provider's routes: the Register view, reconcile and the demo.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::monitor::{CoreError, Monitor, ProviderOverview, RegisterAnswer, RegisterForm};
use crate::provider::actions::{DemoStatus, ReconcileReport};

type Answer<T> = Result<Json<T>, CoreError>;

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new()
        .route("/api/provider", get(overview))
        .route("/api/register", post(register))
        .route("/api/reconcile", post(reconcile))
        .route("/api/demo", post(start_demo))
}

async fn overview(State(monitor): State<Arc<Monitor>>) -> Answer<ProviderOverview> {
    monitor.provider_overview().await.map(Json)
}

async fn register(
    State(monitor): State<Arc<Monitor>>,
    Json(form): Json<RegisterForm>,
) -> Answer<RegisterAnswer> {
    monitor.register(form).await.map(Json)
}

async fn reconcile(State(monitor): State<Arc<Monitor>>) -> Answer<ReconcileReport> {
    monitor.reconcile().await.map(Json)
}

async fn start_demo(State(monitor): State<Arc<Monitor>>) -> Answer<DemoStatus> {
    monitor.start_demo().await.map(Json)
}
