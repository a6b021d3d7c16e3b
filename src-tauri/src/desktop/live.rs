//! Follows the core's live stream for the whole app: each event goes to the window (the `feed`
//! Tauri event, the same events the browser reads as SSE), and changes to the tray's counts and
//! the notifications (those of the alert rules too).

use std::sync::Arc;

use futures_util::StreamExt;
use tauri::{AppHandle, Emitter, Manager};

use super::notify::Notifier;
use super::tray;
use crate::monitor::{LiveEvent, Monitor};

/// Runs until the monitor stops (its stream ends then).
/// How often the tray counts the cases over the SLA again.
const SLA_TICK: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) async fn follow(app: AppHandle, monitor: Arc<Monitor>) {
    let mut events = match monitor.changes(None).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!("the live feed is not available: {error}");
            return;
        }
    };
    // Cases pass the SLA as time goes by, with no event: the tray counts again now and then.
    let mut tick = tokio::time::interval(SLA_TICK);
    loop {
        let event = tokio::select! {
            event = events.next() => match event {
                Some(event) => event,
                None => break,
            },
            _ = tick.tick() => {
                tray::refresh(&app);
                continue;
            }
        };
        let _ = app.emit("feed", &event);
        match &event {
            LiveEvent::Change(change) => {
                tray::refresh(&app);
                if let Some(notifier) = app.try_state::<Notifier>() {
                    notifier.on_change(&app, change);
                }
            }
            LiveEvent::Resync(_) | LiveEvent::Case(_) => tray::refresh(&app),
            // The alert rules' starts and resolves, as the alert targets are told them.
            LiveEvent::Alert(alert) => {
                tray::refresh(&app);
                if let Some(notifier) = app.try_state::<Notifier>() {
                    notifier.on_alert(
                        &app,
                        alert.resolved,
                        &alert.condition.summary,
                        &alert.condition.view,
                    );
                }
            }
            LiveEvent::Tunnel(_)
            | LiveEvent::Store(_)
            | LiveEvent::Work(_)
            | LiveEvent::Audit(_) => {}
        }
    }
}
