//! The desktop app: one Tauri window over the same core that `serve` runs. The webhook
//! listener, the writer and the tunnel start with the app; the window talks to the same UI API
//! in-process (Tauri commands and events, no UI port); a tray icon keeps the monitor running
//! with the window closed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{json, Value};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, RunEvent, WindowEvent};
use tokio::sync::watch;

use crate::keychain;
use crate::serve::{InProcessApi, ServeConfig, Server};
use crate::settings::DesktopSettings;
use crate::tunnel::{TunnelOptions, TunnelSpec};

mod instance;
mod notify;

pub use instance::{Instance, InstanceError};
use notify::Notifier;

/// How long quitting waits for the deliveries in flight before it gives up on them.
const QUIT_LIMIT: Duration = Duration::from_secs(15);
const STATUS_ITEMS: [(&str, &str); 4] = [
    ("NOT_STARTED", "Not started"),
    ("OPEN", "Open"),
    ("ON_HOLD", "On hold"),
    ("CLOSED", "Closed"),
];

/// What the command line says for this run; it wins over the saved settings, without changing them.
#[derive(Debug, Default)]
pub struct DesktopArgs {
    pub db: Option<PathBuf>,
    pub listen: Option<std::net::SocketAddr>,
    pub tunnel: Option<TunnelSpec>,
    pub tunnel_options: TunnelOptions,
    /// Where the settings file is (tests use a folder of their own).
    pub settings_path: PathBuf,
    pub default_db: PathBuf,
}

/// The running core, once it started.
struct Core {
    api: InProcessApi,
    webhook_url: String,
    stop: watch::Sender<bool>,
    finished: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
}

/// The app's state, shared by the commands, the tray and the event pump.
pub struct Desktop {
    settings_path: PathBuf,
    settings: Mutex<DesktopSettings>,
    /// What this run uses (settings with the command line's overrides).
    db: PathBuf,
    core: Option<Core>,
    startup_error: Option<String>,
    settings_error: Option<String>,
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
    let db = args
        .db
        .clone()
        .or_else(|| settings.db.clone())
        .unwrap_or_else(|| args.default_db.clone());

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
            api,
            desktop_status,
            save_settings,
            restart,
            window_ready,
            keychain_status,
            keychain_set,
            keychain_delete
        ])
        .setup(move |app| {
            app.manage(Notifier::default());
            let desktop = start(app.handle(), args, settings, settings_error, db);
            app.manage(desktop);
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
            build_tray(app.handle())?;
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
    let config = (|| -> Result<ServeConfig, String> {
        let tunnel = match args.tunnel {
            Some(tunnel) => tunnel,
            None => settings.tunnel_spec()?,
        };
        let mut tunnel_options = args.tunnel_options;
        tunnel_options.cloudflared_path = tunnel_options
            .cloudflared_path
            .or(settings.cloudflared_path.clone());
        tunnel_options.ngrok_domain = tunnel_options
            .ngrok_domain
            .or(settings.ngrok_domain.clone());
        tunnel_options.bore_public_base = tunnel_options
            .bore_public_base
            .or(settings.bore_public_base.clone());
        if tunnel_options.ngrok_allow_cidrs.is_empty() {
            tunnel_options
                .ngrok_allow_cidrs
                .clone_from(&settings.ngrok_allow_cidrs);
        }
        tunnel_options.fill_from_keychain(&tunnel);
        Ok(ServeConfig {
            db: db.clone(),
            listen: match args.listen {
                Some(listen) => listen,
                None => settings.listen_addr()?,
            },
            ui_listen: None,
            ui_port_fallback: false,
            webhook_token: true,
            max_body: 64 * 1024,
            signing_secret: None,
            demo: None,
            tunnel,
            tunnel_options,
        })
    })();
    let bound = config.and_then(|config| {
        tauri::async_runtime::block_on(Server::bind(config)).map_err(|error| error.to_string())
    });
    let (core, startup_error) = match bound {
        Ok(server) => {
            let api = server.api_in_process();
            let webhook_url = server.webhook_url().to_owned();
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
            tauri::async_runtime::spawn(pump_feed(app.clone(), api.clone()));
            (
                Some(Core {
                    api,
                    webhook_url,
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
    }
}

/// The same `webhook:` and `public:` lines as `serve`, for whoever started the app.
fn announce(server: &Server) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "webhook: {}", server.webhook_url());
    let _ = stdout.flush();
    tauri::async_runtime::spawn(crate::serve::print_public_urls(server.tunnel_state()));
}

/// Reads the UI API's live feed in-process and hands each event to the window (`feed`), the
/// tray (counts) and the notifications. Resumes after the last id if the feed ends.
async fn pump_feed(app: AppHandle, api: InProcessApi) {
    let mut last_id: Option<i64> = None;
    loop {
        let answer = api.call("GET", "/api/feed", None, last_id).await;
        if answer.status != 200 {
            tracing::warn!(status = answer.status, "the live feed is not available");
            return;
        }
        let mut body = answer.body;
        let mut buffer = String::new();
        let mut event = SseEvent::default();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(bytes) = frame.data_ref() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(bytes));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    if let Some(done) = std::mem::take(&mut event).finish() {
                        if let Some(id) = done.id {
                            last_id = Some(id);
                        }
                        on_feed_event(&app, &done);
                    }
                } else if let Some(value) = line.strip_prefix("event:") {
                    event.event = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    event
                        .data
                        .push_str(value.strip_prefix(' ').unwrap_or(value));
                } else if let Some(value) = line.strip_prefix("id:") {
                    event.id = value.trim().parse().ok();
                }
            }
        }
        let stopping = app
            .try_state::<Desktop>()
            .and_then(|d| d.core.as_ref().map(|c| *c.stop.borrow()))
            .unwrap_or(true);
        if stopping {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Default)]
struct SseEvent {
    event: String,
    data: String,
    id: Option<i64>,
}

#[derive(Clone, Serialize)]
struct FeedEvent {
    event: String,
    data: Value,
    #[serde(skip)]
    id: Option<i64>,
}

impl SseEvent {
    fn finish(self) -> Option<FeedEvent> {
        if self.data.is_empty() && self.event.is_empty() {
            return None;
        }
        Some(FeedEvent {
            event: if self.event.is_empty() {
                "message".into()
            } else {
                self.event
            },
            data: serde_json::from_str(&self.data).unwrap_or(Value::String(self.data)),
            id: self.id,
        })
    }
}

fn on_feed_event(app: &AppHandle, event: &FeedEvent) {
    let _ = app.emit("feed", event.clone());
    if event.event == "change" || event.event == "resync" {
        refresh_tray(app);
    }
    if event.event == "change" {
        if let Some(notifier) = app.try_state::<Notifier>() {
            notifier.on_change(app, &event.data);
        }
    }
}

fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Menu ids of the tray's items.
const SHOW: &str = "show";
const COPY: &str = "copy-webhook";
const PAUSE: &str = "pause-notifications";
const QUIT: &str = "quit";

struct Tray {
    counts: Vec<MenuItem<tauri::Wry>>,
    /// A refresh is scheduled; further changes until it runs need no other.
    refresh_pending: std::sync::atomic::AtomicBool,
}

fn build_tray(app: &AppHandle) -> tauri::Result<()> {
    let counts: Vec<MenuItem<tauri::Wry>> = STATUS_ITEMS
        .iter()
        .map(|(status, label)| {
            MenuItem::with_id(
                app,
                format!("count-{status}"),
                format!("{label}: –"),
                false,
                None::<&str>,
            )
        })
        .collect::<Result<_, _>>()?;
    let paused = app.try_state::<Desktop>().is_some_and(|d| {
        d.settings
            .lock()
            .expect("settings lock")
            .notifications_paused
    });
    let show = MenuItem::with_id(app, SHOW, "Show window", true, None::<&str>)?;
    let copy = MenuItem::with_id(app, COPY, "Copy webhook URL", true, None::<&str>)?;
    let pause = CheckMenuItem::with_id(
        app,
        PAUSE,
        "Pause notifications",
        true,
        paused,
        None::<&str>,
    )?;
    let quit_item = MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let separator2 = PredefinedMenuItem::separator(app)?;
    let mut items: Vec<&dyn tauri::menu::IsMenuItem<tauri::Wry>> = counts
        .iter()
        .map(|item| item as &dyn tauri::menu::IsMenuItem<tauri::Wry>)
        .collect();
    items.extend([
        &separator as &dyn tauri::menu::IsMenuItem<tauri::Wry>,
        &show,
        &copy,
        &pause,
        &separator2,
        &quit_item,
    ]);
    let menu = Menu::with_items(app, &items)?;
    let icon = tauri::image::Image::from_bytes(include_bytes!("../icons/32x32.png"))?;
    TrayIconBuilder::with_id("main")
        .icon(icon)
        .tooltip("KYC Monitor")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            SHOW => show_window(app),
            COPY => copy_webhook_url(app),
            PAUSE => toggle_pause(app),
            QUIT => quit(app.clone()),
            _ => {}
        })
        .build(app)?;
    app.manage(Tray {
        counts,
        refresh_pending: std::sync::atomic::AtomicBool::new(false),
    });
    refresh_tray(app);
    Ok(())
}

fn copy_webhook_url(app: &AppHandle) {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let Some(desktop) = app.try_state::<Desktop>() else {
        return;
    };
    if let Some(core) = &desktop.core {
        // The public URL once a tunnel is up: that is the one to give the provider.
        let api = core.api.clone();
        let local = core.webhook_url.clone();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let overview = json_of(api.call("GET", "/api/overview", None, None).await).await;
            let url = overview["tunnel"]["status"]["publicUrl"]
                .as_str()
                .map_or(local, str::to_owned);
            if let Err(error) = app.clipboard().write_text(url) {
                tracing::warn!("could not copy the webhook URL: {error}");
            }
        });
    }
}

fn toggle_pause(app: &AppHandle) {
    let Some(desktop) = app.try_state::<Desktop>() else {
        return;
    };
    let mut settings = desktop.settings.lock().expect("settings lock");
    settings.notifications_paused = !settings.notifications_paused;
    if let Err(error) = settings.save(&desktop.settings_path) {
        tracing::warn!("{error}");
    }
}

/// How often at most the tray asks for the counts while deliveries stream in.
const TRAY_REFRESH: Duration = Duration::from_millis(500);

/// Updates the tray's counts: at most one query per [`TRAY_REFRESH`], and always one after
/// the last change (changes that arrive meanwhile are folded into the pending refresh).
fn refresh_tray(app: &AppHandle) {
    let (Some(desktop), Some(tray)) = (app.try_state::<Desktop>(), app.try_state::<Tray>()) else {
        return;
    };
    let Some(core) = &desktop.core else { return };
    if tray
        .refresh_pending
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let api = core.api.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(TRAY_REFRESH).await;
        let Some(tray) = app.try_state::<Tray>() else {
            return;
        };
        tray.refresh_pending
            .store(false, std::sync::atomic::Ordering::Release);
        let overview = json_of(api.call("GET", "/api/overview", None, None).await).await;
        for ((status, label), item) in STATUS_ITEMS.iter().zip(&tray.counts) {
            let users: i64 = overview["counts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["status"] == *status)
                .filter_map(|c| c["users"].as_i64())
                .sum();
            let _ = item.set_text(format!("{label}: {users}"));
        }
    });
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

async fn json_of(answer: crate::serve::ApiAnswer) -> Value {
    let bytes = answer
        .body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[derive(Serialize)]
struct ApiReply {
    status: u16,
    body: Value,
}

/// The UI API, in-process: the same routes and answers as the browser gets over HTTP.
#[tauri::command]
async fn api(
    desktop: tauri::State<'_, Desktop>,
    method: String,
    path: String,
    body: Option<Value>,
) -> Result<ApiReply, String> {
    let Some(core) = &desktop.core else {
        let error = desktop.startup_error.clone().unwrap_or_default();
        return Ok(ApiReply {
            status: 503,
            body: json!({"error": error}),
        });
    };
    if !path.starts_with("/api/") || path.starts_with("/api/feed") {
        return Err(format!("{path} is not an API route the window may call"));
    }
    let answer = core.api.call(&method, &path, body.as_ref(), None).await;
    let status = answer.status;
    Ok(ApiReply {
        status,
        body: json_of(answer).await,
    })
}

/// The window calls this once its first view has rendered: the launch figure in the log.
#[tauri::command]
fn window_ready() {
    if let Some(launched) = LAUNCHED.get() {
        tracing::info!(
            "window usable {} ms after launch",
            launched.elapsed().as_millis()
        );
    }
}

/// What the window shows about this app itself: where things are, what failed at start.
#[tauri::command]
fn desktop_status(desktop: tauri::State<'_, Desktop>) -> Value {
    json!({
        "settings": *desktop.settings.lock().expect("settings lock"),
        "settingsPath": desktop.settings_path,
        "settingsError": desktop.settings_error,
        "db": desktop.db,
        "startupError": desktop.startup_error,
        "webhookUrl": desktop.core.as_ref().map(|c| c.webhook_url.clone()),
    })
}

/// Checks and saves the settings. Notification choices apply at once; the rest on restart.
#[tauri::command]
fn save_settings(
    desktop: tauri::State<'_, Desktop>,
    settings: DesktopSettings,
) -> Result<Value, String> {
    settings
        .save(&desktop.settings_path)
        .map_err(|e| e.to_string())?;
    let mut current = desktop.settings.lock().expect("settings lock");
    let restart_needed = current.restart_needed_for(&settings);
    *current = settings;
    Ok(json!({"restartNeeded": restart_needed}))
}

/// Whether the keychain can be used here and which secrets it holds (never their values).
#[tauri::command]
async fn keychain_status() -> Value {
    tauri::async_runtime::spawn_blocking(|| {
        if let Some(reason) = keychain::unavailable() {
            return json!({"available": false, "reason": reason, "items": {}});
        }
        let mut items = serde_json::Map::new();
        let mut reason = None;
        for item in keychain::Item::ALL {
            let stored = match keychain::get(item) {
                Ok(found) => json!(found.is_some()),
                Err(error) => {
                    reason.get_or_insert(error);
                    Value::Null
                }
            };
            items.insert(item.name().to_owned(), stored);
        }
        json!({"available": reason.is_none(), "reason": reason, "items": items})
    })
    .await
    .unwrap_or_else(|e| json!({"available": false, "reason": e.to_string(), "items": {}}))
}

/// Keeps a tunnel secret typed in Settings in the keychain; it is used from the next start.
#[tauri::command]
async fn keychain_set(item: String, value: String) -> Result<(), String> {
    let item = keychain_item(&item)?;
    tauri::async_runtime::spawn_blocking(move || keychain::set(item, &value))
        .await
        .map_err(|e| e.to_string())?
}

/// Removes a tunnel secret from the keychain.
#[tauri::command]
async fn keychain_delete(item: String) -> Result<bool, String> {
    let item = keychain_item(&item)?;
    tauri::async_runtime::spawn_blocking(move || keychain::delete(item))
        .await
        .map_err(|e| e.to_string())?
}

fn keychain_item(name: &str) -> Result<keychain::Item, String> {
    keychain::Item::from_name(name)
        .ok_or_else(|| format!("{name:?} is not a secret the keychain keeps for KYC Monitor"))
}

/// Stops the monitor gracefully and starts the app again (to apply settings).
#[tauri::command]
async fn restart(app: AppHandle) -> Result<(), String> {
    stop_core(&app).await;
    app.restart();
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
