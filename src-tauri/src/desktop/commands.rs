//! The window's Tauri commands: each a line or two over the core (or the settings, or the
//! keychain), answering with the same typed data the browser gets as JSON.

use std::sync::Arc;

use tauri::{AppHandle, State};

use super::{stop_core, Desktop, LAUNCHED};
use crate::access::{AuditAction, AuditOutcome};
use crate::blocking::off_worker;
use crate::keychain::{self, KeychainStatus};
use crate::monitor::operations::{self, op, Caller, Operation};
use crate::monitor::{ErrorBody, ErrorCode, Monitor};
use crate::settings::{DesktopSettings, DesktopStatus, SettingsError, SettingsSaved};

type Answer<T> = Result<T, ErrorBody>;

/// The core, or why it is not running (the window shows the settings to fix that).
pub(super) fn monitor(desktop: &Desktop) -> Answer<&Arc<Monitor>> {
    desktop.monitor().ok_or_else(|| ErrorBody {
        code: ErrorCode::Unavailable,
        message: desktop.startup_error.clone().unwrap_or_default(),
    })
}

/// Every operation of the core's table (`monitor/operations.rs`), by name, as the local user.
#[tauri::command]
pub async fn operation(
    app: AppHandle,
    desktop: State<'_, Desktop>,
    name: String,
    path: serde_json::Value,
    input: serde_json::Value,
) -> Answer<serde_json::Value> {
    // A window onto a team monitor asks it, as the signed-in person; it checks the role.
    if desktop.team.active() {
        let Some(link) = desktop.team.link() else {
            return Err(ErrorBody {
                code: ErrorCode::Unauthorized,
                message: "sign in to the team monitor first (Settings)".into(),
            });
        };
        let answer = link.operation(&name, path, input).await;
        if let Err(error) = &answer {
            desktop.team.saw(&app, error);
        }
        if answer.is_ok() && name == op::save_review_settings::SPEC.name {
            super::tray::refresh(&app);
        }
        return answer;
    }
    let monitor = monitor(&desktop)?.clone();
    let answer = operations::dispatch(monitor, Caller::local(), &name, path, input).await;
    if name == op::save_review_settings::SPEC.name {
        // The tray's "N to review" counts by these settings.
        super::tray::refresh(&app);
    }
    answer.map_err(|error| error.body())
}

/// The window calls this once its first view has rendered: the launch figure in the log.
#[tauri::command]
pub fn window_ready() {
    if let Some(launched) = LAUNCHED.get() {
        tracing::info!(
            "window usable {} ms after launch",
            launched.elapsed().as_millis()
        );
    }
}

#[tauri::command]
pub fn desktop_status(desktop: State<'_, Desktop>) -> DesktopStatus {
    desktop.status()
}

/// Checks and saves the settings. Notification choices apply at once; the rest on restart.
#[tauri::command]
pub async fn save_settings(
    desktop: State<'_, Desktop>,
    settings: DesktopSettings,
) -> Answer<SettingsSaved> {
    let saved = desktop.save_settings(settings).await;
    audit_setting(&desktop, "desktop settings", saved.as_ref().err());
    saved.map_err(invalid)
}

/// A settings change in the audit log, when the monitor runs (never a value: a secret's name at
/// most).
fn audit_setting(desktop: &Desktop, target: &str, failed: Option<&impl std::fmt::Display>) {
    if let Some(monitor) = desktop.monitor() {
        let (outcome, detail) = match failed {
            None => (AuditOutcome::Ok, String::new()),
            Some(error) => (AuditOutcome::Failed, error.to_string()),
        };
        let entry = Caller::local().entry(AuditAction::SettingsChanged, target, outcome, detail);
        monitor.audit(entry);
    }
}

/// Whether the keychain can be used here and which secrets it holds (never their values).
#[tauri::command]
pub async fn keychain_status() -> KeychainStatus {
    off_worker(keychain::status).await
}

/// Keeps a tunnel secret typed in Settings in the keychain; it is used from the next start.
#[tauri::command]
pub async fn keychain_set(
    desktop: State<'_, Desktop>,
    item: keychain::Item,
    value: String,
) -> Answer<()> {
    let kept = off_worker(move || keychain::set(item, &value)).await;
    audit_setting(
        &desktop,
        &format!("keychain: {} kept", item.name()),
        kept.as_ref().err(),
    );
    kept.map_err(unavailable)
}

/// Removes a tunnel secret from the keychain.
#[tauri::command]
pub async fn keychain_delete(desktop: State<'_, Desktop>, item: keychain::Item) -> Answer<bool> {
    let removed = off_worker(move || keychain::delete(item)).await;
    let target = format!("keychain: {} removed", item.name());
    audit_setting(&desktop, &target, removed.as_ref().err());
    removed.map_err(unavailable)
}

/// Stops the monitor gracefully and starts the app again (to apply settings).
#[tauri::command]
pub async fn restart(app: AppHandle) -> Answer<()> {
    stop_core(&app).await;
    app.restart();
}

fn invalid(error: SettingsError) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Invalid,
        message: error.to_string(),
    }
}

fn unavailable(error: keychain::KeychainError) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unavailable,
        message: error.to_string(),
    }
}
