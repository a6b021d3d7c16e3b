//! The live feed as Server-Sent Events: each [`LiveEvent`] under its name, a change's id being
//! its delivery id, so that a reconnecting browser resumes after `Last-Event-ID`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{Stream, StreamExt};
use serde::Deserialize;

use crate::monitor::{CoreError, LiveEvent, Monitor};

pub(super) fn router() -> Router<Arc<Monitor>> {
    Router::new().route("/api/feed", get(feed))
}

#[derive(Deserialize)]
struct FeedQuery {
    after: Option<i64>,
}

async fn feed(
    State(monitor): State<Arc<Monitor>>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, CoreError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.after);
    let events = monitor.changes(resume).await?.map(|event| Ok(sse(&event)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse(event: &LiveEvent) -> Event {
    let sent = Event::default().event(event.name()).data(event.data_json());
    match event.resume_id() {
        Some(id) => sent.id(id.to_string()),
        None => sent,
    }
}
