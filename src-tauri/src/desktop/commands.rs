//! The window's Tauri commands: each a line or two over the core (or the settings, or the
//! keychain), answering with the same typed data the browser gets as JSON.

use tauri::{AppHandle, State};

use super::{stop_core, Desktop, LAUNCHED};
use crate::access::Caller;
use crate::blocking::off_worker;
use crate::keychain::{self, KeychainStatus};
use crate::monitor::{AuditPage, AuditQuery, BackupReport, BackupRequest, WorkView};
use crate::monitor::{
    BoardPage, CoreError, DeliveriesPage, DeliveriesQuery, Destinations, ErrorBody, ErrorCode,
    Forwarding, Monitor, Overview, ProviderOverview, RegisterAnswer, RegisterForm, ReplayAnswer,
    ReplayRequest, RetryAnswer, ReviewPage, ReviewQuery, ReviewSettings, Stats, UserDetail,
    UsersFound,
};
use crate::provider::actions::{DemoStatus, ReconcileReport};
use crate::settings::{DesktopSettings, DesktopStatus, SettingsSaved};

type Answer<T> = Result<T, ErrorBody>;

/// The core, or why it is not running (the window shows the settings to fix that).
fn monitor(desktop: &Desktop) -> Answer<&Monitor> {
    desktop
        .monitor()
        .map(|monitor| monitor.as_ref())
        .ok_or_else(|| ErrorBody {
            code: ErrorCode::Unavailable,
            message: desktop.startup_error.clone().unwrap_or_default(),
        })
}

fn answered<T>(result: Result<T, CoreError>) -> Answer<T> {
    result.map_err(|error| error.body())
}

#[tauri::command]
pub async fn overview(desktop: State<'_, Desktop>) -> Answer<Overview> {
    answered(monitor(&desktop)?.overview().await)
}

#[tauri::command]
pub async fn review(desktop: State<'_, Desktop>, query: ReviewQuery) -> Answer<ReviewPage> {
    answered(monitor(&desktop)?.review(query).await)
}

#[tauri::command]
pub async fn review_settings(desktop: State<'_, Desktop>) -> Answer<ReviewSettings> {
    answered(monitor(&desktop)?.review_settings().await)
}

#[tauri::command]
pub async fn save_review_settings(
    app: AppHandle,
    desktop: State<'_, Desktop>,
    settings: ReviewSettings,
) -> Answer<ReviewSettings> {
    let saved = answered(monitor(&desktop)?.save_review_settings(settings).await);
    // The tray's "N to review" counts by these settings.
    super::tray::refresh(&app);
    saved
}

#[tauri::command]
pub async fn stats(desktop: State<'_, Desktop>) -> Answer<Stats> {
    answered(monitor(&desktop)?.stats().await)
}

#[tauri::command]
pub async fn board(
    desktop: State<'_, Desktop>,
    status: String,
    query: ReviewQuery,
) -> Answer<BoardPage> {
    answered(monitor(&desktop)?.board(status, query).await)
}

#[tauri::command]
pub async fn search(
    desktop: State<'_, Desktop>,
    q: String,
    limit: Option<u32>,
) -> Answer<UsersFound> {
    answered(monitor(&desktop)?.search(q, limit, &Caller::local()).await)
}

#[tauri::command]
pub async fn user(desktop: State<'_, Desktop>, external_id: String) -> Answer<UserDetail> {
    answered(monitor(&desktop)?.user(external_id, &Caller::local()).await)
}

#[tauri::command]
pub async fn audit_log(desktop: State<'_, Desktop>, query: AuditQuery) -> Answer<AuditPage> {
    answered(monitor(&desktop)?.audit_log(query).await)
}

#[tauri::command]
pub async fn deliveries(
    desktop: State<'_, Desktop>,
    query: DeliveriesQuery,
) -> Answer<DeliveriesPage> {
    answered(monitor(&desktop)?.deliveries(query).await)
}

#[tauri::command]
pub async fn replay(
    desktop: State<'_, Desktop>,
    id: i64,
    request: Option<ReplayRequest>,
) -> Answer<ReplayAnswer> {
    answered(
        monitor(&desktop)?
            .replay_with(id, request.unwrap_or_default())
            .await,
    )
}

#[tauri::command]
pub async fn forwarding(desktop: State<'_, Desktop>, id: i64) -> Answer<Forwarding> {
    answered(monitor(&desktop)?.forwarding(id).await)
}

#[tauri::command]
pub async fn retry_forward(desktop: State<'_, Desktop>, id: i64) -> Answer<RetryAnswer> {
    answered(monitor(&desktop)?.retry_forward(id).await)
}

#[tauri::command]
pub async fn destinations(desktop: State<'_, Desktop>) -> Answer<Destinations> {
    answered(monitor(&desktop)?.destinations().await)
}

#[tauri::command]
pub async fn pause_destination(
    desktop: State<'_, Desktop>,
    id: i64,
    paused: bool,
) -> Answer<Destinations> {
    answered(monitor(&desktop)?.pause_destination(id, paused).await)
}

#[tauri::command]
pub async fn provider_overview(desktop: State<'_, Desktop>) -> Answer<ProviderOverview> {
    answered(monitor(&desktop)?.provider_overview().await)
}

#[tauri::command]
pub async fn register(desktop: State<'_, Desktop>, form: RegisterForm) -> Answer<RegisterAnswer> {
    answered(monitor(&desktop)?.register(form).await)
}

#[tauri::command]
pub async fn reconcile(desktop: State<'_, Desktop>) -> Answer<ReconcileReport> {
    answered(monitor(&desktop)?.reconcile().await)
}

/// Reconcile's and backup's progress, running or last finished.
#[tauri::command]
pub fn work(desktop: State<'_, Desktop>) -> Answer<Vec<WorkView>> {
    Ok(monitor(&desktop)?.work().into_values().collect())
}

#[tauri::command]
pub async fn backup(desktop: State<'_, Desktop>, request: BackupRequest) -> Answer<BackupReport> {
    answered(monitor(&desktop)?.backup(request).await)
}

#[tauri::command]
pub async fn start_demo(desktop: State<'_, Desktop>) -> Answer<DemoStatus> {
    answered(monitor(&desktop)?.start_demo().await)
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
    desktop.save_settings(settings).await.map_err(invalid)
}

/// Whether the keychain can be used here and which secrets it holds (never their values).
#[tauri::command]
pub async fn keychain_status() -> KeychainStatus {
    off_worker(keychain::status).await
}

/// Keeps a tunnel secret typed in Settings in the keychain; it is used from the next start.
#[tauri::command]
pub async fn keychain_set(item: keychain::Item, value: String) -> Answer<()> {
    off_worker(move || keychain::set(item, &value))
        .await
        .map_err(unavailable)
}

/// Removes a tunnel secret from the keychain.
#[tauri::command]
pub async fn keychain_delete(item: keychain::Item) -> Answer<bool> {
    off_worker(move || keychain::delete(item))
        .await
        .map_err(unavailable)
}

/// Stops the monitor gracefully and starts the app again (to apply settings).
#[tauri::command]
pub async fn restart(app: AppHandle) -> Answer<()> {
    stop_core(&app).await;
    app.restart();
}

fn invalid(message: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Invalid,
        message,
    }
}

fn unavailable(message: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unavailable,
        message,
    }
}
