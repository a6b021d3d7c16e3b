//! Follows the core's live stream for the whole app: each event goes to the window (the `feed`
//! Tauri event, the same events the browser reads as SSE), and changes to the tray's counts and
//! the notifications.

use std::sync::Arc;

use futures_util::StreamExt;
use tauri::{AppHandle, Emitter, Manager};

use super::notify::Notifier;
use super::tray;
use crate::monitor::{LiveEvent, Monitor};

/// Runs until the monitor stops (its stream ends then).
pub(super) async fn follow(app: AppHandle, monitor: Arc<Monitor>) {
    let mut events = match monitor.changes(None).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!("the live feed is not available: {error}");
            return;
        }
    };
    while let Some(event) = events.next().await {
        let _ = app.emit("feed", &event);
        match &event {
            LiveEvent::Change(change) => {
                tray::refresh(&app);
                if let Some(notifier) = app.try_state::<Notifier>() {
                    notifier.on_change(&app, change);
                }
            }
            LiveEvent::Resync(_) => tray::refresh(&app),
            LiveEvent::Tunnel(_)
            | LiveEvent::Store(_)
            | LiveEvent::Work(_)
            | LiveEvent::Audit(_) => {}
        }
    }
}
