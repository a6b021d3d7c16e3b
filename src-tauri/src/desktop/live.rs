//! Follows the core's live stream for the whole app: each event goes to the window (the `feed`
//! Tauri event, the same events the browser reads as SSE), and changes to the tray's counts and
//! the notifications.

use std::sync::Arc;

use futures_util::StreamExt;
use tauri::{AppHandle, Emitter, Manager};

use super::notify::Notifier;
use super::tray;
use crate::monitor::{LiveEvent, Monitor};

/// Shows the alert rules' starts and resolves as notifications, until the monitor stops.
pub(super) async fn follow_alerts(app: AppHandle, monitor: Arc<Monitor>) {
    let mut messages = monitor.alerts().messages();
    let mut stopping = monitor.stopping();
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) => {
                    tray::refresh(&app);
                    if let Some(notifier) = app.try_state::<Notifier>() {
                        notifier.on_alert(&app, &message);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = stopping.changed() => return,
        }
    }
}

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
