//! The live feed as Server-Sent Events: each [`LiveEvent`] under its name, a change's id being
//! its delivery id, so that a reconnecting browser resumes after `Last-Event-ID`. Users in it
//! are shown as the caller's role may see them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::stream::{Stream, StreamExt};
use serde::Deserialize;

use crate::monitor::masking::SeenBy;
use crate::monitor::operations::Caller;
use crate::monitor::{CoreError, LiveEvent, Monitor};

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    after: Option<i64>,
}

pub(super) async fn feed(
    State(monitor): State<Arc<Monitor>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, CoreError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.after);
    // Each event as the caller's role may see it.
    let role = caller.actor.role;
    let events = monitor
        .changes(resume)
        .await?
        .filter(move |event| std::future::ready(event.shown_to(role)))
        .map(move |event| Ok(sse(&event.seen_by(role))));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse(event: &LiveEvent) -> Event {
    let sent = Event::default().event(event.name()).data(event.data_json());
    match event.resume_id() {
        Some(id) => sent.id(id.to_string()),
        None => sent,
    }
}
