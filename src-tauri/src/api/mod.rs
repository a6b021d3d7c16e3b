//! The local UI's API: JSON views over the store and a live feed of committed deliveries
//! (Server-Sent Events). It listens on loopback only, never on the webhook listener, behind a
//! per-run token, and refuses foreign Host and Origin headers (DNS rebinding, cross-site calls).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;

mod provider;

use crate::ingest;
use crate::kyc::{is_known_decision, is_known_status, KNOWN_STATUSES};
use crate::provider::actions::ProviderHub;
use crate::store::{
    BoardCursor, Change, DeliveryFilter, DeliveryRecord, Reader, Store, StoreError, StoreProblem,
    TimelineEntry, UserRecord, Writer,
};
use crate::tunnel::TunnelState;

const COOKIE: &str = "kyc_monitor_ui";
const PAGE_LIMIT: u32 = 500;
/// Past this many missed changes, a reconnecting follower is told to reload instead.
const CATCH_UP_LIMIT: u32 = 1000;
/// How long a view waits for the projection to hold what was acknowledged before it was asked
/// for (it usually takes milliseconds); past that it shows what the projection has.
const PROJECTION_WAIT: Duration = Duration::from_millis(500);

/// What the UI API needs to know about this run.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// The per-run secret in the `ui:` URL.
    pub token: String,
    /// The UI listener's own address: the only Host (and Origin) accepted.
    pub local_addr: SocketAddr,
    /// The webhook's local URL, shown (and copyable) in the UI.
    pub webhook_url: String,
    /// The tunnel's kind and its state as it changes.
    pub tunnel: (&'static str, watch::Receiver<TunnelState>),
}

struct Ui {
    hub: Arc<ProviderHub>,
    /// Turns true when the server stops: live feeds end then, so that they do not hold it up.
    stopping: watch::Receiver<bool>,
    store: Store,
    writer: Arc<Writer>,
    config: UiConfig,
    allowed_hosts: Vec<String>,
    readers: Mutex<Vec<Reader>>,
}

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The provider (or the way to it) failed: not this monitor's fault.
    #[error("{0}")]
    Provider(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Provider(_) => StatusCode::BAD_GATEWAY,
            ApiError::Store(_) | ApiError::Sqlite(_) => {
                tracing::error!(error = %self, "a UI query failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// The UI API's routes, every one behind the guard.
pub fn router(
    store: Store,
    writer: Arc<Writer>,
    hub: Arc<ProviderHub>,
    config: UiConfig,
    stopping: watch::Receiver<bool>,
) -> Router {
    let port = config.local_addr.port();
    let allowed_hosts = vec![
        config.local_addr.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    let ui = Arc::new(Ui {
        hub,
        stopping,
        store,
        writer,
        config,
        allowed_hosts,
        readers: Mutex::new(Vec::new()),
    });
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/board/{status}", get(board))
        .route("/api/search", get(search))
        .route("/api/users/{external_id}", get(user))
        .route("/api/deliveries", get(deliveries))
        .route("/api/deliveries/{id}/replay", post(replay))
        .route("/api/stats", get(stats))
        .route("/api/feed", get(feed))
        .route("/api/provider", get(provider::overview))
        .route("/api/register", post(provider::register))
        .route("/api/reconcile", post(provider::reconcile))
        .route("/api/demo", post(provider::start_demo))
        .route(
            "/api/{*rest}",
            get(|| async { ApiError::NotFound("there is no such API route".into()) }),
        )
        .fallback(get(static_file))
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not accepted on this route"),
            )
        })
        .layer(middleware::from_fn_with_state(ui.clone(), guard))
        // Outside the guard, so that its refusals carry them too. The page and its assets set
        // their own policy and caching; everything else is data for this browser tab only.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DATA_SECURITY_POLICY),
        ))
        .with_state(ui)
}

mod assets {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

/// The only place scripts may come from is this listener; no framing, no leaking the address.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// For answers that are data, not a page: nothing in them may load or be framed.
const DATA_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The built front end (embedded at build time): `/` is the app, `/assets/*` its files.
async fn static_file(uri: axum::http::Uri) -> Response {
    let path = if uri.path() == "/" {
        "/index.html"
    } else {
        uri.path()
    };
    let Some((_, content_type, bytes)) = assets::ASSETS.iter().find(|(url, _, _)| *url == path)
    else {
        return ApiError::NotFound("there is nothing here".into()).into_response();
    };
    // Vite names assets by content hash, so they never change; the page itself always may.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        *bytes,
    )
        .into_response()
}

/// Host and Origin must name this listener; the token must come with the request (query, once),
/// or in the cookie that the first request sets, or as a bearer token.
async fn guard(State(ui): State<Arc<Ui>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ui.allowed_hosts.iter().any(|allowed| allowed == host) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("this UI answers only at http://{}", ui.config.local_addr),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = ui
            .allowed_hosts
            .iter()
            .any(|allowed| origin == format!("http://{allowed}"));
        if !same {
            return refuse(
                StatusCode::FORBIDDEN,
                "requests from other sites are refused",
            );
        }
    }
    let matches =
        |candidate: &str| bool::from(candidate.as_bytes().ct_eq(ui.config.token.as_bytes()));
    let from_query = request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
        })
        .is_some_and(matches);
    let from_cookie = cookie(headers, COOKIE).is_some_and(matches);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(matches);
    if !(from_query || from_cookie || from_header) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "open the UI with the link that kyc-monitor printed (the ui: line); it carries this run's token",
        );
    }
    let mut response = next.run(request).await;
    if from_query && !from_cookie {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            ui.config.token
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

impl Ui {
    /// Runs a query on a pooled read-only connection, off the async workers.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        query: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        // Read your writes: a view asked for after a delivery was acknowledged shows it.
        self.writer.projected(PROJECTION_WAIT).await;
        let ui = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = ui.readers.lock().expect("reader pool").pop();
            let reader = match pooled {
                Some(reader) => reader,
                None => ui.store.reader()?,
            };
            let result = query(&reader);
            ui.readers.lock().expect("reader pool").push(reader);
            result
        })
        .await
        .expect("a UI query panicked")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserJson {
    external_id: String,
    decision: String,
    status: String,
    sub_status: String,
    participant_id: String,
    account: String,
    first_seen_at: i64,
    last_seen_at: i64,
    status_since: i64,
    event_count: i64,
    known_status: bool,
    known_decision: bool,
}

impl From<UserRecord> for UserJson {
    fn from(user: UserRecord) -> Self {
        let s = user.state;
        UserJson {
            known_status: is_known_status(&s.status),
            known_decision: is_known_decision(&s.decision),
            external_id: user.external_id,
            decision: s.decision,
            status: s.status,
            sub_status: s.sub_status,
            participant_id: s.participant_id,
            account: s.account,
            first_seen_at: user.first_seen_at,
            last_seen_at: user.last_seen_at,
            status_since: user.status_since,
            event_count: user.event_count,
        }
    }
}

/// A raw body as JSON: text where it is UTF-8, base64 otherwise, absent when it was not kept.
fn body_fields(body: Option<Vec<u8>>) -> (Option<String>, Option<String>) {
    match body {
        None => (None, None),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => (Some(text), None),
            Err(raw) => (None, Some(BASE64.encode(raw.as_bytes()))),
        },
    }
}

fn headers_json(headers: &str) -> serde_json::Value {
    serde_json::from_str(headers).unwrap_or(serde_json::Value::Null)
}

async fn overview(State(ui): State<Arc<Ui>>) -> Result<Json<serde_json::Value>, ApiError> {
    let (counts, last_delivery_at) = ui
        .read(|reader| Ok((reader.user_counts()?, reader.latest_delivery_at()?)))
        .await?;
    let total: i64 = counts.iter().map(|c| c.users).sum();
    let counts: Vec<_> = counts
        .into_iter()
        .map(|c| json!({"status": c.status, "decision": c.decision, "users": c.users}))
        .collect();
    Ok(Json(json!({
        "webhookUrl": ui.config.webhook_url,
        "tunnel": tunnel_json(&ui),
        "storeProblem": *ui.writer.health().borrow(),
        "lastDeliveryAt": last_delivery_at,
        "knownStatuses": KNOWN_STATUSES,
        "totalUsers": total,
        "counts": counts,
    })))
}

/// Totals, decision rates, the median time to CLOSED and the last hour's deliveries per minute.
async fn stats(State(ui): State<Arc<Ui>>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = crate::time::now_millis();
    let hour_start = (now / 60_000 - 59) * 60_000;
    let (counts, median, minutes) = ui
        .read(move |reader| {
            Ok((
                reader.user_counts()?,
                reader.median_time_to_close()?,
                reader.deliveries_per_minute(hour_start)?,
            ))
        })
        .await?;
    let mut by_status = serde_json::Map::new();
    let mut by_decision = serde_json::Map::new();
    for c in &counts {
        let add = |map: &mut serde_json::Map<String, serde_json::Value>, key: &str| {
            let total = map.get(key).and_then(|v| v.as_i64()).unwrap_or(0) + c.users;
            map.insert(key.to_owned(), total.into());
        };
        add(&mut by_status, &c.status);
        add(&mut by_decision, &c.decision);
    }
    let decided = |decision: &str| {
        by_decision
            .get(decision)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    };
    let (accepted, rejected) = (decided("ACCEPT"), decided("REJECT"));
    let rate =
        |part: i64| (accepted + rejected > 0).then(|| part as f64 / (accepted + rejected) as f64);
    // Every minute of the hour, zeros included, so the chart has no gaps.
    let per_minute: Vec<_> = (0..60)
        .map(|i| {
            let start = hour_start + i * 60_000;
            let found = minutes.iter().find(|m| m.minute_start == start);
            json!({
                "minuteStart": start,
                "deliveries": found.map_or(0, |m| m.deliveries),
                "rejected": found.map_or(0, |m| m.rejected),
            })
        })
        .collect();
    Ok(Json(json!({
        "totalUsers": counts.iter().map(|c| c.users).sum::<i64>(),
        "byStatus": by_status,
        "byDecision": by_decision,
        "approvalRate": rate(accepted),
        "rejectionRate": rate(rejected),
        "medianTimeToCloseMs": median,
        "perMinute": per_minute,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoardQuery {
    after_since: Option<i64>,
    after_id: Option<String>,
    limit: Option<u32>,
}

async fn board(
    State(ui): State<Arc<Ui>>,
    Path(status): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, PAGE_LIMIT);
    let cursor = match (query.after_since, query.after_id) {
        (Some(status_since), Some(external_id)) => Some(BoardCursor {
            status_since,
            external_id,
        }),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "afterSince and afterId go together".into(),
            ))
        }
    };
    let page = ui
        .read(move |reader| Ok(reader.board_page(&status, cursor.as_ref(), limit)?))
        .await?;
    let next = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|u| json!({"afterSince": u.status_since, "afterId": u.external_id}))
        })
        .flatten();
    let users: Vec<UserJson> = page.into_iter().map(UserJson::from).collect();
    Ok(Json(json!({"users": users, "next": next})))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

async fn search(
    State(ui): State<Arc<Ui>>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(20).clamp(1, PAGE_LIMIT);
    let users = ui
        .read(move |reader| Ok(reader.users_with_prefix(&query.q, limit)?))
        .await?;
    let users: Vec<UserJson> = users.into_iter().map(UserJson::from).collect();
    Ok(Json(json!({"users": users})))
}

async fn user(
    State(ui): State<Arc<Ui>>,
    Path(external_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, timeline) = ui
        .read(move |reader| {
            let user = reader.user(&external_id)?.ok_or_else(|| {
                ApiError::NotFound(format!("no user with externalId {external_id:?}"))
            })?;
            Ok((user, reader.user_timeline(&external_id)?))
        })
        .await?;
    let timeline: Vec<_> = timeline.into_iter().map(timeline_json).collect();
    Ok(Json(
        json!({"user": UserJson::from(user), "timeline": timeline}),
    ))
}

fn timeline_json(entry: TimelineEntry) -> serde_json::Value {
    let (body, body_base64) = body_fields(entry.body);
    let e = entry.event;
    json!({
        "deliveryId": e.delivery_id, "receivedAt": e.received_at, "decision": e.state.decision,
        "status": e.state.status, "subStatus": e.state.sub_status, "participantId": e.state.participant_id,
        "account": e.state.account, "eventId": e.event_id, "duplicate": e.duplicate, "polled": entry.polled,
        "headers": headers_json(&entry.headers), "body": body, "bodyBase64": body_base64,
    })
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    outcome: Option<String>,
    q: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn deliveries(
    State(ui): State<Arc<Ui>>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, PAGE_LIMIT);
    let filter = DeliveryFilter {
        outcome: query.outcome.filter(|o| !o.is_empty()),
        body_contains: query.q.filter(|q| !q.is_empty()),
        before_id: query.before,
    };
    let page = ui
        .read(move |reader| Ok(reader.deliveries_page(&filter, limit)?))
        .await?;
    let deliveries: Vec<_> = page
        .into_iter()
        .map(|(delivery, external_id)| {
            let mut json = delivery_json(delivery);
            json["externalId"] = external_id.into();
            json
        })
        .collect();
    Ok(Json(json!({"deliveries": deliveries})))
}

fn delivery_json(d: DeliveryRecord) -> serde_json::Value {
    let (body, body_base64) = body_fields(d.body);
    json!({
        "id": d.id, "receivedAt": d.received_at, "remoteAddr": d.remote_addr, "method": d.method,
        "outcome": d.outcome, "httpStatus": d.http_status, "error": d.error, "webhookId": d.webhook_id,
        "bodySize": d.body_size, "headers": headers_json(&d.headers), "body": body, "bodyBase64": body_base64,
        "replayOf": d.replay_of, "polled": d.polled,
    })
}

async fn replay(
    State(ui): State<Arc<Ui>>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let original = ui
        .read(move |reader| {
            reader
                .delivery(id)?
                .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))
        })
        .await?;
    let recorded = ui.writer.record(ingest::replay(&original)).await?;
    Ok(Json(json!({
        "deliveryId": recorded.delivery_id, "outcome": recorded.outcome.as_str(),
        "httpStatus": recorded.http_status, "error": recorded.error, "replayOf": id,
    })))
}

#[derive(Deserialize)]
struct FeedQuery {
    after: Option<i64>,
}

/// Every committed delivery as an SSE `change` (id = delivery id), the user's new state with
/// it. A reconnect resumes after `Last-Event-ID`; a follower too far behind gets `resync`.
async fn feed(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.after);
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = ui.writer.subscribe();
    let (after, backlog) = ui
        .read(move |reader| {
            let after = match resume {
                Some(after) => after,
                None => reader.projected_through()?,
            };
            Ok((after, reader.changes_after(after, CATCH_UP_LIMIT + 1)?))
        })
        .await?;
    let behind = backlog.len() > CATCH_UP_LIMIT as usize;
    let stopping = ui.stopping.clone();
    let mut tunnel = ui.config.tunnel.1.clone();
    tunnel.mark_unchanged();
    let mut health = ui.writer.health();
    health.mark_unchanged();
    let state = FeedState {
        tunnel,
        health,
        ui,
        live,
        stopping,
        backlog: backlog.into_iter(),
        last_sent: after,
        behind,
    };
    let events = stream::unfold(state, |mut state| async move {
        let event = state.next_event().await?;
        Some((Ok(event), state))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The tunnel's kind and current state, as the UI shows it.
fn tunnel_json(ui: &Ui) -> serde_json::Value {
    let (kind, state) = &ui.config.tunnel;
    json!({"kind": kind, "status": *state.borrow()})
}

struct FeedState {
    tunnel: watch::Receiver<TunnelState>,
    health: watch::Receiver<Option<StoreProblem>>,
    ui: Arc<Ui>,
    live: tokio::sync::broadcast::Receiver<Change>,
    stopping: watch::Receiver<bool>,
    backlog: std::vec::IntoIter<Change>,
    last_sent: i64,
    behind: bool,
}

impl FeedState {
    async fn next_event(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.behind) {
            self.backlog = Vec::new().into_iter();
            return Some(resync(&mut self.last_sent, &self.ui).await);
        }
        loop {
            let change = match self.backlog.next() {
                Some(change) => change,
                None => {
                    let received = tokio::select! {
                        received = self.live.recv() => received,
                        Ok(()) = self.tunnel.changed() => {
                            // No id: a tunnel event does not move the resume point.
                            let status = json!({"kind": self.ui.config.tunnel.0, "status": *self.tunnel.borrow_and_update()});
                            return Some(Event::default().event("tunnel").data(status.to_string()));
                        }
                        Ok(()) = self.health.changed() => {
                            let problem = json!({"problem": *self.health.borrow_and_update()});
                            return Some(Event::default().event("store").data(problem.to_string()));
                        }
                        _ = self.stopping.wait_for(|stop| *stop) => return None,
                    };
                    match received {
                        Ok(change) => change,
                        Err(RecvError::Lagged(_)) => {
                            return Some(resync(&mut self.last_sent, &self.ui).await)
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            };
            if change.delivery_id <= self.last_sent {
                continue;
            }
            self.last_sent = change.delivery_id;
            return Some(change_event(&self.ui, change).await);
        }
    }
}

/// Tells the follower to reload its views; the feed goes on from the newest delivery.
async fn resync(last_sent: &mut i64, ui: &Arc<Ui>) -> Event {
    if let Ok(latest) = ui.read(|reader| Ok(reader.projected_through()?)).await {
        *last_sent = latest;
    }
    Event::default()
        .event("resync")
        .id(last_sent.to_string())
        .data("{}")
}

async fn change_event(ui: &Arc<Ui>, change: Change) -> Event {
    let external_id = change.external_id.clone();
    let user = match external_id {
        Some(id) => ui
            .read(move |reader| Ok(reader.user(&id)?))
            .await
            .ok()
            .flatten()
            .map(UserJson::from),
        None => None,
    };
    let data = json!({
        "deliveryId": change.delivery_id, "outcome": change.outcome.as_str(),
        "externalId": change.external_id, "user": user,
    });
    Event::default()
        .event("change")
        .id(change.delivery_id.to_string())
        .data(data.to_string())
}
