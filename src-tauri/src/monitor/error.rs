//! The core's one error type. Each variant is something a caller can act on; the shells map
//! them (the HTTP adapter to a status code, the Tauri commands to `{code, message}`). What went
//! wrong inside the store or a file is logged where it happens and never handed over: the UI
//! gets one sentence that says what to do.

use serde::Serialize;
use ts_rs::TS;

use crate::store::StoreError;

/// What kind of failure an error is, as the UI tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The thing asked for does not exist (a user, a delivery).
    NotFound,
    /// The request itself is wrong; the message says which part.
    Invalid,
    /// The request is sound but the monitor's state refuses it now.
    Conflict,
    /// The provider (or the way to it) failed: not this monitor's fault.
    Provider,
    /// The monitor cannot do it just now (the store, a file); its log says why.
    Unavailable,
    /// The request carries no credentials the monitor accepts (no token, an old link).
    Unauthorized,
    /// The request is refused for who or where it comes from (another site, another host).
    Forbidden,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Provider(String),
    /// Nobody is signed in (or the sign-in has ended).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The internal reason was logged when this was made; only this sentence goes out.
    #[error("{0}")]
    Unavailable(&'static str),
}

/// Said instead of a store failure's own text (which names files and SQLite's words).
pub const STORE_UNAVAILABLE: &str =
    "the database cannot answer just now; the monitor's log (and the banner, if shown) says why";

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::Invalid(_) => ErrorCode::Invalid,
            CoreError::Conflict(_) => ErrorCode::Conflict,
            CoreError::Provider(_) => ErrorCode::Provider,
            CoreError::Unavailable(_) => ErrorCode::Unavailable,
            CoreError::Unauthorized(_) => ErrorCode::Unauthorized,
            CoreError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }

    /// A failure inside the monitor: logged here with its detail, told as `sentence`.
    pub fn internal(sentence: &'static str, detail: &dyn std::fmt::Display) -> CoreError {
        tracing::error!(%detail, "{sentence}");
        CoreError::Unavailable(sentence)
    }

    /// What a shell hands to the UI.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(error: StoreError) -> Self {
        CoreError::internal(STORE_UNAVAILABLE, &error)
    }
}

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl Serialize for CoreError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialise_as_code_and_message_and_store_detail_stays_inside() {
        let missing = CoreError::NotFound("no user with externalId \"u\"".into());
        assert_eq!(
            serde_json::to_value(&missing).unwrap(),
            serde_json::json!({"code": "notFound", "message": "no user with externalId \"u\""})
        );
        let store = CoreError::from(StoreError::CommitFailed(
            "disk I/O error at /secret/path".into(),
        ));
        let shown = serde_json::to_string(&store).unwrap();
        assert!(
            shown.contains("\"unavailable\"") && !shown.contains("/secret/path"),
            "{shown}"
        );
    }
}
