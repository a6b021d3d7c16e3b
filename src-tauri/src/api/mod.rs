//! The local UI's API: the core's views as JSON and its live feed as Server-Sent Events, each
//! area a `router()` over the one [`Monitor`]. It listens on loopback only, never on the webhook
//! listener, behind a per-run token, and refuses foreign Host and Origin headers (DNS rebinding,
//! cross-site calls).

mod assets;
mod audit;
mod error;
mod feed;
mod guard;
mod provider;
mod review;
mod views;
mod work;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::one_error_shape;
pub use guard::{UiAccess, UiLink};

use crate::monitor::{CoreError, Monitor};

/// Every area's routes, behind the guard, with the built front end as the fallback.
pub fn router(monitor: Arc<Monitor>, access: UiAccess) -> Router {
    Router::new()
        .merge(views::router())
        .merge(provider::router())
        .merge(review::router())
        .merge(feed::router())
        .merge(work::router())
        .merge(audit::router())
        .route(
            "/api/{*rest}",
            get(|| async { CoreError::NotFound("there is no such API route".into()) }),
        )
        .fallback(get(assets::static_file))
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            error::refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not accepted on this route"),
            )
        })
        .layer(middleware::from_fn_with_state(
            Arc::new(access),
            guard::guard,
        ))
        // Outside the guard, so that its refusals carry them too. The page and its assets set
        // their own policy and caching; everything else is data for this browser tab only.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(assets::DATA_SECURITY_POLICY),
        ))
        .with_state(monitor)
}
