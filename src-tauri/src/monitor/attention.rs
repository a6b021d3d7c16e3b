//! "Needs attention", defined once: the review cases waiting, of them those whose SLA clock
//! (`--review-sla`, waits on the customer left out) has run out, and the alert rules'
//! conditions that hold. The tray, the UI's top bar and the alert rules (the SLA one is
//! [`ReviewSlaRule`]) all count with [`Monitor::attention`] and [`Monitor::over_sla_at`].

use serde::Serialize;
use ts_rs::TS;

use super::{CoreError, Monitor};
use crate::store::SlaScope;

/// What needs a person now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    /// The review queue's cases (its total).
    pub to_review: i64,
    /// Of those, the cases over the SLA.
    pub over_sla: i64,
    /// The SLA, in milliseconds.
    pub review_sla_ms: i64,
    /// The alert rules' conditions that fired and have not resolved (the same the alert
    /// targets and the desktop's notifications are told).
    pub conditions: Vec<crate::alerts::ActiveCondition>,
}

/// A case in the queue over its SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OverSlaCase {
    pub external_id: String,
    /// How long its SLA clock has run.
    pub clock_ms: i64,
    pub assignee: Option<String>,
}

/// The cases over the SLA at a given time: how many, and the longest-running ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OverSla {
    pub count: i64,
    pub cases: Vec<OverSlaCase>,
}

impl Monitor {
    /// The cases over the SLA at `now` (Unix ms): the count, and at most `limit` of them, the
    /// longest clock first. What the SLA alert rule asks.
    pub async fn over_sla_at(&self, now: i64, limit: u32) -> Result<OverSla, CoreError> {
        let settings = self.review_settings().await?;
        let scope = SlaScope {
            statuses: settings.statuses,
            decisions: settings.decisions,
            sla_ms: self.review_sla_ms(),
            now,
        };
        let (count, found) = self
            .read(move |reader| Ok(reader.over_sla(&scope, limit)?))
            .await?;
        Ok(OverSla {
            count,
            cases: found
                .into_iter()
                .map(|case| OverSlaCase {
                    external_id: case.external_id,
                    clock_ms: case.clock_ms,
                    assignee: case.assignee,
                })
                .collect(),
        })
    }

    /// What needs attention now: the queue's total and the cases over the SLA.
    pub async fn attention(&self) -> Result<Attention, CoreError> {
        let settings = self.review_settings().await?;
        let counts = self.read(|reader| Ok(reader.user_counts()?)).await?;
        let to_review = settings.total(
            counts
                .iter()
                .map(|c| (c.status.as_str(), c.decision.as_str(), c.users)),
        );
        let over = self.over_sla_at(crate::time::now_millis(), 0).await?;
        Ok(Attention {
            to_review,
            over_sla: over.count,
            review_sla_ms: self.review_sla_ms(),
            conditions: self.alerts().attention().borrow().active.clone(),
        })
    }
}

/// The alert rule "a review case passes `--review-sla`": one condition while any case is over
/// it, naming how many and the longest-waiting one, linked to the review queue.
pub(super) struct ReviewSlaRule(pub std::sync::Weak<Monitor>);

impl crate::alerts::ConditionSource for ReviewSlaRule {
    fn rules(&self) -> &'static [crate::alerts::Rule] {
        &[crate::alerts::Rule::ReviewSla]
    }

    fn observe(&self, _: &crate::alerts::Observer, now: i64) -> crate::alerts::Observing {
        let monitor = self.0.clone();
        Box::pin(async move {
            let Some(monitor) = monitor.upgrade() else {
                return Err("the monitor is closing".to_owned());
            };
            let over = monitor
                .over_sla_at(now, 1)
                .await
                .map_err(|error| error.to_string())?;
            let Some(longest) = over.cases.first() else {
                return Ok(Vec::new());
            };
            let sla = std::time::Duration::from_millis(monitor.review_sla_ms().max(0) as u64);
            let cases = match over.count {
                1 => "1 review case is".to_owned(),
                n => format!("{n} review cases are"),
            };
            Ok(vec![crate::alerts::Condition {
                key: "review-sla".into(),
                rule: crate::alerts::Rule::ReviewSla,
                summary: format!(
                    "{cases} over the review SLA of {} (the longest waiting for {})",
                    crate::alerts::shown_duration(sla),
                    crate::alerts::shown_duration(std::time::Duration::from_millis(
                        longest.clock_ms.max(0) as u64
                    )),
                ),
                view: "#/review".into(),
            }])
        })
    }
}
