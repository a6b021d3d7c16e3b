//! The partner API's routes besides the token: webhook registration, validated by a real test
//! request to the URL, and one user's status.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::flows::send;
use super::oauth::{authorised, unauthorised};
use super::{provider_error, ApiGeneration, PayloadForm, Shared, Target};
use crate::signature::SharedSecret;
use crate::time::{now_millis, rfc3339_millis};

pub(super) async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return provider_error(
            StatusCode::BAD_REQUEST,
            3,
            "the body must be a JSON object with webhookUrl",
        );
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let (url, secret) = match (text("webhookUrl"), text("webhook_url")) {
        (Some(url), None) => (url, None),
        (None, Some(url)) => match text("signing_secret").map(str::parse::<SharedSecret>) {
            None => (url, None),
            Some(Ok(secret)) => (url, Some(secret)),
            Some(Err(error)) => {
                return provider_error(
                    StatusCode::BAD_REQUEST,
                    3,
                    &format!("signing_secret: {error}"),
                )
            }
        },
        _ => {
            return provider_error(
                StatusCode::BAD_REQUEST,
                3,
                "give exactly one of webhookUrl or webhook_url",
            )
        }
    };
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"validated": false, "message": format!("Webhook URL {url:?} is not an http(s) URL")})),
            )
                .into_response()
        }
    }
    match validate(&shared, url, secret.as_ref()).await {
        Ok(()) => {
            // The path carries the monitor's webhook token: only the origin is logged.
            let origin = reqwest::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            tracing::info!(origin, "emulator: webhook URL validated; flows are delivered there");
            shared.target.send_replace(Some(Target {
                url: url.to_owned(),
                secret,
            }));
            Json(json!({"validated": true, "message": "Webhook URL validated successfully"})).into_response()
        }
        Err(reason) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"validated": false, "message": format!("Webhook validation failed: {reason}")})),
        )
            .into_response(),
    }
}

/// Sends the test request; `Err` says why the URL does not qualify.
async fn validate(shared: &Shared, url: &str, secret: Option<&SharedSecret>) -> Result<(), String> {
    let id = format!("msg_{}", shared.random_hex(12));
    let flows = &shared.config.flows;
    let body = match (flows.api, flows.form) {
        (ApiGeneration::Documented, PayloadForm::Flat) => {
            json!({"test": true, "message": "KYC webhook validation"})
        }
        _ => json!({
            "event_type": "webhook.test", "event_id": id, "event_time": rfc3339_millis(now_millis()), "data": {}
        }),
    };
    let timeout = shared.config.validation_timeout;
    match send(shared, url, secret, &id, &body, timeout).await {
        Ok(answer) if answer.status.is_success() => Ok(()),
        Ok(answer) => Err(format!(
            "the test request got HTTP {} (a 2xx is required)",
            answer.status.as_u16()
        )),
        Err(error) if error.is_timeout() => Err(format!(
            "the test request got no answer within {} s",
            timeout.as_secs_f64()
        )),
        Err(error) => Err(format!(
            "the test request could not be delivered ({})",
            innermost(&error)
        )),
    }
}

fn innermost(error: &reqwest::Error) -> String {
    let mut reason: &dyn std::error::Error = error;
    while let Some(source) = reason.source() {
        reason = source;
    }
    reason.to_string()
}

#[derive(serde::Deserialize)]
pub(super) struct StatusQuery {
    #[serde(rename = "externalId")]
    external_id: Option<String>,
}

pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<StatusQuery>,
) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let Some(external_id) = query.external_id.filter(|id| !id.is_empty()) else {
        return provider_error(StatusCode::BAD_REQUEST, 3, "externalId is required");
    };
    if shared.config.flows.refused_ids.contains(&external_id) {
        return provider_error(StatusCode::BAD_REQUEST, 3, "externalId is not valid");
    }
    let state = shared
        .users
        .lock()
        .expect("users lock")
        .get(&external_id)
        .cloned();
    match state {
        Some(state) => Json(crate::kyc::flat_json(&external_id, &state)).into_response(),
        None => provider_error(
            StatusCode::NOT_FOUND,
            5,
            &format!("no KYC record for externalId {external_id}"),
        ),
    }
}
