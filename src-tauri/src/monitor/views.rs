//! The data the core hands to every shell: what the UI shows, typed. The browser gets them as
//! JSON over HTTP, the desktop window through Tauri commands, both in the same shapes.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::kyc::{is_known_decision, is_known_status, parse_payload, Payload, UserState};
use crate::provider::actions::{DemoStatus, ProviderProfile};
use crate::provider::{Endpoints, Environment};
use crate::secret_file::SigningSecretView;
use crate::store::{
    CountedRefusals, ListedDelivery, Outcome, RegistrationAttempt, StoreProblem, TimelineEntry,
    UserRecord,
};
use crate::tunnel::TunnelState;

/// A user's current state. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "User")]
pub struct UserView {
    pub external_id: String,
    #[serde(flatten)]
    pub state: UserState,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub status_since: i64,
    pub event_count: i64,
    /// Why the provider rejected the user (the newer envelope's `rejection_reason`).
    pub rejection_reason: Option<String>,
    /// When the provider set the status (its `status_set_at`), beside `statusSince`, when the
    /// monitor heard of it.
    pub status_set_at: Option<i64>,
    /// The status is one the provider documents (else it shows in the "other" column).
    pub known_status: bool,
    pub known_decision: bool,
    /// The user's case (assignee, marker, SLA; no notes), where the view carries it: the
    /// board, the review queue, the user page and the live feed's changes.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<super::CaseView>,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        UserView {
            known_status: is_known_status(&user.state.status),
            known_decision: is_known_decision(&user.state.decision),
            external_id: user.external_id,
            state: user.state,
            first_seen_at: user.first_seen_at,
            last_seen_at: user.last_seen_at,
            status_since: user.status_since,
            event_count: user.event_count,
            rejection_reason: user.rejection_reason,
            status_set_at: user.status_set_at,
            case: None,
        }
    }
}

/// A raw body as text where it is UTF-8, as base64 otherwise; both absent when it was not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BodyText {
    pub body: Option<String>,
    pub body_base64: Option<String>,
}

impl BodyText {
    pub fn of(bytes: Option<Vec<u8>>) -> BodyText {
        match bytes.map(String::from_utf8) {
            None => BodyText::default(),
            Some(Ok(text)) => BodyText {
                body: Some(text),
                body_base64: None,
            },
            Some(Err(raw)) => BodyText {
                body: None,
                body_base64: Some(BASE64.encode(raw.as_bytes())),
            },
        }
    }
}

/// A stored header: name and value (credentials already `[redacted]`).
pub type Header = (String, String);

/// The stored headers (a JSON array of pairs, written by the listener) as pairs.
fn headers(stored: &str) -> Vec<Header> {
    serde_json::from_str(stored).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusCount {
    pub status: String,
    pub decision: String,
    pub users: i64,
}

/// The tunnel that exposes the webhook listener: its kind (`none`, `bore`, ...) and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Tunnel")]
pub struct TunnelView {
    pub kind: String,
    pub status: TunnelState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub webhook_url: String,
    pub tunnel: TunnelView,
    /// Why deliveries are not being acknowledged now, if they are not.
    pub store_problem: Option<StoreProblem>,
    pub last_delivery_at: Option<i64>,
    pub known_statuses: Vec<String>,
    pub total_users: i64,
    pub counts: Vec<StatusCount>,
    /// What needs a person now (the top bar's and the tray's counts).
    pub attention: super::Attention,
}

/// Where a board column's next page starts: after this user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PageCursor {
    pub after_since: i64,
    pub after_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BoardPage {
    pub users: Vec<UserView>,
    pub next: Option<PageCursor>,
    /// Users in the column's status that the filters let through (all of them, unfiltered).
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UsersFound {
    pub users: Vec<UserView>,
}

/// One event of a user's timeline with the delivery that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "TimelineEntry")]
pub struct TimelineEntryView {
    pub delivery_id: i64,
    pub received_at: i64,
    #[serde(flatten)]
    pub state: UserState,
    pub event_id: Option<String>,
    pub duplicate: bool,
    /// Learned by asking the provider's status API (reconcile), not delivered by a webhook.
    pub polled: bool,
    /// Named by the partner as a user to watch, not by the provider.
    pub watched: bool,
    /// The delivery this one replayed, when a person sent it again from the inspector.
    pub replay_of: Option<i64>,
    /// A replay whose body was edited before it was sent.
    pub edited: bool,
    /// The newer envelope's `rejection_reason` and `status_set_at`.
    pub rejection_reason: Option<String>,
    pub status_set_at: Option<i64>,
    /// The payload's `data.date_of_birth`: personal data, absent below compliance.
    pub date_of_birth: Option<String>,
    pub headers: Vec<Header>,
    #[serde(flatten)]
    pub body: BodyText,
    /// The headers and body are not shown to the caller's role.
    pub withheld: bool,
}

impl From<TimelineEntry> for TimelineEntryView {
    fn from(entry: TimelineEntry) -> Self {
        let event = entry.event;
        TimelineEntryView {
            delivery_id: event.delivery_id,
            received_at: event.received_at,
            state: event.state,
            event_id: event.event_id,
            duplicate: event.duplicate,
            polled: entry.polled,
            watched: entry.watched,
            replay_of: event.replay_of,
            edited: event.edited,
            rejection_reason: event.rejection_reason,
            status_set_at: event.status_set_at,
            date_of_birth: entry.body.as_deref().and_then(crate::kyc::date_of_birth),
            headers: headers(&entry.headers),
            body: BodyText::of(entry.body),
            withheld: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UserDetail {
    pub user: UserView,
    /// The case with its notes (withheld below compliance).
    pub case: super::CaseView,
    pub timeline: Vec<TimelineEntryView>,
}

/// Which deliveries a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(optional_fields)]
pub struct DeliveriesQuery {
    pub outcome: Option<String>,
    /// Only deliveries whose raw body contains this text.
    pub q: Option<String>,
    /// Only deliveries older than this id.
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// One request to the webhook path, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Delivery")]
pub struct DeliveryView {
    pub id: i64,
    pub received_at: i64,
    pub remote_addr: String,
    pub method: String,
    pub outcome: Outcome,
    pub http_status: u16,
    pub error: Option<String>,
    pub webhook_id: Option<String>,
    pub body_size: Option<i64>,
    pub headers: Vec<Header>,
    #[serde(flatten)]
    pub body: BodyText,
    pub replay_of: Option<i64>,
    /// A replay whose body was edited before it was sent.
    pub edited: bool,
    pub polled: bool,
    /// Named by the partner as a user to watch (`kyc-monitor watch`), not by the provider.
    pub watched: bool,
    /// The user this delivery named, when it named one.
    pub external_id: Option<String>,
    /// The status and decision its body said, when it is an event about a user.
    pub status: Option<String>,
    pub decision: Option<String>,
}

impl DeliveryView {
    /// A listed delivery: what it said is read from its body, or, once retention has removed
    /// the body, from the event that kept it.
    pub fn listed(listed: ListedDelivery) -> DeliveryView {
        let ListedDelivery {
            delivery,
            external_id,
            event_state,
        } = listed;
        let said = match delivery.body.as_deref().map(parse_payload) {
            Some(Ok(Payload::Event(event))) => Some((event.state.status, event.state.decision)),
            Some(_) => None,
            None => event_state,
        };
        DeliveryView {
            status: said.as_ref().map(|(status, _)| status.clone()),
            decision: said.map(|(_, decision)| decision),
            id: delivery.id,
            received_at: delivery.received_at,
            edited: delivery.remote_addr == crate::ingest::EDITED_REPLAY_FROM,
            remote_addr: delivery.remote_addr,
            method: delivery.method,
            outcome: Outcome::from_stored(&delivery.outcome),
            http_status: delivery.http_status,
            error: delivery.error,
            webhook_id: delivery.webhook_id,
            body_size: delivery.body_size,
            headers: headers(&delivery.headers),
            body: BodyText::of(delivery.body),
            replay_of: delivery.replay_of,
            polled: delivery.polled,
            watched: delivery.watched,
            external_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesPage {
    pub deliveries: Vec<DeliveryView>,
    /// Refused requests of the last 24 hours that were counted, not kept (over the budget per
    /// address and minute, or headers too large to read).
    pub counted: Vec<CountedRefusals>,
}

/// What a replay came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReplayAnswer {
    pub delivery_id: i64,
    pub outcome: Outcome,
    pub http_status: u16,
    pub error: Option<String>,
    pub replay_of: i64,
    /// The user the delivery sent names (an edited body may name another than the original);
    /// none for a validation request or a body that is not a notification.
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "MinuteCount")]
pub struct MinuteView {
    pub minute_start: i64,
    pub deliveries: i64,
    pub rejected: i64,
}

/// Users whose decision became each decision on one UTC day (see `decision_days` in the
/// store's projection for what counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DecisionDay")]
pub struct DecisionDayView {
    /// Unix milliseconds at the start of the day, UTC.
    pub day_start: i64,
    pub accept: i64,
    pub reject: i64,
    pub review: i64,
    /// Decisions outside the documented ones.
    pub other: i64,
}

/// How many users were ever in a status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "StatusReached")]
pub struct StatusReachedView {
    pub status: String,
    pub users: i64,
}

/// How long finished stays in a status lasted, with the histogram's precision: exact below a
/// second, within 0.5% above.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "StatusTime")]
pub struct StatusTimeView {
    pub status: String,
    /// Stays that ended (the user moved on); none while everyone is still in it.
    pub stays: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_users: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_decision: BTreeMap<String, i64>,
    /// Shares of ACCEPT and REJECT among decided users; none while nobody is decided.
    pub approval_rate: Option<f64>,
    pub rejection_rate: Option<f64>,
    pub median_time_to_close_ms: Option<i64>,
    /// 90% of the closed users closed within this time from first seen.
    pub p90_time_to_close_ms: Option<i64>,
    /// Every minute of the last hour, oldest first, zeros included.
    pub per_minute: Vec<MinuteView>,
    /// Every UTC day of the last [`DECISION_DAYS`], oldest first (today last), zeros included.
    pub decisions_per_day: Vec<DecisionDayView>,
    /// Users ever in each documented status, in the statuses' order.
    pub funnel: Vec<StatusReachedView>,
    /// Time in each status: the documented ones in order, then any other with finished stays.
    pub time_in_status: Vec<StatusTimeView>,
}

/// How many days the decisions per day cover.
pub const DECISION_DAYS: i64 = 30;

/// One committed delivery, as the live feed announces it, with the user's state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Change")]
pub struct ChangeView {
    pub delivery_id: i64,
    pub outcome: Outcome,
    pub external_id: Option<String>,
    pub user: Option<UserView>,
}

/// What the live feed carries, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "event", content = "data", rename_all = "camelCase")]
pub enum LiveEvent {
    /// A delivery was committed and projected.
    Change(Box<ChangeView>),
    /// The follower missed more than can be replayed: reload the views.
    Resync(Resync),
    /// The tunnel's state changed.
    Tunnel(TunnelView),
    /// The store's health changed.
    Store(StoreHealth),
    /// Long work (reconcile, backup) moved on: every kind's latest.
    Work(Vec<super::WorkView>),
    /// An entry was appended to the audit log.
    Audit(super::AuditEntryView),
    /// Someone worked on a case: the case after it (with the note just written, if any).
    Case(super::CaseView),
    /// An alert rule's condition started or resolved (as the alert targets are told).
    Alert(crate::alerts::AlertEvent),
}

/// A resync: the feed goes on after `through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Resync {
    pub through: i64,
}

/// Why deliveries are not acknowledged now (`None`: they are again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    pub problem: Option<StoreProblem>,
}

impl LiveEvent {
    /// The event's name on the wire (an SSE `event:`, the Tauri payload's `event`).
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Change(_) => "change",
            LiveEvent::Resync(_) => "resync",
            LiveEvent::Tunnel(_) => "tunnel",
            LiveEvent::Store(_) => "store",
            LiveEvent::Work(_) => "work",
            LiveEvent::Audit(_) => "audit",
            LiveEvent::Case(_) => "case",
            LiveEvent::Alert(_) => "alert",
        }
    }

    /// Where a follower resumes after this event; tunnel and store events do not move it.
    pub fn resume_id(&self) -> Option<i64> {
        match self {
            LiveEvent::Change(change) => Some(change.delivery_id),
            LiveEvent::Resync(resync) => Some(resync.through),
            LiveEvent::Tunnel(_)
            | LiveEvent::Store(_)
            | LiveEvent::Work(_)
            | LiveEvent::Audit(_)
            | LiveEvent::Case(_)
            | LiveEvent::Alert(_) => None,
        }
    }

    /// The event's data alone, as JSON text.
    pub fn data_json(&self) -> String {
        let data = match self {
            LiveEvent::Change(change) => serde_json::to_string(change),
            LiveEvent::Resync(resync) => serde_json::to_string(resync),
            LiveEvent::Tunnel(tunnel) => serde_json::to_string(tunnel),
            LiveEvent::Store(health) => serde_json::to_string(health),
            LiveEvent::Work(works) => serde_json::to_string(works),
            LiveEvent::Audit(entry) => serde_json::to_string(entry),
            LiveEvent::Case(case) => serde_json::to_string(case),
            LiveEvent::Alert(alert) => serde_json::to_string(alert),
        };
        data.expect("live events serialise")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ProviderEnvironment")]
pub struct EnvironmentView {
    pub id: Environment,
    pub endpoints: Endpoints,
}

/// What the Register view shows.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProviderOverview {
    pub webhook_url: String,
    /// The tunnel's public webhook URL, once one is up.
    pub public_url: Option<String>,
    pub environments: Vec<EnvironmentView>,
    pub profile: Option<ProviderProfile>,
    pub signing_secret_stored: bool,
    /// The signing secrets deliveries are checked with, the current one first, and those rotated
    /// out that are still recognised: never the secrets, only their state and fingerprint.
    pub signing_secrets: Vec<SigningSecretView>,
    /// The secrets were given at start (`--signing-secret`): a registration does not change them.
    pub signing_secrets_given: bool,
    /// How long a registration with a new secret keeps the replaced one valid
    /// (`--rotation-grace`), in seconds.
    pub rotation_grace_seconds: u64,
    /// Newest first.
    pub registrations: Vec<RegistrationAttempt>,
    pub demo: Option<DemoStatus>,
    /// The database is empty or already a demo's.
    pub demo_allowed: bool,
}

/// Which signing secret a registration from the UI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "Signing")]
pub enum SigningChoice {
    /// The documented, unsigned form.
    None,
    /// The secret stored for this database.
    Keep,
    /// A new `whsec_` secret, stored and never shown.
    New,
}

/// The Register view's form (the CLI's `register` sends it too).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RegisterForm {
    /// A known environment, or `None` for `apiBase` and `tokenUrl`.
    pub environment: Option<Environment>,
    #[serde(default)]
    pub api_base: String,
    #[serde(default)]
    pub token_url: String,
    pub client_id: String,
    pub private_key_path: String,
    pub webhook_url: String,
    pub signing: SigningChoice,
    /// A secret the partner chose (`whsec_...`, or a provider's `whpk_...` public key), used
    /// instead of `signing`: the CLI's `--signing-secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub signing_secret: Option<String>,
    /// How long a new secret keeps the replaced one valid, in seconds (the CLI's
    /// `--rotation-grace`); without it, the monitor's own `--rotation-grace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rotation_grace_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAnswer {
    pub attempt: RegistrationAttempt,
    /// A new secret was made and stored; it is never shown in the UI.
    pub new_secret_stored: bool,
}
