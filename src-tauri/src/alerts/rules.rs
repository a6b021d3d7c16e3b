//! What needs attention: the one definition the alert targets, the desktop's notifications and
//! tray, and the browser share. Each rule is a [`ConditionSource`] that says which conditions
//! hold now; [`Debounce`] turns what they say into starts and resolves, each once, after the
//! condition has held (or stayed cleared) for the settle time, so a flapping condition does
//! not page anyone twice.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{shown_duration, ActiveCondition, Condition, Rule, RuleSettings, REFUSED_SIGNATURES};
use crate::forward::ForwardHealth;
use crate::monitor::ReaderPool;
use crate::store::{Destination, StoreError, StoreProblem};

/// What the rules read: the store (through the pool), the writer's health, the forwarders'.
#[derive(Clone)]
pub struct Observer {
    pub readers: Arc<ReaderPool>,
    pub store_health: watch::Receiver<Option<StoreProblem>>,
    pub forwarding: Arc<ForwardHealth>,
    pub destinations: Vec<Destination>,
    /// When this run started (Unix ms): silence counts from here when nothing came yet.
    pub started_at: i64,
    pub settings: RuleSettings,
}

/// A source's answer: the conditions that hold now, or why it could not tell.
pub type Observing = Pin<Box<dyn Future<Output = Result<Vec<Condition>, String>> + Send>>;

/// A rule: which of its conditions hold at `now` (Unix ms). The built-in rules are one; the
/// review SLA (`--review-sla`) is added as another with [`super::AlertEngine::add_source`].
pub trait ConditionSource: Send + Sync + 'static {
    /// The rules whose conditions it tells (kept as they were when it cannot tell).
    fn rules(&self) -> &'static [Rule];
    fn observe(&self, observer: &Observer, now: i64) -> Observing;
}

/// The built-in rules, each a source of its own: one that cannot read the store (a deleted
/// file) leaves the others telling.
pub(super) fn built_in() -> Vec<Arc<dyn ConditionSource>> {
    vec![
        Arc::new(StoreRefusing),
        Arc::new(ForwardingFailing),
        Arc::new(StoredDeliveries),
    ]
}

/// The database refusing commits: the writer's health, no read needed.
struct StoreRefusing;

impl ConditionSource for StoreRefusing {
    fn rules(&self) -> &'static [Rule] {
        &[Rule::StoreRefusing]
    }

    fn observe(&self, observer: &Observer, _now: i64) -> Observing {
        let problem = observer.store_health.borrow().clone();
        Box::pin(async move {
            Ok(problem
                .map(|problem| Condition {
                    key: "store".into(),
                    rule: Rule::StoreRefusing,
                    summary: format!(
                        "The database refuses commits, so deliveries are answered 503: {}",
                        problem.message
                    ),
                    view: "#/".into(),
                })
                .into_iter()
                .collect())
        })
    }
}

/// Silence and a burst of refused signatures, read from the stored deliveries.
struct StoredDeliveries;

impl ConditionSource for StoredDeliveries {
    fn rules(&self) -> &'static [Rule] {
        &[Rule::Silence, Rule::RefusedSignatures]
    }

    fn observe(&self, observer: &Observer, now: i64) -> Observing {
        let observer = observer.clone();
        Box::pin(async move {
            let mut found = Vec::new();
            let settings = observer.settings;
            let window = settings.refused_window.as_millis() as i64;
            let (latest, refused) = observer
                .readers
                .read(move |reader| {
                    Ok::<_, StoreError>((
                        reader.latest_delivery_at()?,
                        reader.refused_signatures_since(now - window)?,
                    ))
                })
                .await
                .map_err(|error| error.to_string())?;
            if let Some(silence) = settings.silence {
                let last = latest.unwrap_or(0).max(observer.started_at);
                if now - last >= silence.as_millis() as i64 {
                    let since = match latest {
                        Some(at) => format!("the last came at {}", crate::time::rfc3339_millis(at)),
                        None => "none has come since the monitor started".to_owned(),
                    };
                    found.push(Condition {
                        key: "silence".into(),
                        rule: Rule::Silence,
                        summary: format!(
                            "No delivery for {} or more ({since})",
                            shown_duration(silence)
                        ),
                        view: "#/deliveries".into(),
                    });
                }
            }
            if refused >= i64::from(REFUSED_SIGNATURES) {
                found.push(Condition {
                    key: "refused-signatures".into(),
                    rule: Rule::RefusedSignatures,
                    summary: format!(
                        "{refused} deliveries refused for their signature within {}: a wrong --signing-secret, or someone sending forged deliveries",
                        shown_duration(settings.refused_window)
                    ),
                    view: "#/deliveries".into(),
                });
            }
            Ok(found)
        })
    }
}

/// A forwarding destination where nothing was delivered for a while, as its forwarder tells.
struct ForwardingFailing;

impl ConditionSource for ForwardingFailing {
    fn rules(&self) -> &'static [Rule] {
        &[Rule::ForwardingFailing]
    }

    fn observe(&self, observer: &Observer, now: i64) -> Observing {
        let observer = observer.clone();
        Box::pin(async move {
            let mut found = Vec::new();
            let settings = observer.settings;
            let failing_for = settings.forward_failing_for.as_millis() as i64;
            for (id, since) in observer.forwarding.failing() {
                if now - since < failing_for {
                    continue;
                }
                let shown = observer
                    .destinations
                    .iter()
                    .find(|d| d.id == id)
                    .map_or_else(
                        || format!("destination {id}"),
                        |d| crate::forward::shown_url(&d.url),
                    );
                found.push(Condition {
                    key: format!("forwarding:{id}"),
                    rule: Rule::ForwardingFailing,
                    summary: format!(
                        "Forwarding to {shown} has failed since {} (nothing delivered there for {} or more)",
                        crate::time::rfc3339_millis(since),
                        shown_duration(settings.forward_failing_for)
                    ),
                    view: "#/deliveries".into(),
                });
            }
            Ok(found)
        })
    }
}

/// What needs attention now: the conditions that fired and have not resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attention {
    pub active: Vec<ActiveCondition>,
}

impl Attention {
    pub fn needs_attention(&self) -> bool {
        !self.active.is_empty()
    }
}

/// A start or a resolve, once each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transition {
    Started(Condition),
    Resolved(Condition),
}

struct Tracked {
    condition: Condition,
    active: bool,
    /// Fired at (Unix ms), while active.
    since: i64,
    /// Since when what is observed differs from `active`.
    changing_since: Option<Instant>,
}

/// Turns observed conditions into transitions after `settle`.
pub(super) struct Debounce {
    settle: Duration,
    tracked: BTreeMap<String, Tracked>,
}

impl Debounce {
    pub(super) fn new(settle: Duration) -> Debounce {
        Debounce {
            settle,
            tracked: BTreeMap::new(),
        }
    }

    /// Takes what holds at `at` (`None` for a source that could not tell: its conditions are
    /// left as they were) and returns what fired or resolved.
    pub(super) fn observe(
        &mut self,
        observed: &[Condition],
        unknown_rules: &[Rule],
        at: Instant,
        now_ms: i64,
    ) -> Vec<Transition> {
        let mut transitions = Vec::new();
        for condition in observed {
            let tracked = self
                .tracked
                .entry(condition.key.clone())
                .or_insert_with(|| Tracked {
                    condition: condition.clone(),
                    active: false,
                    since: now_ms,
                    changing_since: None,
                });
            // The wording follows what holds now (a count, a duration); the start was told.
            tracked.condition = condition.clone();
        }
        for tracked in self.tracked.values_mut() {
            if unknown_rules.contains(&tracked.condition.rule) {
                continue;
            }
            let holds = observed.iter().any(|c| c.key == tracked.condition.key);
            if holds == tracked.active {
                tracked.changing_since = None;
                continue;
            }
            let changing_since = *tracked.changing_since.get_or_insert(at);
            if at.duration_since(changing_since) < self.settle {
                continue;
            }
            tracked.active = holds;
            tracked.changing_since = None;
            if holds {
                tracked.since = now_ms;
                transitions.push(Transition::Started(tracked.condition.clone()));
            } else {
                transitions.push(Transition::Resolved(tracked.condition.clone()));
            }
        }
        self.tracked
            .retain(|_, t| t.active || t.changing_since.is_some());
        transitions
    }

    pub(super) fn attention(&self) -> Attention {
        Attention {
            active: self
                .tracked
                .values()
                .filter(|t| t.active)
                .map(|t| ActiveCondition {
                    condition: t.condition.clone(),
                    since: t.since,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence() -> Condition {
        Condition {
            key: "silence".into(),
            rule: Rule::Silence,
            summary: "quiet".into(),
            view: "#/deliveries".into(),
        }
    }

    #[test]
    fn a_condition_fires_once_after_settling_and_resolves_once() {
        let settle = Duration::from_secs(10);
        let mut debounce = Debounce::new(settle);
        let t0 = Instant::now();
        let held = [silence()];
        assert!(debounce.observe(&held, &[], t0, 0).is_empty());
        assert!(debounce
            .observe(&held, &[], t0 + Duration::from_secs(5), 0)
            .is_empty());
        let fired = debounce.observe(&held, &[], t0 + settle, 0);
        assert_eq!(fired, vec![Transition::Started(silence())]);
        assert!(debounce
            .observe(&held, &[], t0 + Duration::from_secs(30), 0)
            .is_empty());
        assert!(debounce.attention().needs_attention());
        // A blip shorter than the settle time resolves nothing.
        let t1 = t0 + Duration::from_secs(40);
        assert!(debounce.observe(&[], &[], t1, 0).is_empty());
        assert!(debounce
            .observe(&held, &[], t1 + Duration::from_secs(5), 0)
            .is_empty());
        assert!(debounce
            .observe(&[], &[], t1 + Duration::from_secs(6), 0)
            .is_empty());
        let resolved = debounce.observe(&[], &[], t1 + Duration::from_secs(16), 0);
        assert_eq!(resolved, vec![Transition::Resolved(silence())]);
        assert!(!debounce.attention().needs_attention());
    }

    #[test]
    fn a_flapping_condition_never_fires() {
        let mut debounce = Debounce::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for second in 0..60 {
            let held = if second % 4 < 2 {
                vec![silence()]
            } else {
                vec![]
            };
            let at = t0 + Duration::from_secs(second);
            assert!(debounce.observe(&held, &[], at, 0).is_empty(), "{second}");
        }
    }

    #[test]
    fn a_rule_that_cannot_tell_keeps_its_conditions() {
        let mut debounce = Debounce::new(Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(debounce.observe(&[silence()], &[], t0, 0).len(), 1);
        assert!(debounce.observe(&[], &[Rule::Silence], t0, 0).is_empty());
        assert!(debounce.attention().needs_attention());
    }
}
