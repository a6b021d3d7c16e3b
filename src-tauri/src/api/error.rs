//! The core's errors as HTTP answers: a status code and `{"error": sentence, "code": kind}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

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
        let answer = ErrorAnswer {
            error: &body.message,
            code: Some(body.code),
        };
        (status, Json(answer)).into_response()
    }
}

/// An error as the browser receives it: the sentence, and its kind when a view refused.
#[derive(Serialize)]
struct ErrorAnswer<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<ErrorCode>,
}

/// A refusal by the guard or the router, before any view ran.
pub(super) fn refuse(status: StatusCode, message: &str) -> Response {
    let answer = ErrorAnswer {
        error: message,
        code: None,
    };
    (status, Json(answer)).into_response()
}
