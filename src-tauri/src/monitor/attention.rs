//! "Needs attention", defined once: the review cases waiting, and of them those whose SLA clock
//! (`--review-sla`, waits on the customer left out) has run out. The tray, the UI's top bar and
//! (later) the alert rules all count with [`Monitor::attention`] and [`Monitor::over_sla_at`].

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
        })
    }
}
