//! The audit log's route: a page of it, newest first, for the Audit view (admin only once team
//! roles are enforced; in single-person mode the local person is the admin).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::monitor::{AuditPage, AuditQuery, CoreError, Monitor};

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new().route("/api/audit", get(audit_log))
}

async fn audit_log(
    State(monitor): State<Arc<Monitor>>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, CoreError> {
    monitor.audit_log(query).await.map(Json)
}
