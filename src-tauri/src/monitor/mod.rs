//! The core service: one [`Monitor`] per running monitor, owning the store, the writer, a pool of
//! readers, the provider side and the tunnel's state. Every shell (the axum UI API, the Tauri
//! commands, the tray and notifications) is an adapter over its typed methods; none of them
//! reads the store, or JSON by string key, itself.

mod attention;
mod audit;
mod cases;
mod error;
mod inspector;
mod live;
pub mod masking;
mod open;
pub mod operations;
mod poll;
mod provider;
pub mod queue_csv;
pub(crate) mod readers;
mod review;
pub mod typescript;
pub mod views;
mod work;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use attention::{Attention, OverSla, OverSlaCase};
pub use audit::{AuditEntryView, AuditPage, AuditQuery};
pub use cases::{
    AssignInput, CaseView, CaseWorkers, MarkInput, Marker, NoteInput, NoteView, SeenInput,
};
pub use error::{CoreError, ErrorBody, ErrorCode};
pub use inspector::*;
pub use live::LiveStream;
pub use open::{bind, MonitorConfig, OpenError, Outbound, WebhookSocket, DEFAULT_REVIEW_SLA};
pub use poll::Polling;
pub use readers::ReaderPool;
pub use review::{Assigned, ReviewPage, ReviewQuery, ReviewSettings, ReviewSort};
pub use views::*;
pub use work::{BackupReport, BackupRequest, WorkBoard, WorkKind, WorkState, WorkView};

use crate::ingest;
use crate::kyc::KNOWN_STATUSES;
use crate::provider::actions::ProviderHub;
use crate::store::{DeliveryFilter, Store, Writer};
use crate::tunnel::TunnelState;

/// The most rows one page of a view may ask for.
const PAGE_LIMIT: u32 = 500;
/// How long a view waits for the projection to hold what was acknowledged before it was asked
/// for (it usually takes milliseconds); past that it shows what the projection has.
const PROJECTION_WAIT: Duration = Duration::from_millis(500);

/// One running monitor; made by [`Monitor::open`], the one assembly point.
pub struct Monitor {
    store: Store,
    writer: Arc<Writer>,
    readers: Arc<ReaderPool>,
    hub: Arc<ProviderHub>,
    /// The webhook's local URL, with the real port (empty for a command's monitor).
    webhook_url: String,
    /// The signing secrets given at start, which the secret file does not change.
    fixed_secrets: Option<crate::secret_file::SecretSet>,
    backup_dir: Option<std::path::PathBuf>,
    tunnel_kind: &'static str,
    tunnel: watch::Receiver<TunnelState>,
    tunnel_sender: watch::Sender<TunnelState>,
    /// Turns true when the monitor stops: live streams end then.
    stopping: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    destinations: Vec<crate::store::Destination>,
    /// Reconcile's and backup's progress, followed by the live feed.
    work: watch::Sender<WorkBoard>,
    /// The alert rules (what needs attention) and targets.
    alerts: Arc<crate::alerts::AlertEngine>,
    /// The SLA of a review case (`--review-sla`).
    review_sla: Duration,
    /// Case work as it is done, for the live feed.
    cases: tokio::sync::broadcast::Sender<CaseView>,
    held: std::sync::Mutex<open::Held>,
}

impl Monitor {
    /// The pool of read-only connections, for the sessions' lookups.
    pub(crate) fn readers(&self) -> Arc<ReaderPool> {
        self.readers.clone()
    }

    /// The alert rules and targets: what needs attention (the tray, the notifications and the
    /// views follow it), the starts and resolves, and where they are sent.
    pub fn alerts(&self) -> &Arc<crate::alerts::AlertEngine> {
        &self.alerts
    }

    /// Settings' alert section: the targets (masked) with their failures, the rules, and what
    /// needs attention now.
    pub async fn alerts_view(&self) -> Result<crate::alerts::AlertsView, CoreError> {
        Ok(self.alerts.view())
    }

    /// Sends a test alert to one target now.
    pub async fn send_test_alert(
        &self,
        request: crate::alerts::TestAlertRequest,
    ) -> Result<crate::alerts::TestAlertAnswer, CoreError> {
        self.alerts.send_test(request.target).await
    }

    /// The webhook's local URL.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// The URL to give the provider: the tunnel's once it is up, the local one until then.
    pub fn provider_facing_url(&self) -> String {
        self.tunnel
            .borrow()
            .public_url()
            .unwrap_or(&self.webhook_url)
            .to_owned()
    }

    pub fn tunnel(&self) -> TunnelView {
        TunnelView {
            kind: self.tunnel_kind.to_owned(),
            status: self.tunnel.borrow().clone(),
        }
    }

    /// Runs a query on a pooled reader, after the projection has caught up with what was
    /// acknowledged before the call (a view shows what its reader has just sent).
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&crate::store::Reader) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, CoreError> {
        self.writer.projected(PROJECTION_WAIT).await;
        self.readers.read(query).await
    }

    /// The top bar and the board's counts.
    pub async fn overview(&self) -> Result<Overview, CoreError> {
        let (counts, last_delivery_at) = self
            .read(|reader| Ok((reader.user_counts()?, reader.latest_delivery_at()?)))
            .await?;
        let attention = self.attention().await?;
        Ok(Overview {
            attention,
            webhook_url: self.webhook_url.clone(),
            tunnel: self.tunnel(),
            store_problem: self.writer.health().borrow().clone(),
            last_delivery_at,
            known_statuses: KNOWN_STATUSES.iter().map(|s| (*s).to_owned()).collect(),
            total_users: counts.iter().map(|c| c.users).sum(),
            counts: counts
                .into_iter()
                .map(|c| StatusCount {
                    status: c.status,
                    decision: c.decision,
                    users: c.users,
                })
                .collect(),
        })
    }

    /// Totals, decision rates, the median and 90th percentile time to CLOSED, the last hour's
    /// deliveries, and for compliance the decisions per day, the funnel through the statuses and
    /// the time in each: all read from aggregates the projector keeps, never from the events.
    pub async fn stats(&self) -> Result<Stats, CoreError> {
        let now = crate::time::now_millis();
        let hour_start = (now / 60_000 - 59) * 60_000;
        const DAY: i64 = 86_400_000;
        let first_day = (now / DAY - (DECISION_DAYS - 1)) * DAY;
        let (counts, median, p90, minutes, (days, reached, stays)) = self
            .read(move |reader| {
                Ok((
                    reader.user_counts()?,
                    reader.median_time_to_close()?,
                    reader.time_to_close_within(0.9)?,
                    reader.deliveries_per_minute(hour_start)?,
                    (
                        reader.decisions_per_day(first_day)?,
                        reader.statuses_reached()?,
                        reader.status_stays()?,
                    ),
                ))
            })
            .await?;
        let decisions_per_day = (0..DECISION_DAYS)
            .map(|i| {
                let day_start = first_day + i * DAY;
                let mut view = DecisionDayView {
                    day_start,
                    accept: 0,
                    reject: 0,
                    review: 0,
                    other: 0,
                };
                for count in days.iter().filter(|d| d.day * DAY == day_start) {
                    *match count.decision.as_str() {
                        "ACCEPT" => &mut view.accept,
                        "REJECT" => &mut view.reject,
                        "REVIEW" => &mut view.review,
                        _ => &mut view.other,
                    } += count.users;
                }
                view
            })
            .collect();
        let funnel = KNOWN_STATUSES
            .iter()
            .map(|status| StatusReachedView {
                status: (*status).to_owned(),
                users: reached
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, users)| *users),
            })
            .collect();
        let mut time_in_status: Vec<StatusTimeView> = KNOWN_STATUSES
            .iter()
            .map(|status| StatusTimeView {
                status: (*status).to_owned(),
                stays: 0,
                median_ms: None,
                p90_ms: None,
            })
            .collect();
        for stay in stays {
            let view = StatusTimeView {
                stays: stay.stays,
                median_ms: Some(stay.median_ms),
                p90_ms: Some(stay.p90_ms),
                status: stay.status,
            };
            match time_in_status.iter_mut().find(|t| t.status == view.status) {
                Some(known) => *known = view,
                None => time_in_status.push(view),
            }
        }
        let mut by_status = std::collections::BTreeMap::new();
        let mut by_decision = std::collections::BTreeMap::new();
        for count in &counts {
            *by_status.entry(count.status.clone()).or_insert(0) += count.users;
            *by_decision.entry(count.decision.clone()).or_insert(0) += count.users;
        }
        let decided = |decision: &str| by_decision.get(decision).copied().unwrap_or(0);
        let (accepted, rejected) = (decided("ACCEPT"), decided("REJECT"));
        let rate = |part: i64| {
            (accepted + rejected > 0).then(|| part as f64 / (accepted + rejected) as f64)
        };
        // Every minute of the hour, zeros included, so the chart has no gaps.
        let per_minute = (0..60)
            .map(|i| {
                let start = hour_start + i * 60_000;
                let found = minutes.iter().find(|m| m.minute_start == start);
                MinuteView {
                    minute_start: start,
                    deliveries: found.map_or(0, |m| m.deliveries),
                    rejected: found.map_or(0, |m| m.rejected),
                }
            })
            .collect();
        Ok(Stats {
            total_users: counts.iter().map(|c| c.users).sum(),
            approval_rate: rate(accepted),
            rejection_rate: rate(rejected),
            by_status,
            by_decision,
            median_time_to_close_ms: median,
            p90_time_to_close_ms: p90,
            per_minute,
            decisions_per_day,
            funnel,
            time_in_status,
        })
    }

    /// One page of a board column: the users in `status` that the query's filters (the review
    /// queue's: decision, subStatus, time in status) let through, the latest to enter it first,
    /// and how many there are.
    pub async fn board(
        &self,
        status: String,
        query: ReviewQuery,
        me: &str,
    ) -> Result<BoardPage, CoreError> {
        if query.status.as_ref().is_some_and(|named| *named != status) {
            return Err(CoreError::Invalid(
                "a board column shows the status it names: leave status out of its filters".into(),
            ));
        }
        let limit = query.limit.unwrap_or(50).clamp(1, PAGE_LIMIT);
        let cursor = query.cursor()?;
        let filter = query.narrowing(
            query.decision.iter().cloned().collect(),
            crate::time::now_millis(),
            me,
        );
        let (page, total) = self
            .read(move |reader| {
                Ok((
                    reader.board_page(&status, &filter, cursor.as_ref(), limit)?,
                    reader.users_in_status(&status, &filter)?,
                ))
            })
            .await?;
        let next = (page.len() == limit as usize)
            .then(|| page.last())
            .flatten()
            .map(|last| PageCursor {
                after_since: last.status_since,
                after_id: last.external_id.clone(),
            });
        let mut users: Vec<UserView> = page.into_iter().map(UserView::from).collect();
        self.with_cases(&mut users).await?;
        Ok(BoardPage { users, next, total })
    }

    /// Users with `text` in their externalId, participantId or account, ignoring case; those
    /// whose externalId starts with it first.
    pub async fn search(&self, text: String, limit: Option<u32>) -> Result<UsersFound, CoreError> {
        let limit = limit.unwrap_or(20).clamp(1, PAGE_LIMIT);
        let users = self
            .read(move |reader| Ok(reader.search_users(&text, limit)?))
            .await?;
        Ok(UsersFound {
            users: users.into_iter().map(UserView::from).collect(),
        })
    }

    /// A user's current state and timeline, oldest first.
    pub async fn user(&self, external_id: String) -> Result<UserDetail, CoreError> {
        let (user, timeline) = self
            .read(move |reader| {
                let user = reader.user(&external_id)?.ok_or_else(|| {
                    CoreError::NotFound(format!("no user with externalId {external_id:?}"))
                })?;
                Ok((user, reader.user_timeline(&external_id)?))
            })
            .await?;
        let mut user = UserView::from(user);
        self.with_cases(std::slice::from_mut(&mut user)).await?;
        let case = self.case(user.external_id.clone()).await?;
        Ok(UserDetail {
            user,
            case,
            timeline: timeline.into_iter().map(TimelineEntryView::from).collect(),
        })
    }

    /// The newest deliveries matching `query`, newest first.
    pub async fn deliveries(&self, query: DeliveriesQuery) -> Result<DeliveriesPage, CoreError> {
        let limit = query.limit.unwrap_or(100).clamp(1, PAGE_LIMIT);
        let filter = DeliveryFilter {
            outcome: query.outcome.filter(|o| !o.is_empty()),
            body_contains: query.q.filter(|q| !q.is_empty()),
            before_id: query.before,
        };
        let since = crate::time::now_millis() - 24 * 60 * 60 * 1000;
        let (page, counted) = self
            .read(move |reader| {
                Ok((
                    reader.deliveries_page(&filter, limit)?,
                    reader.counted_refusals(since)?,
                ))
            })
            .await?;
        Ok(DeliveriesPage {
            deliveries: page.into_iter().map(DeliveryView::listed).collect(),
            counted,
        })
    }

    /// Sends a stored delivery through the normal path again, recorded as its replay.
    pub async fn replay(&self, id: i64) -> Result<ReplayAnswer, CoreError> {
        let original = self
            .read(move |reader| {
                reader
                    .delivery(id)?
                    .ok_or_else(|| CoreError::NotFound(format!("no delivery {id}")))
            })
            .await?;
        let external_id = original.body.as_deref().and_then(inspector::named_user);
        let recorded = self.writer.record(ingest::replay(&original)).await?;
        Ok(ReplayAnswer {
            delivery_id: recorded.delivery_id,
            outcome: recorded.outcome,
            http_status: recorded.http_status,
            error: recorded.error,
            replay_of: id,
            external_id,
        })
    }
}
