//! The alert engine: every tick it asks each rule what holds, debounces it, and sends each start
//! and resolve once to every target. Each target has a queue and a task of its own: a target
//! that fails is retried with backoff (honouring `Retry-After`) without holding up the others,
//! and its failures are kept for Settings. What needs attention is published for the desktop
//! and the views ([`AlertEngine::attention`]), the starts and resolves for the desktop's
//! notifications ([`AlertEngine::messages`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};

use super::rules::{self, Debounce, Transition};
use super::targets::{alert_text, post_json, SendFailure};
use super::{
    shown_duration, AlertConfig, AlertTarget, AlertsView, Attention, ConditionSource, Observer,
    Rule, RuleView, TargetFailure, TargetView, TestAlertAnswer, REFUSED_SIGNATURES,
};
use crate::backoff::{jitter, Backoff};
use crate::monitor::CoreError;
use crate::time::now_millis;

/// Failures kept per target for Settings.
pub const FAILURES_KEPT: usize = 5;
/// Alerts waiting per target; past this the oldest waiting is dropped (and logged).
const QUEUE: usize = 64;
/// Attempts per alert before it is given up (about four minutes of backoff).
const MAX_ATTEMPTS: u32 = 8;
const RETRIES: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(5 * 60),
};
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether an alert tells a start, a resolve, or is a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Started,
    Resolved,
    Test,
}

/// One alert as it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    /// The `webhook-id` of the URL targets' JSON.
    pub id: String,
    pub kind: MessageKind,
    pub rule: Option<Rule>,
    pub key: Option<String>,
    pub summary: String,
    /// The UI's view that shows it, when there is a UI to open.
    pub link: Option<String>,
    /// The view's hash (`#/deliveries`), for the desktop window.
    pub view: String,
    pub at: i64,
}

struct TargetSlot {
    target: AlertTarget,
    status: Mutex<TargetStatus>,
    queue: mpsc::Sender<AlertMessage>,
}

#[derive(Default)]
struct TargetStatus {
    sent: u32,
    failed_attempts: u32,
    last_sent_at: Option<i64>,
    queued: u32,
    failures: VecDeque<TargetFailure>,
}

/// The running alert rules and targets; made by `Monitor::open`.
pub struct AlertEngine {
    config: AlertConfig,
    sources: Mutex<Vec<Arc<dyn ConditionSource>>>,
    attention: watch::Sender<Attention>,
    messages: broadcast::Sender<AlertMessage>,
    ui_address: Mutex<Option<SocketAddr>>,
    targets: Vec<TargetSlot>,
    client: reqwest::Client,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl AlertEngine {
    /// Starts watching the rules and one sender per target; all end with `stop`.
    pub fn start(
        config: AlertConfig,
        observer: Observer,
        stopping: watch::Receiver<bool>,
    ) -> Result<Arc<AlertEngine>, String> {
        let client = crate::trust::https_client(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(ATTEMPT_TIMEOUT)
        })
        .map_err(|e| format!("cannot make the alerts' HTTP client: {e}"))?;
        let mut receivers = Vec::new();
        let targets = config
            .targets
            .iter()
            .map(|target| {
                let (queue, receiver) = mpsc::channel(QUEUE);
                receivers.push(receiver);
                TargetSlot {
                    target: target.clone(),
                    status: Mutex::default(),
                    queue,
                }
            })
            .collect();
        let engine = Arc::new(AlertEngine {
            config,
            sources: Mutex::new(rules::built_in()),
            attention: watch::Sender::new(Attention::default()),
            messages: broadcast::channel(64).0,
            ui_address: Mutex::new(None),
            targets,
            client,
            tasks: Mutex::default(),
        });
        let mut tasks = vec![tokio::spawn(
            engine.clone().watch_rules(observer, stopping.clone()),
        )];
        for (index, receiver) in receivers.into_iter().enumerate() {
            tasks.push(tokio::spawn(engine.clone().send_queued(index, receiver)));
        }
        *engine.tasks.lock().expect("alert tasks") = tasks;
        Ok(engine)
    }

    /// Adds a rule (the review SLA's, once `--review-sla` is set).
    pub fn add_source(&self, source: Arc<dyn ConditionSource>) {
        self.sources.lock().expect("alert sources").push(source);
    }

    /// What needs attention now, as it changes.
    pub fn attention(&self) -> watch::Receiver<Attention> {
        self.attention.subscribe()
    }

    /// Every start and resolve (and test), as it is sent.
    pub fn messages(&self) -> broadcast::Receiver<AlertMessage> {
        self.messages.subscribe()
    }

    /// Where the UI listens, for the links (unless `--public-ui-url` says where people open it).
    pub fn set_ui_address(&self, addr: Option<SocketAddr>) {
        *self.ui_address.lock().expect("ui address") = addr;
    }

    /// Stops watching and sending (what is queued is not sent).
    pub fn stop(&self) {
        for task in std::mem::take(&mut *self.tasks.lock().expect("alert tasks")) {
            task.abort();
        }
    }

    fn link(&self, view: &str) -> Option<String> {
        let base = match &self.config.public_ui_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", (*self.ui_address.lock().expect("ui address"))?),
        };
        Some(format!("{base}/{view}"))
    }

    fn message(
        &self,
        kind: MessageKind,
        rule: Option<Rule>,
        key: Option<String>,
        summary: String,
        view: &str,
    ) -> AlertMessage {
        AlertMessage {
            id: format!("kycm_alert_{}", crate::random::hex_token(16)),
            kind,
            rule,
            key,
            summary,
            link: self.link(view),
            view: view.to_owned(),
            at: now_millis(),
        }
    }

    async fn watch_rules(self: Arc<Self>, observer: Observer, mut stopping: watch::Receiver<bool>) {
        let settle = self.config.rules.settle;
        let tick = (settle / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut debounce = Debounce::new(settle);
        let mut failing_sources = 0usize;
        while !*stopping.borrow() {
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stopping.changed() => continue,
            }
            let now = now_millis();
            let sources = self.sources.lock().expect("alert sources").clone();
            let (mut observed, mut unknown) = (Vec::new(), Vec::new());
            let mut failed = 0;
            for source in sources {
                match source.observe(&observer, now).await {
                    Ok(conditions) => observed.extend(conditions),
                    Err(error) => {
                        failed += 1;
                        if failing_sources == 0 {
                            tracing::warn!(%error, "an alert rule could not tell whether its condition holds; it keeps its last state");
                        }
                        unknown.extend_from_slice(source.rules());
                    }
                }
            }
            failing_sources = failed;
            let transitions = debounce.observe(&observed, &unknown, Instant::now(), now);
            let attention = debounce.attention();
            self.attention
                .send_if_modified(|current| std::mem::replace(current, attention) != *current);
            for transition in transitions {
                let (kind, condition) = match transition {
                    Transition::Started(c) => (MessageKind::Started, c),
                    Transition::Resolved(c) => (MessageKind::Resolved, c),
                };
                tracing::info!(rule = ?condition.rule, key = %condition.key, started = (kind == MessageKind::Started), "{}", condition.summary);
                let message = self.message(
                    kind,
                    Some(condition.rule),
                    Some(condition.key),
                    condition.summary,
                    &condition.view,
                );
                self.send_to_all(message);
            }
        }
    }

    fn send_to_all(&self, message: AlertMessage) {
        let _ = self.messages.send(message.clone());
        for slot in &self.targets {
            match slot.queue.try_send(message.clone()) {
                Ok(()) => slot.status.lock().expect("target status").queued += 1,
                Err(_) => {
                    tracing::warn!(target = %slot.target.shown(), "an alert was dropped: the target's queue is full (it has been failing)")
                }
            }
        }
    }

    async fn send_queued(self: Arc<Self>, index: usize, mut queue: mpsc::Receiver<AlertMessage>) {
        let slot = &self.targets[index];
        while let Some(message) = queue.recv().await {
            for attempt in 1..=MAX_ATTEMPTS {
                let failure = match self.deliver(&slot.target, &message).await {
                    Ok(()) => {
                        self.record(slot, None);
                        break;
                    }
                    Err(failure) => failure,
                };
                self.record(slot, Some(&failure.error));
                if failure.permanent || attempt == MAX_ATTEMPTS {
                    tracing::warn!(target = %slot.target.shown(), error = %failure.error, attempts = attempt, "an alert could not be sent; given up");
                    break;
                }
                let wait = RETRIES
                    .wait(attempt, jitter())
                    .max(failure.retry_after.unwrap_or_default());
                tracing::info!(target = %slot.target.shown(), error = %failure.error, "an alert could not be sent; trying again in {}", shown_duration(wait));
                tokio::time::sleep(wait).await;
            }
            let mut status = slot.status.lock().expect("target status");
            status.queued = status.queued.saturating_sub(1);
        }
    }

    fn record(&self, slot: &TargetSlot, failure: Option<&str>) {
        let mut status = slot.status.lock().expect("target status");
        match failure {
            None => {
                status.sent += 1;
                status.last_sent_at = Some(now_millis());
            }
            Some(error) => {
                status.failed_attempts += 1;
                status.failures.push_front(TargetFailure {
                    at: now_millis(),
                    error: error.to_owned(),
                });
                status.failures.truncate(FAILURES_KEPT);
            }
        }
    }

    async fn deliver(
        &self,
        target: &AlertTarget,
        message: &AlertMessage,
    ) -> Result<(), SendFailure> {
        match target {
            AlertTarget::Slack(url) => {
                let body = serde_json::json!({ "text": alert_text(message) });
                post_json(&self.client, url, body.to_string().into_bytes(), None).await
            }
            AlertTarget::Webhook(url) => {
                let body = serde_json::json!({
                    "type": match message.kind {
                        MessageKind::Started => "alert.started",
                        MessageKind::Resolved => "alert.resolved",
                        MessageKind::Test => "alert.test",
                    },
                    "id": message.id,
                    "rule": message.rule,
                    "key": message.key,
                    "summary": message.summary,
                    "link": message.link,
                    "at": crate::time::rfc3339_millis(message.at),
                });
                let signing = self
                    .config
                    .signing_secret
                    .as_ref()
                    .map(|secret| (secret, message.id.as_str()));
                post_json(&self.client, url, body.to_string().into_bytes(), signing).await
            }
            AlertTarget::Email(to) => {
                let Some(smtp) = &self.config.smtp else {
                    return Err(SendFailure {
                        error: "no --smtp-url to send it through".into(),
                        permanent: true,
                        retry_after: None,
                    });
                };
                let head = match message.kind {
                    MessageKind::Started => "Alert",
                    MessageKind::Resolved => "Resolved",
                    MessageKind::Test => "Test alert",
                };
                let mut subject = format!("[KYC Monitor] {head}: {}", message.summary);
                if subject.chars().count() > 150 {
                    subject = subject.chars().take(149).chain(['…']).collect();
                }
                smtp.send(&self.config.from, to, &subject, alert_text(message))
                    .await
            }
        }
    }

    /// Sends a test alert to one target now, once, and says what came of it.
    pub async fn send_test(&self, target: u32) -> Result<TestAlertAnswer, CoreError> {
        let slot = self
            .targets
            .get(target as usize)
            .ok_or_else(|| CoreError::NotFound(format!("no alert target {target}")))?;
        let message = self.message(
            MessageKind::Test,
            None,
            None,
            "a test alert, sent from Settings: this target works".into(),
            "#/settings",
        );
        let outcome = self.deliver(&slot.target, &message).await;
        self.record(slot, outcome.as_ref().err().map(|f| f.error.as_str()));
        Ok(TestAlertAnswer {
            delivered: outcome.is_ok(),
            error: outcome.err().map(|f| f.error),
            target: self.target_view(target as usize),
        })
    }

    fn target_view(&self, index: usize) -> TargetView {
        let slot = &self.targets[index];
        let status = slot.status.lock().expect("target status");
        TargetView {
            id: index as u32,
            kind: slot.target.kind().to_owned(),
            shown: slot.target.shown(),
            sent: status.sent,
            failed_attempts: status.failed_attempts,
            last_sent_at: status.last_sent_at,
            queued: status.queued,
            failures: status.failures.iter().cloned().collect(),
        }
    }

    /// The Settings' alert section.
    pub fn view(&self) -> AlertsView {
        let rules = &self.config.rules;
        let mut views = vec![
            RuleView {
                rule: Rule::Silence,
                setting: match rules.silence {
                    Some(silence) => format!("no delivery for {}", shown_duration(silence)),
                    None => "off (--alert-silence)".into(),
                },
            },
            RuleView {
                rule: Rule::RefusedSignatures,
                setting: format!(
                    "{REFUSED_SIGNATURES} or more refused signatures within {}",
                    shown_duration(rules.refused_window)
                ),
            },
            RuleView {
                rule: Rule::ForwardingFailing,
                setting: format!(
                    "a forwarding destination failing for {}",
                    shown_duration(rules.forward_failing_for)
                ),
            },
            RuleView {
                rule: Rule::StoreRefusing,
                setting: "the database refusing commits (503s)".into(),
            },
        ];
        let added: Vec<Rule> = self
            .sources
            .lock()
            .expect("alert sources")
            .iter()
            .flat_map(|s| s.rules().iter().copied())
            .filter(|rule| views.iter().all(|v| v.rule != *rule))
            .collect();
        views.extend(added.into_iter().map(|rule| RuleView {
            rule,
            setting: "on".into(),
        }));
        AlertsView {
            targets: (0..self.targets.len())
                .map(|i| self.target_view(i))
                .collect(),
            rules: views,
            active: self.attention.borrow().active.clone(),
        }
    }
}
