//! The desktop app: one Tauri window over the same core that `serve` runs. The webhook
//! listener, the writer and the tunnel start with the app; the window calls the core's typed
//! methods through Tauri commands (no UI port is opened) and follows its live stream as Tauri
//! events; a tray icon keeps the monitor running with the window closed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Manager, RunEvent, WindowEvent};
use tokio::sync::watch;

use crate::blocking::off_worker;
use crate::config::{self, DesktopOverrides};
use crate::monitor::Monitor;
use crate::serve::Server;
use crate::settings::{DesktopSettings, DesktopStatus, SettingsError, SettingsSaved};

mod commands;
mod instance;
mod live;
mod notify;
mod save;
mod team;
mod tray;

pub use instance::{Instance, InstanceError};
use notify::Notifier;

/// How long quitting waits for the deliveries in flight before it gives up on them.
const QUIT_LIMIT: Duration = Duration::from_secs(15);

/// How the app is started.
#[derive(Debug, Default)]
pub struct DesktopArgs {
    /// What the command line says for this run.
    pub overrides: DesktopOverrides,
    /// Where the settings file is (tests use a folder of their own).
    pub settings_path: PathBuf,
    pub default_db: PathBuf,
}

/// The running core, once it started.
struct Core {
    monitor: Arc<Monitor>,
    stop: watch::Sender<bool>,
    finished: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
}

/// The app's state, shared by the commands, the tray and the live stream's follower.
pub struct Desktop {
    settings_path: PathBuf,
    settings: Mutex<DesktopSettings>,
    /// What this run uses (settings with the command line's overrides).
    db: PathBuf,
    core: Option<Core>,
    startup_error: Option<String>,
    settings_error: Option<String>,
    /// The team monitor this window is onto, if any (then `core` is `None`).
    team: Arc<team::Team>,
}

/// When this process started, for the "usable window" figure.
static LAUNCHED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Opens the window. Returns when the app quits.
pub fn run(args: DesktopArgs) -> anyhow::Result<()> {
    LAUNCHED.get_or_init(std::time::Instant::now);
    // WebKitGTK's DMA-BUF renderer brings GL into the web process: where there is no GPU
    // (software GL, a VM, Xvfb) that is ~80 MB for nothing, and on some GPUs it shows a blank
    // window. A board of cards renders well without it. Set before WebKit starts and before
    // any thread exists; a value from the user's environment wins.
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    let (settings, settings_error) = match DesktopSettings::load(&args.settings_path) {
        Ok(settings) => (settings, None),
        Err(error) => (DesktopSettings::default(), Some(error.to_string())),
    };
    let db = config::desktop_db(&args.overrides, &settings, args.default_db.clone());

    // One instance per database: a second launch brings the first one's window forward.
    let instance = match Instance::acquire(&db) {
        Ok(instance) => instance,
        Err(InstanceError::Running) => {
            eprintln!(
                "kyc-monitor: KYC Monitor is already running for {}; its window was brought to the front",
                db.display()
            );
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };

    let context = tauri::generate_context!();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(tauri::generate_handler![
            commands::operation,
            commands::desktop_status,
            commands::save_settings,
            commands::restart,
            commands::window_ready,
            commands::keychain_status,
            commands::keychain_set,
            commands::keychain_delete,
            save::save_review_csv,
            team::team_status,
            team::team_connect,
            team::team_disconnect
        ])
        .setup(move |app| {
            app.manage(Notifier::default());
            let desktop = start(app.handle(), args, settings, settings_error, db);
            let team = desktop.team.clone();
            app.manage(desktop);
            team.start(app.handle());
            // Ctrl-C and SIGTERM (a logout, a service manager) quit as the tray's Quit does.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                match crate::serve::stop_signal() {
                    Ok(signal) => {
                        signal.await;
                        quit(handle);
                    }
                    Err(error) => tracing::warn!("cannot listen for Ctrl-C and SIGTERM: {error}"),
                }
            });
            let handle = app.handle().clone();
            instance.on_focus_request(move || show_window(&handle));
            tray::build(app.handle())?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the monitor running in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(context)?;
    app.run(|_, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event {
            // Only an explicit quit (with a code) ends the app; the last window closing does not.
            if code.is_none() {
                api.prevent_exit();
            }
        }
    });
    Ok(())
}

/// Binds the listener and starts the core; a failure (such as a database that cannot be
/// opened) is kept and shown in the window, with the settings to fix it.
fn start(
    app: &AppHandle,
    args: DesktopArgs,
    settings: DesktopSettings,
    settings_error: Option<String>,
    db: PathBuf,
) -> Desktop {
    // A window onto a team monitor runs no monitor of its own.
    let team = Arc::new(team::Team::at_start(settings.team_url.as_deref()));
    if team.active() {
        return Desktop {
            settings_path: args.settings_path,
            settings: Mutex::new(settings),
            db,
            core: None,
            startup_error: None,
            settings_error,
            team,
        };
    }
    let config = config::desktop_serve_config(args.overrides, &settings, db.clone())
        .map_err(|error| error.to_string());
    let bound = config.and_then(|config| {
        tauri::async_runtime::block_on(Server::bind(config)).map_err(|error| error.to_string())
    });
    let (core, startup_error) = match bound {
        Ok(server) => {
            let monitor = server.monitor();
            announce(&server);
            let (stop, mut stopping) = watch::channel(false);
            let finished = tauri::async_runtime::spawn(async move {
                let stop = async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                };
                if let Err(error) = server.run(stop).await {
                    tracing::error!("the monitor stopped: {error}");
                }
            });
            tauri::async_runtime::spawn(live::follow(app.clone(), monitor.clone()));
            (
                Some(Core {
                    monitor,
                    stop,
                    finished: Mutex::new(Some(finished)),
                }),
                None,
            )
        }
        Err(error) => {
            tracing::error!("the monitor could not start: {error}");
            (None, Some(error))
        }
    };
    Desktop {
        settings_path: args.settings_path,
        settings: Mutex::new(settings),
        db,
        core,
        startup_error,
        settings_error,
        team,
    }
}

/// The same `webhook:` and `public:` lines as `serve`, for whoever started the app.
fn announce(server: &Server) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "webhook: {}", server.webhook_url());
    let _ = stdout.flush();
    tauri::async_runtime::spawn(crate::serve::print_public_urls(server.tunnel_state()));
}

fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

impl Desktop {
    /// The running core, if it started.
    fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.core.as_ref().map(|core| &core.monitor)
    }

    fn settings(&self) -> DesktopSettings {
        self.settings.lock().expect("settings lock").clone()
    }

    fn status(&self) -> DesktopStatus {
        DesktopStatus {
            // A Slack URL's path is its token: the window sees alert targets masked.
            settings: self.settings().for_window(),
            settings_path: self.settings_path.clone(),
            settings_error: self.settings_error.clone(),
            db: self.db.clone(),
            startup_error: self.startup_error.clone(),
            webhook_url: self.monitor().map(|m| m.webhook_url().to_owned()),
        }
    }

    /// Checks and saves `settings` (off the main thread); they are this run's from now on.
    async fn save_settings(
        &self,
        settings: DesktopSettings,
    ) -> Result<SettingsSaved, SettingsError> {
        // Targets the window sent back as it was shown them are the saved ones.
        let settings = settings.with_saved_targets(&self.settings());
        let (path, saved) = (self.settings_path.clone(), settings.clone());
        off_worker(move || saved.save(&path)).await?;
        let mut current = self.settings.lock().expect("settings lock");
        let restart_needed = current.restart_needed_for(&settings);
        *current = settings;
        Ok(SettingsSaved { restart_needed })
    }

    /// The tray's Pause notifications: applies at once, saved in the background.
    fn toggle_notifications_paused(&self) {
        let settings = {
            let mut settings = self.settings.lock().expect("settings lock");
            settings.notifications_paused = !settings.notifications_paused;
            settings.clone()
        };
        let path = self.settings_path.clone();
        tauri::async_runtime::spawn(async move {
            if let Err(error) = off_worker(move || settings.save(&path)).await {
                tracing::warn!("{error}");
            }
        });
    }
}

/// Stops the monitor and waits (up to [`QUIT_LIMIT`]) until the deliveries in flight are
/// stored and answered. Shared by Quit, the stop signals and Restart.
async fn stop_core(app: &AppHandle) {
    let Some(desktop) = app.try_state::<Desktop>() else {
        return;
    };
    let Some(core) = &desktop.core else { return };
    let _ = core.stop.send(true);
    let finished = core.finished.lock().expect("core lock").take();
    if let Some(finished) = finished {
        if tokio::time::timeout(QUIT_LIMIT, finished).await.is_err() {
            tracing::warn!("the monitor did not stop within {QUIT_LIMIT:?}; going on anyway");
        }
    }
}

/// Stops the monitor gracefully (deliveries in flight are stored and answered), then exits.
fn quit(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        stop_core(&app).await;
        app.exit(0);
    });
}

/// Whether a window can be shown here.
pub fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The settings file used unless a test gives another.
pub fn settings_path() -> PathBuf {
    DesktopSettings::default_path().unwrap_or_else(|| Path::new("desktop-settings.json").to_owned())
}
