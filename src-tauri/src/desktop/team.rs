//! The app as a window onto a team monitor: Settings' "Connect to a team monitor" signs in
//! through the system browser (`team_link::sign_in`), keeps the session in the keychain and
//! stops the app's own monitor (no listener, no tunnel). From then on the window's operations
//! are relayed to the team monitor with the session as a bearer (the window never sees it),
//! its feed comes in as the same `feed` events, and the tray and the notifications follow it
//! by the same rules. Every change of the link is told to the window as a `team` event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, State};

use super::notify::Notifier;
use super::{stop_core, tray, Desktop};
use crate::blocking::off_worker;
use crate::keychain;
use crate::monitor::{ErrorBody, ErrorCode};
use crate::team_link::{self, FeedItem, TeamConnection, TeamLink, TeamPerson, TeamView};

type Answer<T> = Result<T, ErrorBody>;

/// The longest pause between two attempts to reach a lost team monitor.
const MOST_PAUSE: Duration = Duration::from_secs(5);

/// The link to a team monitor, when the app is one's window.
pub struct Team {
    view: Mutex<TeamView>,
    link: Mutex<Option<TeamLink>>,
    /// Each new link's follower; an older one stops when this moves on.
    generation: AtomicU64,
}

impl Team {
    /// The link for a run: local, or the team monitor at `url` with the keychain's session.
    pub(super) fn at_start(url: Option<&str>) -> Team {
        let team = Team {
            view: Mutex::new(TeamView {
                state: TeamConnection::Local,
                url: None,
                person: None,
                message: None,
            }),
            link: Mutex::new(None),
            generation: AtomicU64::new(0),
        };
        let Some(url) = url else { return team };
        let mut view = team.view.lock().expect("team view");
        view.url = Some(url.to_owned());
        view.state = TeamConnection::SignedOut;
        match (team_link::team_url(url), keychain::team_session()) {
            (Ok(base), Ok(Some(bearer))) => {
                *team.link.lock().expect("team link") = Some(TeamLink::new(base, bearer));
                view.state = TeamConnection::Connecting;
            }
            (Err(error), _) => view.message = Some(error.message),
            (_, Err(error)) => view.message = Some(error.to_string()),
            (_, Ok(None)) => {}
        }
        drop(view);
        team
    }

    /// Whether the window is one onto a team monitor (whatever the link's state).
    pub(super) fn active(&self) -> bool {
        self.view.lock().expect("team view").state != TeamConnection::Local
    }

    pub(super) fn link(&self) -> Option<TeamLink> {
        self.link.lock().expect("team link").clone()
    }

    pub(super) fn view(&self) -> TeamView {
        self.view.lock().expect("team view").clone()
    }

    /// Changes the view and tells the window.
    fn update(&self, app: &AppHandle, change: impl FnOnce(&mut TeamView)) {
        let view = {
            let mut view = self.view.lock().expect("team view");
            change(&mut view);
            view.clone()
        };
        let _ = app.emit("team", &view);
    }

    /// Starts following the team monitor with the current link (if any).
    pub(super) fn start(self: &Arc<Self>, app: &AppHandle) {
        let Some(link) = self.link() else { return };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        tauri::async_runtime::spawn(follow(app.clone(), self.clone(), link, generation));
    }

    /// A call that answered 401: the session is over.
    pub(super) fn saw(&self, app: &AppHandle, error: &ErrorBody) {
        if error.code == ErrorCode::Unauthorized {
            self.update(app, |view| {
                view.state = TeamConnection::Ended;
                view.message = Some(error.message.clone());
            });
        }
    }
}

/// Follows the team monitor's feed for as long as this link is the current one: its events to
/// the window, the tray and the notifications; its losses and returns to the window.
async fn follow(app: AppHandle, team: Arc<Team>, link: TeamLink, generation: u64) {
    let mut resume = None;
    let mut pause = Duration::from_millis(250);
    let current = |team: &Team| team.generation.load(Ordering::SeqCst) == generation;
    while current(&team) {
        let was = team.view().state;
        let followed = team_link::follow(&link, &mut resume, |item| {
            if !current(&team) {
                return;
            }
            match item {
                FeedItem::Open => {
                    match link_person(&team) {
                        Some(_) => {}
                        None => {
                            let (app, team, link) = (app.clone(), team.clone(), link.clone());
                            tauri::async_runtime::spawn(async move {
                                if let Ok(person) = link.person().await {
                                    team.update(&app, |view| view.person = Some(person));
                                }
                            });
                        }
                    }
                    team.update(&app, |view| {
                        view.state = TeamConnection::Connected;
                        view.message = None;
                    });
                    // What changed while the link was down is not in the feed: the views reload.
                    if was == TeamConnection::Lost {
                        let _ = app.emit(
                            "feed",
                            serde_json::json!({"event": "resync", "data": {"through": 0}}),
                        );
                    }
                    tray::refresh(&app);
                }
                FeedItem::Event(event) => {
                    let _ = app.emit("feed", &event);
                    match event["event"].as_str() {
                        Some("change") => {
                            tray::refresh(&app);
                            if let Some(notifier) = app.try_state::<Notifier>() {
                                notifier.on_team_change(&app, &event["data"]);
                            }
                        }
                        Some("resync") => tray::refresh(&app),
                        // The team monitor's alert rules, notified as the local ones are.
                        Some("alert") => {
                            tray::refresh(&app);
                            let alert = &event["data"];
                            if let (Some(notifier), Some(summary), Some(view)) = (
                                app.try_state::<Notifier>(),
                                alert["summary"].as_str(),
                                alert["view"].as_str(),
                            ) {
                                let resolved = alert["resolved"] == true;
                                notifier.on_alert(&app, resolved, summary, view);
                            }
                        }
                        _ => {}
                    }
                }
            }
        })
        .await;
        if !current(&team) {
            return;
        }
        let opened = team.view().state == TeamConnection::Connected;
        match followed {
            Err(error) if error.code == ErrorCode::Unauthorized => {
                return team.saw(&app, &error);
            }
            Err(error) => team.update(&app, |view| {
                view.state = TeamConnection::Lost;
                view.message = Some(error.message);
            }),
            Ok(()) => team.update(&app, |view| {
                view.state = TeamConnection::Lost;
                view.message = Some("the team monitor closed the connection".into());
            }),
        }
        if opened {
            pause = Duration::from_millis(250);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MOST_PAUSE);
    }
}

fn link_person(team: &Team) -> Option<TeamPerson> {
    team.view().person
}

/// The team link's state, for Settings and the banner.
#[tauri::command]
pub fn team_status(desktop: State<'_, Desktop>) -> TeamView {
    desktop.team.view()
}

/// Connects to the team monitor at `url` (or signs in to it again): the system browser signs
/// the person in, the session goes to the keychain, the app's own monitor stops.
#[tauri::command]
pub async fn team_connect(
    app: AppHandle,
    desktop: State<'_, Desktop>,
    url: String,
) -> Answer<TeamView> {
    let base = team_link::team_url(&url)?;
    let team = desktop.team.clone();
    let before = team.view();
    team.update(&app, |view| {
        view.state = TeamConnection::Connecting;
        view.url = Some(base.to_string());
        view.message = None;
    });
    let signed_in = team_link::sign_in(&base, team_link::open_in_browser).await;
    let (bearer, person) = match signed_in {
        Ok(signed_in) => signed_in,
        Err(error) => {
            team.update(&app, |view| {
                *view = before;
                view.message = Some(error.message.clone());
            });
            return Err(error);
        }
    };
    let kept = bearer.clone();
    off_worker(move || keychain::set_team_session(&kept))
        .await
        .map_err(|error| ErrorBody {
            code: ErrorCode::Unavailable,
            message: error.to_string(),
        })?;
    save_team_url(&desktop, Some(base.to_string())).await?;
    // Connected, the app runs no listener and no tunnel of its own.
    stop_core(&app).await;
    connect(&app, &team, TeamLink::new(base, bearer), person);
    Ok(team.view())
}

/// Keeps the team monitor's address (or that there is none) in the app's settings.
async fn save_team_url(desktop: &Desktop, url: Option<String>) -> Answer<()> {
    let mut settings = desktop.settings();
    settings.team_url = url;
    desktop
        .save_settings(settings)
        .await
        .map(|_| ())
        .map_err(|error| ErrorBody {
            code: ErrorCode::Invalid,
            message: error.to_string(),
        })
}

fn connect(app: &AppHandle, team: &Arc<Team>, link: TeamLink, person: TeamPerson) {
    *team.link.lock().expect("team link") = Some(link);
    team.update(app, |view| {
        view.state = TeamConnection::Connecting;
        view.person = Some(person);
        view.message = None;
    });
    team.start(app);
}

/// Disconnects from the team monitor: the session is ended there and forgotten here, and the
/// app starts again as a monitor of its own.
#[tauri::command]
pub async fn team_disconnect(app: AppHandle, desktop: State<'_, Desktop>) -> Answer<()> {
    let team = desktop.team.clone();
    team.generation.fetch_add(1, Ordering::SeqCst);
    let link = team.link.lock().expect("team link").take();
    if let Some(link) = link {
        link.sign_out().await;
    }
    off_worker(keychain::delete_team_session)
        .await
        .map_err(|error| ErrorBody {
            code: ErrorCode::Unavailable,
            message: error.to_string(),
        })?;
    save_team_url(&desktop, None).await?;
    stop_core(&app).await;
    app.restart();
}

/// The tray's counts from the team monitor: the review queue's total and users per status.
pub(super) async fn counts(link: &TeamLink) -> Option<super::tray::Counts> {
    let overview = link
        .operation("overview", serde_json::json!({}), serde_json::json!({}))
        .await
        .ok()?;
    let per_status = overview["counts"]
        .as_array()?
        .iter()
        .map(|count| {
            (
                count["status"].as_str().unwrap_or("").to_owned(),
                count["users"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    // "Needs attention" as the team monitor's core counts it, by the same rules.
    let needs = &overview["attention"];
    let attention = needs["conditions"]
        .as_array()
        .map(|conditions| {
            conditions
                .iter()
                .filter_map(|one| one["summary"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(super::tray::Counts {
        review: super::tray::review_text(
            needs["toReview"].as_i64().unwrap_or(0),
            needs["overSla"].as_i64().unwrap_or(0),
        ),
        per_status,
        attention,
        team_webhook: Some(crate::team_link::TeamWebhookUrl::of_overview(&overview)),
    })
}
