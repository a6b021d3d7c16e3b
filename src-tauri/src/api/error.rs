//! One error body for every answer of the UI API, whatever refused the request: the core (a
//! `CoreError`), the guard (token, Host, Origin), the router (no route, wrong method), axum's
//! extractors (a malformed query, path or JSON body) or a layer (body over the limit, a
//! timeout). It is `{"code", "message"}`, the shape the desktop's commands return.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::monitor::{CoreError, ErrorBody, ErrorCode};

/// How much of a refusal's own text (axum's words on a malformed request) is kept.
const REFUSAL_TEXT_LIMIT: usize = 2048;

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        let status = match self.code() {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Provider => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        };
        (status, Json(self.body())).into_response()
    }
}

/// A refusal by the guard or the router, before any view ran.
pub(super) fn refuse(status: StatusCode, message: &str) -> Response {
    let body = ErrorBody {
        code: code_for(status),
        message: message.to_owned(),
    };
    (status, Json(body)).into_response()
}

/// What kind of failure an HTTP status is, for refusals that did not come from the core.
fn code_for(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        status if status.is_client_error() => ErrorCode::Invalid,
        _ => ErrorCode::Unavailable,
    }
}

/// Middleware: an error answer that is not already `{"code", "message"}` JSON (axum's plain-text
/// rejections, tower-http's 413 and timeouts) is given that shape, its sentence saying what to
/// do. Answers that succeed are passed through untouched (the live feed streams).
pub async fn one_error_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    // A sign-in page says what happened to a person in a browser, as a page.
    let is_page = response
        .extensions()
        .get::<crate::auth::pages::SignInPage>()
        .is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_page {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, REFUSAL_TEXT_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request's body is over what the UI API takes (1 MiB)".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            "the monitor took too long to answer; a change asked for goes on to its end (long work shows its progress at the top of the window)".to_owned()
        }
        StatusCode::NOT_FOUND => "there is no such route".to_owned(),
        _ if said.is_empty() => status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_owned(),
        // axum's rejections say what was wrong with the request in one line.
        _ if status.is_client_error() => {
            format!("the request is not what this route takes: {said}")
        }
        _ => {
            tracing::error!(%status, said, "an answer failed without a sentence");
            "the monitor could not answer; its log says why".to_owned()
        }
    };
    let body = serde_json::to_vec(&ErrorBody {
        code: code_for(status),
        message,
    })
    .expect("an error body serialises");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
