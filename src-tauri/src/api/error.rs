//! The core's errors as HTTP answers: a status code and `{"error": sentence, "code": kind}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::monitor::{CoreError, ErrorCode};

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        let status = match self.code() {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Provider => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = self.body();
        (
            status,
            Json(serde_json::json!({"error": body.message, "code": body.code})),
        )
            .into_response()
    }
}

/// A refusal by the guard or the router, before any view ran.
pub(super) fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}
