//! Alerts that reach people (`--alert-to`): the rules over what needs attention
//! (`rules.rs`: the one definition the tray, the desktop notifications, the browser and the
//! alert targets share), the engine that watches them and fires once when a condition starts
//! and once when it resolves, debounced (`engine.rs`), and the targets: Slack-compatible
//! incoming webhooks and signed JSON webhooks (`targets.rs`), email over SMTP (`email.rs`).
//!
//! Nothing secret goes into an alert, a log line or a view: targets are shown masked, an SMTP
//! password or a signing secret is only handed to the one call that needs it.

mod email;
mod engine;
mod rules;
mod targets;

use std::time::Duration;

use serde::Serialize;
use ts_rs::TS;

pub use email::{SmtpSettings, SmtpUrlError};
pub use engine::{AlertEngine, AlertMessage, MessageKind};
pub use rules::{Attention, ConditionSource, Observer, Observing};
pub use targets::{shown_target, AlertTarget, TargetError};

/// The fixed rules' defaults, as the contract states them.
pub const DEFAULT_REFUSED_WINDOW: Duration = Duration::from_secs(5 * 60);
pub const REFUSED_SIGNATURES: u32 = 10;
pub const DEFAULT_FORWARD_FAILING_FOR: Duration = Duration::from_secs(15 * 60);
/// How long a condition must hold (or stay cleared) before it fires (or resolves).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

/// How the alert rules and targets are set for a run; the default watches the rules (for the
/// desktop notifications and the views) and sends nothing anywhere.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub targets: Vec<AlertTarget>,
    /// How `mailto:` targets are sent (required when there is one).
    pub smtp: Option<SmtpSettings>,
    /// The `From` of alert emails.
    pub from: String,
    pub rules: RuleSettings,
    /// Where links in alerts point: `--public-ui-url` when set, else the UI's own address.
    pub public_ui_url: Option<String>,
    /// Signs the URL targets' JSON like forwarded deliveries (`--forward-signing-secret`).
    pub signing_secret: Option<crate::signature::SharedSecret>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            targets: Vec::new(),
            smtp: None,
            from: DEFAULT_FROM.to_owned(),
            rules: RuleSettings::default(),
            public_ui_url: None,
            signing_secret: None,
        }
    }
}

/// The `From` of alert emails unless `--alert-from` says otherwise.
pub const DEFAULT_FROM: &str = "KYC Monitor <kyc-monitor@localhost>";

/// The rules' windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSettings {
    /// No delivery for this long (`--alert-silence`); `None`: the rule is off.
    pub silence: Option<Duration>,
    /// [`REFUSED_SIGNATURES`] or more refused signatures within this window.
    pub refused_window: Duration,
    /// A forwarding destination failing (no attempt delivered) for this long.
    pub forward_failing_for: Duration,
    /// Debounce: a condition holds (or stays cleared) this long before it fires (or resolves).
    pub settle: Duration,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            silence: None,
            refused_window: DEFAULT_REFUSED_WINDOW,
            forward_failing_for: DEFAULT_FORWARD_FAILING_FOR,
            settle: DEFAULT_SETTLE,
        }
    }
}

/// Which rule a condition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A review case waits past `--review-sla` (its source is added with
    /// [`AlertEngine::add_source`]).
    ReviewSla,
    Silence,
    RefusedSignatures,
    ForwardingFailing,
    StoreRefusing,
}

/// Something that needs a person, as a rule sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Tells conditions apart (`silence`, `forwarding:3`): one start and one resolve per key.
    pub key: String,
    pub rule: Rule,
    /// One sentence for a person; never a secret.
    pub summary: String,
    /// The UI's view that shows it, as the address's hash (`#/deliveries`).
    pub view: String,
}

/// A condition that fired and has not resolved yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCondition {
    #[serde(flatten)]
    #[ts(flatten)]
    pub condition: Condition,
    /// When it fired (Unix ms).
    pub since: i64,
}

/// A condition starting or resolving, as the live feed tells every open window (and the
/// desktop app connected to a team monitor, which notifies it as its own alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AlertEvent {
    #[serde(flatten)]
    #[ts(flatten)]
    pub condition: Condition,
    /// `false` when it started, `true` when it resolved.
    pub resolved: bool,
    /// When (Unix ms).
    pub at: i64,
}

impl AlertEvent {
    /// What the feed tells of an alert sent to the targets: starts and resolves, not tests.
    pub fn of(message: &AlertMessage) -> Option<AlertEvent> {
        let resolved = match message.kind {
            MessageKind::Started => false,
            MessageKind::Resolved => true,
            MessageKind::Test => return None,
        };
        Some(AlertEvent {
            condition: Condition {
                key: message.key.clone()?,
                rule: message.rule?,
                summary: message.summary.clone(),
                view: message.view.clone(),
            },
            resolved,
            at: message.at,
        })
    }
}

/// One attempt that failed to reach a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetFailure {
    /// Unix ms.
    pub at: i64,
    pub error: String,
}

/// A target as Settings shows it: masked, with what it received and its last failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub id: u32,
    /// `slack`, `email` or `webhook`.
    pub kind: String,
    /// The target with its secret parts masked.
    pub shown: String,
    pub sent: u32,
    pub failed_attempts: u32,
    pub last_sent_at: Option<i64>,
    /// Alerts waiting to be sent (or retried).
    pub queued: u32,
    /// The latest failures, newest first (at most [`engine::FAILURES_KEPT`]).
    pub failures: Vec<TargetFailure>,
}

/// A rule and how it is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub rule: Rule,
    /// What makes it fire, or that it is off.
    pub setting: String,
}

/// The Settings' alert section: targets, rules, and what needs attention now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AlertsView {
    pub targets: Vec<TargetView>,
    pub rules: Vec<RuleView>,
    pub active: Vec<ActiveCondition>,
}

/// Which target a test alert goes to.
#[derive(Debug, Clone, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TestAlertRequest {
    pub target: u32,
}

/// What came of a test alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TestAlertAnswer {
    pub delivered: bool,
    pub error: Option<String>,
    pub target: TargetView,
}

/// A duration for the alert options: `500ms`, or what `parse_duration` takes (`90s`, `5m`, `2h`).
pub fn parse_alert_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Some(ms) = trimmed.strip_suffix("ms") {
        return match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(format!(
                "{text:?} is not a duration such as 500ms, 90s or 5m"
            )),
        };
    }
    crate::config::team::parse_duration(trimmed)
}

/// A duration as a person reads it: `90s`, `5m`, `2h 30m`, `500ms`.
pub fn shown_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_milliseconds_and_show_plainly() {
        assert_eq!(
            parse_alert_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(
            parse_alert_duration("5m").unwrap(),
            Duration::from_secs(300)
        );
        assert!(parse_alert_duration("0ms").is_err());
        assert!(parse_alert_duration("soon").is_err());
        assert_eq!(shown_duration(Duration::from_secs(9000)), "2h 30m");
        assert_eq!(shown_duration(Duration::from_millis(300)), "300ms");
    }
}
