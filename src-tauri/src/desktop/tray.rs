//! The tray icon: the review queue's count, the number of users per status, Show window, Copy
//! webhook URL (the team monitor's, when the app is a window onto one and the role is shown it;
//! else disabled, saying why), Pause notifications, Quit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use super::{quit, show_window, Desktop};
use crate::kyc::STATUS_LABELS;
use crate::team_link::TeamWebhookUrl;

/// Menu ids of the tray's items.
const SHOW: &str = "show";
const COPY: &str = "copy-webhook";
const PAUSE: &str = "pause-notifications";
const QUIT: &str = "quit";
/// How often at most the tray asks for the counts while deliveries stream in.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

struct Tray {
    /// "N to review": the review queue's total, as its view counts it.
    review: MenuItem<Wry>,
    /// One item per documented status, in [`STATUS_LABELS`] order.
    counts: Vec<MenuItem<Wry>>,
    /// "Copy webhook URL".
    copy: MenuItem<Wry>,
    /// Connected to a team monitor: its webhook URL as this session may copy it (as of the last
    /// refresh); `None` for the app's own monitor.
    team_webhook: std::sync::Mutex<Option<TeamWebhookUrl>>,
    /// A refresh is scheduled; further changes until it runs need no other.
    refresh_pending: AtomicBool,
}

pub(super) fn build(app: &AppHandle) -> tauri::Result<()> {
    let review = MenuItem::with_id(app, "count-review", "– to review", false, None::<&str>)?;
    let counts: Vec<MenuItem<Wry>> = STATUS_LABELS
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
    let paused = app
        .try_state::<Desktop>()
        .is_some_and(|desktop| desktop.settings().notifications_paused);
    let show = MenuItem::with_id(app, SHOW, "Show window", true, None::<&str>)?;
    // A window onto a team monitor: disabled until the team monitor says what may be copied.
    let team = app
        .try_state::<Desktop>()
        .is_some_and(|desktop| desktop.team.active());
    let copy = MenuItem::with_id(app, COPY, "Copy webhook URL", !team, None::<&str>)?;
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
    let mut items: Vec<&dyn IsMenuItem<Wry>> = vec![&review];
    items.extend(counts.iter().map(|item| item as &dyn IsMenuItem<Wry>));
    items.extend([
        &separator as &dyn IsMenuItem<Wry>,
        &show,
        &copy,
        &pause,
        &separator2,
        &quit_item,
    ]);
    let menu = Menu::with_items(app, &items)?;
    let icon = tauri::image::Image::from_bytes(include_bytes!("../../icons/32x32.png"))?;
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
        review,
        counts,
        copy,
        team_webhook: std::sync::Mutex::new(None),
        refresh_pending: AtomicBool::new(false),
    });
    refresh(app);
    Ok(())
}

/// The public URL once a tunnel is up (the one to give the provider), the local one until then;
/// connected to a team monitor, the team monitor's, as its last refresh told it.
fn copy_webhook_url(app: &AppHandle) {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let (Some(desktop), Some(tray)) = (app.try_state::<Desktop>(), app.try_state::<Tray>()) else {
        return;
    };
    let url = if desktop.team.active() {
        let known = tray.team_webhook.lock().expect("tray webhook").clone();
        known
            .as_ref()
            .and_then(TeamWebhookUrl::url)
            .map(str::to_owned)
    } else {
        desktop
            .monitor()
            .map(|monitor| monitor.provider_facing_url())
    };
    if let Some(url) = url {
        if let Err(error) = app.clipboard().write_text(url) {
            tracing::warn!("could not copy the webhook URL: {error}");
        }
    }
}

/// Shows what "Copy webhook URL" copies: the team monitor's URL, or why not (`None`: the app's
/// own monitor, always there).
fn show_copy_item(tray: &Tray, team: Option<TeamWebhookUrl>) {
    let (label, enabled) = team
        .as_ref()
        .map_or(("Copy webhook URL", true), TeamWebhookUrl::menu_item);
    let _ = tray.copy.set_text(label);
    let _ = tray.copy.set_enabled(enabled);
    *tray.team_webhook.lock().expect("tray webhook") = team;
}

fn toggle_pause(app: &AppHandle) {
    if let Some(desktop) = app.try_state::<Desktop>() {
        desktop.toggle_notifications_paused();
    }
}

/// Updates the counts: at most one query per [`REFRESH_EVERY`], and always one after the last
/// change (changes that arrive meanwhile are folded into the pending refresh). Called on every
/// delivery and when the review queue's settings are saved.
pub(super) fn refresh(app: &AppHandle) {
    let (Some(desktop), Some(tray)) = (app.try_state::<Desktop>(), app.try_state::<Tray>()) else {
        return;
    };
    let source = match (desktop.team.link(), desktop.monitor().cloned()) {
        (Some(link), _) if desktop.team.active() => Source::Team(link),
        (_, Some(monitor)) if !desktop.team.active() => Source::Local(monitor),
        _ => return,
    };
    if tray.refresh_pending.swap(true, Ordering::AcqRel) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(REFRESH_EVERY).await;
        let Some(tray) = app.try_state::<Tray>() else {
            return;
        };
        tray.refresh_pending.store(false, Ordering::Release);
        let Some(Counts {
            review,
            per_status,
            attention,
            team_webhook,
        }) = source.counts().await
        else {
            if matches!(source, Source::Team(_)) {
                let why = "the team monitor's overview could not be read".to_owned();
                show_copy_item(&tray, Some(TeamWebhookUrl::Unknown(why)));
            }
            return;
        };
        show_copy_item(&tray, team_webhook);
        let _ = tray.review.set_text(review);
        // What needs attention, as the alert rules tell it, in the icon's tooltip.
        if let Some(icon) = app.tray_by_id("main") {
            let tooltip = match attention.as_slice() {
                [] => "KYC Monitor".to_owned(),
                [one] => format!("KYC Monitor: {one}"),
                many => format!("KYC Monitor: {} things need attention", many.len()),
            };
            let _ = icon.set_tooltip(Some(tooltip));
        }
        for ((status, label), item) in STATUS_LABELS.iter().zip(&tray.counts) {
            let users: i64 = per_status
                .iter()
                .filter(|(s, _)| s == status)
                .map(|(_, n)| n)
                .sum();
            let _ = item.set_text(format!("{label}: {users}"));
        }
    });
}

/// What the tray shows: the review queue's count (and how many are over the SLA), the users per
/// status, and what needs attention (each alert rule's summary, as the alerts and the
/// notifications tell it): "needs attention" as the core defines it (monitor/attention.rs).
pub(super) struct Counts {
    pub review: String,
    pub per_status: Vec<(String, i64)>,
    pub attention: Vec<String>,
    /// Connected to a team monitor: its webhook URL as this session may copy it.
    pub team_webhook: Option<TeamWebhookUrl>,
}

/// Where the counts come from: the app's own monitor, or the team monitor it is a window onto.
enum Source {
    Local(std::sync::Arc<crate::monitor::Monitor>),
    Team(crate::team_link::TeamLink),
}

impl Source {
    async fn counts(&self) -> Option<Counts> {
        let monitor = match self {
            Source::Team(link) => return super::team::counts(link).await,
            Source::Local(monitor) => monitor,
        };
        let overview = match monitor.overview().await {
            Ok(overview) => overview,
            Err(error) => {
                tracing::debug!("the tray's counts are not refreshed: {error}");
                return None;
            }
        };
        let per_status = overview
            .counts
            .iter()
            .map(|c| (c.status.as_str().to_owned(), c.users))
            .collect();
        let needs = &overview.attention;
        let attention = needs
            .conditions
            .iter()
            .map(|active| active.condition.summary.clone())
            .collect();
        Some(Counts {
            review: review_text(needs.to_review, needs.over_sla),
            per_status,
            attention,
            team_webhook: None,
        })
    }
}

/// "N to review", and ", M over SLA" when some are.
pub(super) fn review_text(to_review: i64, over_sla: i64) -> String {
    match over_sla {
        0 => format!("{to_review} to review"),
        late => format!("{to_review} to review, {late} over SLA"),
    }
}
