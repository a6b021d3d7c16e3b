//! The built front end, embedded at build time: `/` is the app, `/assets/*` its files.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::monitor::CoreError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

/// The only place scripts may come from is this listener; no framing, no leaking the address.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// For answers that are data, not a page: nothing in them may load or be framed.
pub(super) const DATA_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub(super) async fn static_file(uri: axum::http::Uri) -> Response {
    let path = if uri.path() == "/" {
        "/index.html"
    } else {
        uri.path()
    };
    let Some((_, content_type, bytes)) = embedded::ASSETS.iter().find(|(url, _, _)| *url == path)
    else {
        return CoreError::NotFound("there is nothing here".into()).into_response();
    };
    // Vite names assets by content hash, so they never change; the page itself always may.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        *bytes,
    )
        .into_response()
}
