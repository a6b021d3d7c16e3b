//! What `--metrics-listen` measures, in the Prometheus text format: the webhook's answers by
//! outcome and its acknowledgement latency (atomic handles, so the ack path only adds to them),
//! and, read from the monitor when scraped, the projection's lag, users by status, the review
//! queue and forwarding. Readiness (`/readyz`) is told here too; the routes are in `endpoints`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::sync::watch;

use crate::monitor::{Monitor, ReviewQuery};
use crate::store::Outcome;
use crate::tunnel::TunnelState;

pub mod endpoints;

/// The acknowledgement histogram's buckets, in seconds: a durable ack takes about a millisecond
/// on a quiet machine, a few under load, seconds only when something is wrong.
const ACK_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often histogram samples are folded into buckets when nobody scrapes, so they never pile up.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const DELIVERIES: &str = "kyc_monitor_deliveries_total";
const ACK_SECONDS: &str = "kyc_monitor_ack_seconds";
const PROJECTION_LAG: &str = "kyc_monitor_projection_lag";
const USERS: &str = "kyc_monitor_users";
const REVIEW_USERS: &str = "kyc_monitor_review_queue_users";
const REVIEW_OLDEST: &str = "kyc_monitor_review_oldest_seconds";
const FORWARD_PENDING: &str = "kyc_monitor_forward_pending";
const FORWARD_FAILED: &str = "kyc_monitor_forward_failed";
const FORWARD_PAUSED: &str = "kyc_monitor_forward_paused";
const READY: &str = "kyc_monitor_ready";

/// What a request to the webhook path came to, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// Committed with this outcome (or, past the refusal budget, counted as if it were).
    Stored(Outcome),
    /// Answered 503: the store could not commit it.
    NotStored,
}

impl Answered {
    const ALL: [Answered; 5] = [
        Answered::Stored(Outcome::Accepted),
        Answered::Stored(Outcome::Duplicate),
        Answered::Stored(Outcome::Ping),
        Answered::Stored(Outcome::Rejected),
        Answered::NotStored,
    ];

    fn label(self) -> &'static str {
        match self {
            Answered::Stored(outcome) => outcome.as_str(),
            Answered::NotStored => "not_stored",
        }
    }
}

/// The webhook listener's counters: handed to it, added to on every answer. Without
/// `--metrics-listen` they are no-ops.
#[derive(Clone)]
pub struct DeliveryMetrics {
    /// In the order of [`Answered::ALL`].
    answered: [Counter; 5],
    ack_seconds: Histogram,
}

impl std::fmt::Debug for DeliveryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryMetrics")
    }
}

impl DeliveryMetrics {
    /// Counts nothing (no metrics listener).
    pub fn off() -> DeliveryMetrics {
        DeliveryMetrics {
            answered: std::array::from_fn(|_| Counter::noop()),
            ack_seconds: Histogram::noop(),
        }
    }

    /// One request to the webhook path answered, `took` after its headers arrived.
    pub fn answered(&self, answered: Answered, took: Duration) {
        let index = Answered::ALL
            .iter()
            .position(|a| *a == answered)
            .expect("every answer is listed");
        self.answered[index].increment(1);
        self.ack_seconds.record(took.as_secs_f64());
    }
}

/// The registry behind `/metrics` for one run.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    deliveries: DeliveryMetrics,
    /// Labelled gauges set at an earlier scrape, set to 0 when their label has gone (a
    /// destination removed, a status no user has any more).
    labelled: Mutex<BTreeSet<(&'static str, String)>>,
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(ACK_SECONDS.to_owned()), &ACK_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        for (name, help) in [
            (DELIVERIES, "Requests to the webhook path answered, by what they came to (not_stored: answered 503, the store could not commit)"),
            (ACK_SECONDS, "Time from a webhook request's headers to its answer, the commit included"),
            (PROJECTION_LAG, "Deliveries acknowledged that users and events do not reflect yet"),
            (USERS, "Users by current status"),
            (REVIEW_USERS, "Users in the review queue"),
            (REVIEW_OLDEST, "How long the user waiting longest in the review queue has waited (0 when it is empty)"),
            (FORWARD_PENDING, "Deliveries waiting to be forwarded, by destination"),
            (FORWARD_FAILED, "Deliveries a destination refused or that ran out of time, by destination"),
            (FORWARD_PAUSED, "1 when forwarding to the destination is paused"),
            (READY, "1 when the database commits and the tunnel (if any) is up, as /readyz says"),
        ] {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match name.as_str() {
                DELIVERIES => recorder.describe_counter(name, None, help),
                ACK_SECONDS => recorder.describe_histogram(name, None, help),
                _ => recorder.describe_gauge(name, None, help),
            }
        }
        let answered = Answered::ALL.map(|answered| {
            let key = Key::from_parts(DELIVERIES, vec![Label::new("outcome", answered.label())]);
            recorder.register_counter(&key, &metadata())
        });
        let ack_seconds =
            recorder.register_histogram(&Key::from_static_name(ACK_SECONDS), &metadata());
        Arc::new(Metrics {
            handle: recorder.handle(),
            recorder,
            deliveries: DeliveryMetrics {
                answered,
                ack_seconds,
            },
            labelled: Mutex::new(BTreeSet::new()),
        })
    }

    /// The handles the webhook listener counts with.
    pub fn deliveries(&self) -> DeliveryMetrics {
        self.deliveries.clone()
    }

    /// Folds histogram samples into buckets now and then until the monitor stops.
    pub async fn keep_up(self: Arc<Metrics>, mut stopping: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(UPKEEP_EVERY) => self.handle.run_upkeep(),
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Everything measured, read from `monitor` now where it is a state rather than a count. A
    /// part that cannot be read (the database gone) keeps its last value; the rest is answered.
    pub async fn render(&self, monitor: &Monitor) -> String {
        let gauge = |name: &'static str, value: f64| {
            self.recorder
                .register_gauge(&Key::from_static_name(name), &metadata())
                .set(value);
        };
        gauge(PROJECTION_LAG, monitor.writer().projection_lag() as f64);
        gauge(READY, f64::from(u8::from(readiness(monitor).is_ok())));
        match monitor.overview().await {
            Ok(overview) => {
                let mut by_status = std::collections::BTreeMap::<String, i64>::new();
                for count in overview.counts {
                    *by_status.entry(count.status).or_default() += count.users;
                }
                self.labelled_gauges("status", &[(USERS, by_status)]);
            }
            Err(error) => tracing::debug!(%error, "metrics: users by status not read"),
        }
        let review = ReviewQuery {
            limit: Some(1),
            ..ReviewQuery::default()
        };
        match monitor.review(review, "").await {
            Ok(page) => {
                gauge(REVIEW_USERS, page.total as f64);
                let waited = page.users.first().map_or(0, |user| {
                    (crate::time::now_millis() - user.status_since).max(0)
                });
                gauge(REVIEW_OLDEST, waited as f64 / 1000.0);
            }
            Err(error) => tracing::debug!(%error, "metrics: the review queue not read"),
        }
        match monitor.destinations().await {
            Ok(found) => {
                let per = |value: fn(&crate::monitor::DestinationView) -> i64| {
                    found
                        .destinations
                        .iter()
                        .map(|d| (d.url.clone(), value(d)))
                        .collect()
                };
                self.labelled_gauges(
                    "destination",
                    &[
                        (FORWARD_PENDING, per(|d| d.pending)),
                        (FORWARD_FAILED, per(|d| d.failed)),
                        (FORWARD_PAUSED, per(|d| i64::from(d.paused))),
                    ],
                );
            }
            Err(error) => tracing::debug!(%error, "metrics: forwarding not read"),
        }
        self.handle.render()
    }

    /// Sets gauges labelled `label` (a family per entry of `values`), and 0 for the labels an
    /// earlier scrape set that are gone now.
    fn labelled_gauges(
        &self,
        label: &'static str,
        values: &[(&'static str, std::collections::BTreeMap<String, i64>)],
    ) {
        let mut labelled = self.labelled.lock().expect("labelled gauges");
        for (name, current) in values {
            let gone: Vec<String> = labelled
                .iter()
                .filter(|(n, value)| n == name && !current.contains_key(value))
                .map(|(_, value)| value.clone())
                .collect();
            let zeros = gone.into_iter().map(|value| (value, 0));
            for (value, number) in current.clone().into_iter().chain(zeros) {
                let key = Key::from_parts(*name, vec![Label::new(label, value.clone())]);
                self.recorder
                    .register_gauge(&key, &metadata())
                    .set(number as f64);
                labelled.insert((name, value));
            }
        }
    }
}

/// Whether the monitor can take deliveries now: `Err` says why not (stopping, the store not
/// committing, the tunnel not up), in words for the operator.
pub fn readiness(monitor: &Monitor) -> Result<(), String> {
    if *monitor.stopping().borrow() {
        return Err("stopping: finishing the deliveries in flight".to_owned());
    }
    if let Some(problem) = monitor.writer().health().borrow().as_ref() {
        return Err(format!("the database does not commit: {}", problem.message));
    }
    let tunnel = monitor.tunnel();
    match tunnel.status {
        TunnelState::Off | TunnelState::Up { .. } => Ok(()),
        TunnelState::Connecting => Err(format!("the {} tunnel is connecting", tunnel.kind)),
        TunnelState::Reconnecting { reason, .. } => Err(format!(
            "the {} tunnel is reconnecting: {reason}",
            tunnel.kind
        )),
        TunnelState::Failed { reason } => {
            Err(format!("the {} tunnel failed: {reason}", tunnel.kind))
        }
    }
}
