//! Desktop notifications for decisions: a user to review (ON_HOLD with REVIEW), a rejection,
//! an approval, as the settings allow; and for the alert rules' starts and resolves, as the
//! core's alert engine decides them (`alerts::rules`, the same definition the alert targets
//! use: one notification when a condition starts, one when it resolves, debounced there). A burst (a reconcile, a provider catching up, a demo)
//! would bury the desktop under hundreds of them, so at most [`BURST`] are shown one by one in
//! each [`WINDOW`]; the rest are counted and told in one summary when the window ends (or as
//! itself, when only one was held back). Clicking
//! a user's notification opens that user; clicking the summary opens the board.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tauri::{AppHandle, Emitter, Manager};

use super::{show_window, Desktop};
use crate::monitor::ChangeView;
use crate::store::Outcome;

/// Notifications shown one by one per window; the rest go into the window's summary.
pub const BURST: u32 = 3;
pub const WINDOW: Duration = Duration::from_secs(10);
/// Notifications whose click is waited for at once (each waits on a thread of its own until the
/// desktop closes it); past this, new ones are shown without a click action's wait.
const MAX_WAITING: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Review,
    Reject,
    Accept,
}

/// Rate-limits and summarises; managed as Tauri state.
#[derive(Default)]
pub struct Notifier {
    state: Mutex<State>,
    waiting: std::sync::Arc<AtomicUsize>,
}

#[derive(Default)]
struct State {
    window_started: Option<Instant>,
    shown: u32,
    held: [u32; 3],
    /// The first one held back: told as itself when it stays alone.
    first_held: Option<Notice>,
    flush_scheduled: bool,
}

/// What a notification's click opens.
enum Opens {
    User(String),
    Board,
    /// A view by its address's hash (`#/deliveries`).
    View(String),
}

/// One user's notification.
struct Notice {
    kind: Kind,
    external_id: String,
    summary: String,
    body: String,
}

impl Notifier {
    /// Called for each change of the live feed.
    pub fn on_change(&self, app: &AppHandle, change: &ChangeView) {
        let Some(user) = change.user.as_ref() else {
            return;
        };
        let facts = Facts {
            accepted: change.outcome == Outcome::Accepted,
            external_id: &user.external_id,
            status: user.state.status.as_str(),
            decision: user.state.decision.as_str(),
            sub_status: &user.state.sub_status,
        };
        self.notify(app, describe(app, facts));
    }

    /// Called for each change relayed from a team monitor's feed (its JSON, as the window gets
    /// it): the same rules as the local feed's.
    pub fn on_team_change(&self, app: &AppHandle, change: &serde_json::Value) {
        let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_owned();
        let user = &change["user"];
        if !user.is_object() {
            return;
        }
        let (external_id, status, decision, sub_status) = (
            text(&user["externalId"]),
            text(&user["status"]),
            text(&user["decision"]),
            text(&user["subStatus"]),
        );
        let facts = Facts {
            accepted: change["outcome"] == "accepted",
            external_id: &external_id,
            status: &status,
            decision: &decision,
            sub_status: &sub_status,
        };
        self.notify(app, describe(app, facts));
    }

    fn notify(&self, app: &AppHandle, notice: Option<Notice>) {
        let Some(notice) = notice else {
            return;
        };
        let now = Instant::now();
        let mut state = self.state.lock().expect("notifier lock");
        let window_over = state
            .window_started
            .is_none_or(|started| now.duration_since(started) >= WINDOW);
        if window_over && !state.flush_scheduled {
            state.window_started = Some(now);
            state.shown = 0;
        }
        if state.shown < BURST && !state.flush_scheduled {
            state.shown += 1;
            drop(state);
            self.show(
                app,
                notice.summary,
                notice.body,
                Opens::User(notice.external_id),
            );
            return;
        }
        state.held[notice.kind as usize] += 1;
        if state.first_held.is_none() {
            state.first_held = Some(notice);
        }
        if !state.flush_scheduled {
            state.flush_scheduled = true;
            let started = state.window_started.unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(started));
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(notifier) = app.try_state::<Notifier>() {
                    notifier.flush(&app);
                }
            });
        }
    }

    /// Called for each start or resolve of an alert rule, the local monitor's or the team
    /// monitor's (the feed's `alert` events; test alerts are a target's and not in it): shown at
    /// once, unless notifications are paused. A click opens `view`.
    pub fn on_alert(&self, app: &AppHandle, resolved: bool, text: &str, view: &str) {
        let summary = if resolved {
            "Resolved"
        } else {
            "Needs attention"
        };
        let paused = app
            .try_state::<Desktop>()
            .is_none_or(|desktop| desktop.settings().notifications_paused);
        if paused {
            return;
        }
        self.show(
            app,
            summary.to_owned(),
            text.to_owned(),
            Opens::View(view.to_owned()),
        );
    }

    /// Tells what was held back in one notification, which opens a new window.
    fn flush(&self, app: &AppHandle) {
        let (held, first) = {
            let mut state = self.state.lock().expect("notifier lock");
            state.flush_scheduled = false;
            state.window_started = Some(Instant::now());
            state.shown = 1;
            (std::mem::take(&mut state.held), state.first_held.take())
        };
        let total: u32 = held.iter().sum();
        match (total, first) {
            (0, _) => return,
            (1, Some(notice)) => {
                return self.show(
                    app,
                    notice.summary,
                    notice.body,
                    Opens::User(notice.external_id),
                );
            }
            _ => {}
        }
        let parts: Vec<String> = [
            (held[Kind::Review as usize], "to review"),
            (held[Kind::Reject as usize], "rejected"),
            (held[Kind::Accept as usize], "approved"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
        let summary = format!("{total} more decisions");
        self.show(app, summary, parts.join(", "), Opens::Board);
    }

    /// Shows one notification; its click opens what `opens` names.
    fn show(&self, app: &AppHandle, summary: String, body: String, opens: Opens) {
        let app = app.clone();
        let waiting = self.waiting.clone();
        // Shown and waited on off the async workers (notify-rust's D-Bus calls block).
        std::thread::spawn(move || {
            let shown = notify_rust::Notification::new()
                .appname("KYC Monitor")
                .summary(&summary)
                .body(&body)
                .action("default", "Open")
                .show();
            let handle = match shown {
                Ok(handle) => handle,
                Err(error) => {
                    tracing::debug!("no desktop notification ({error})");
                    return;
                }
            };
            if waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
                waiting.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            handle.wait_for_action(|action| {
                if action == "default" {
                    show_window(&app);
                    let _ = match &opens {
                        Opens::User(id) => app.emit("open-user", id.clone()),
                        Opens::Board => app.emit("open-board", ()),
                        Opens::View(hash) => app.emit("open-view", hash.clone()),
                    };
                }
            });
            waiting.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// What a change means to a person, if the settings want it told.
/// What the rules look at in a change.
struct Facts<'a> {
    accepted: bool,
    external_id: &'a str,
    status: &'a str,
    decision: &'a str,
    sub_status: &'a str,
}

fn describe(app: &AppHandle, facts: Facts<'_>) -> Option<Notice> {
    if !facts.accepted {
        return None;
    }
    let id = facts.external_id;
    let desktop = app.try_state::<Desktop>()?;
    let settings = desktop.settings();
    if settings.notifications_paused {
        return None;
    }
    let (wanted, kind, summary, body) = match (facts.status, facts.decision) {
        ("ON_HOLD", "REVIEW") => (
            settings.notify_review,
            Kind::Review,
            format!("Review needed: {id}"),
            facts.sub_status.to_owned(),
        ),
        ("CLOSED", "REJECT") => (
            settings.notify_reject,
            Kind::Reject,
            format!("Rejected: {id}"),
            "KYC closed with REJECT".to_owned(),
        ),
        ("CLOSED", "ACCEPT") => (
            settings.notify_accept,
            Kind::Accept,
            format!("Approved: {id}"),
            "KYC closed with ACCEPT".to_owned(),
        ),
        _ => return None,
    };
    wanted.then(|| Notice {
        kind,
        external_id: id.to_owned(),
        summary,
        body,
    })
}
