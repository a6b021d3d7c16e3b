//! The local UI's API: the core's views as JSON and its live feed as Server-Sent Events, each
//! area a `router()` over the one [`Monitor`]. It never listens on the webhook listener. Alone,
//! it is on loopback behind a per-run token and refuses foreign Host and Origin headers (DNS
//! rebinding, cross-site calls); shared by a team, behind sign-in, sessions and CSRF tokens.

mod assets;
mod client;
mod desktop_link;
mod error;
mod feed;
mod guard;
mod operations;
mod review;
mod sign_in;
mod team_guard;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::one_error_shape;
pub use guard::{UiAccess, UiLink};
pub use sign_in::{CsrfToken, SessionView, SessionsEnded};

use crate::auth::TeamAuth;
use crate::monitor::{CoreError, Monitor};

/// Who may use the UI: the one person holding this run's token, or a team, signed in.
pub enum UiGate {
    Token(UiAccess),
    Team(Arc<TeamAuth>),
}

/// Every area's routes, behind the guard, with the built front end as the fallback.
pub fn router(monitor: Arc<Monitor>, gate: UiGate) -> Router {
    let (feed_path, feed) = operations::http_only(&monitor, "feed", feed::feed);
    let (csv_path, csv) = operations::http_only(&monitor, "review_csv", review::review_csv);
    let (link_path, link) = operations::http_only(&monitor, "ui_link", guard::new_link);
    let (session_path, session) = operations::http_only(&monitor, "session", sign_in::session);
    let (end_path, end) = operations::http_only(&monitor, "end_sessions", sign_in::end_sessions);
    let routes = Router::new()
        .merge(sign_in::router())
        .merge(operations::router(&monitor))
        .route(feed_path, feed)
        .route(csv_path, csv)
        .route(link_path, link)
        .route(session_path, session)
        .route(end_path, end)
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
        });
    let guarded = match gate {
        UiGate::Token(access) => routes.layer(middleware::from_fn_with_state(
            Arc::new(access),
            guard::guard,
        )),
        UiGate::Team(team) => routes.layer(middleware::from_fn_with_state(
            (team, monitor.clone()),
            team_guard::guard,
        )),
    };
    guarded
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
