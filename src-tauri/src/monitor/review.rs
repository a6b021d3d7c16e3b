//! The review queue: users waiting on a person, the one who waited longest first. Which
//! statuses and decisions count are settings kept in the database, so that every shell (the
//! browser, the window, the tray) counts the same users. When a wait is late is the review SLA
//! (`--review-sla`, see `monitor/attention.rs`), the one definition the queue, the top bar, the
//! tray and the alert rule share.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{CoreError, Monitor, PageCursor, UserView, PAGE_LIMIT};
use crate::store::{AssigneeFilter, BoardCursor, ReviewFilter, ReviewOrder, UserRecord};

/// The settings key the queue's settings are kept under (JSON).
const SETTINGS_KEY: &str = "review_queue";

/// Who is in the review queue. (Settings saved by an older version may also hold
/// `warnAfterMinutes`, the queue's own threshold before the review SLA: it is ignored.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSettings {
    /// Users in these statuses...
    pub statuses: Vec<String>,
    /// ...with one of these decisions ("" is no decision); empty: any decision.
    pub decisions: Vec<String>,
}

impl Default for ReviewSettings {
    /// Users on hold for review, as the desktop's "needs review" notification has them.
    fn default() -> Self {
        ReviewSettings {
            statuses: vec!["ON_HOLD".into()],
            decisions: vec!["REVIEW".into()],
        }
    }
}

impl ReviewSettings {
    fn check(&self) -> Result<(), CoreError> {
        if self.statuses.is_empty() {
            return Err(CoreError::Invalid(
                "choose at least one status for the review queue".into(),
            ));
        }
        Ok(())
    }

    /// Whether a user with this status and decision is in the queue.
    pub fn counts(&self, status: &str, decision: &str) -> bool {
        self.statuses.iter().any(|s| s == status) && self.counts_decision(decision)
    }

    /// How many users the queue holds, from users counted per (status, decision): the queue's
    /// total as its view shows it, and the tray's "N to review".
    pub fn total<'a>(&self, counts: impl IntoIterator<Item = (&'a str, &'a str, i64)>) -> i64 {
        counts
            .into_iter()
            .filter(|(status, decision, _)| self.counts(status, decision))
            .map(|(_, _, users)| users)
            .sum()
    }

    fn counts_decision(&self, decision: &str) -> bool {
        self.decisions.is_empty() || self.decisions.iter().any(|d| d == decision)
    }
}

/// The filters a person narrows the queue with (each optional); the same ones a board column
/// takes (its status is the column's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReviewQuery {
    /// One of the queue's statuses.
    pub status: Option<String>,
    /// One of the queue's decisions ("" is no decision).
    pub decision: Option<String>,
    pub sub_status: Option<String>,
    /// Only users who have been in their status at least this long.
    pub min_age_minutes: Option<u32>,
    /// Only the caller's cases, or the unassigned ones.
    pub assigned: Option<Assigned>,
    /// The order of the rows; absent: the longest wait first.
    pub sort: Option<ReviewSort>,
    /// The cursor's time: when the user entered the status, or was first seen for `firstSeen`
    /// (any number for `id`).
    pub after_since: Option<i64>,
    pub after_id: Option<String>,
    pub limit: Option<u32>,
}

/// Whose cases the queue (or a board column) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Assigned {
    /// Assigned to the caller.
    Mine,
    /// Assigned to nobody.
    Unassigned,
}

/// How the review queue is ordered; every order ends on the externalId, so ties are told apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ReviewSort {
    /// The longest wait in the status first.
    #[default]
    LongestWait,
    /// The latest change of status first.
    LatestChange,
    /// The earliest first seen first.
    FirstSeen,
    /// By externalId.
    Id,
}

impl ReviewSort {
    fn order(self) -> ReviewOrder {
        match self {
            ReviewSort::LongestWait => ReviewOrder::LongestWait,
            ReviewSort::LatestChange => ReviewOrder::LatestChange,
            ReviewSort::FirstSeen => ReviewOrder::FirstSeen,
            ReviewSort::Id => ReviewOrder::Id,
        }
    }

    /// The cursor's time for `user` in this order.
    fn cursor_time(self, user: &UserRecord) -> i64 {
        match self {
            ReviewSort::FirstSeen => user.first_seen_at,
            ReviewSort::Id => 0,
            _ => user.status_since,
        }
    }

    /// Two users in this order (the pages of several statuses merge by it).
    fn compare(self, a: &UserRecord, b: &UserRecord) -> std::cmp::Ordering {
        match self {
            ReviewSort::LongestWait => a
                .status_since
                .cmp(&b.status_since)
                .then_with(|| b.external_id.cmp(&a.external_id)),
            ReviewSort::LatestChange => b
                .status_since
                .cmp(&a.status_since)
                .then_with(|| a.external_id.cmp(&b.external_id)),
            ReviewSort::FirstSeen => a
                .first_seen_at
                .cmp(&b.first_seen_at)
                .then_with(|| a.external_id.cmp(&b.external_id)),
            ReviewSort::Id => a.external_id.cmp(&b.external_id),
        }
    }
}

impl ReviewQuery {
    /// Where the page continues, if it does.
    pub(super) fn cursor(&self) -> Result<Option<BoardCursor>, CoreError> {
        match (self.after_since, &self.after_id) {
            (Some(status_since), Some(external_id)) => Ok(Some(BoardCursor {
                status_since,
                external_id: external_id.clone(),
            })),
            (None, None) => Ok(None),
            _ => Err(CoreError::Invalid(
                "afterSince and afterId go together".into(),
            )),
        }
    }

    /// The store's filter: `decisions` (empty: any), the subStatus, and the least time in the
    /// status counted from `now`.
    pub(super) fn narrowing(&self, decisions: Vec<String>, now: i64, me: &str) -> ReviewFilter {
        ReviewFilter {
            assignee: self.assigned.map(|assigned| match assigned {
                Assigned::Mine => AssigneeFilter::Person(me.to_owned()),
                Assigned::Unassigned => AssigneeFilter::Nobody,
            }),
            decisions,
            sub_status: self.sub_status.clone().filter(|s| !s.is_empty()),
            entered_by: match self.min_age_minutes.unwrap_or(0) {
                0 => i64::MAX,
                minutes => now - i64::from(minutes) * 60_000,
            },
        }
    }
}

/// A page of the review queue, the longest wait first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReviewPage {
    pub users: Vec<UserView>,
    /// Where the next page starts, if there may be one.
    pub next: Option<PageCursor>,
    /// Users in the queue that the filters let through (not only those on this page).
    pub total: i64,
    /// Of those, the cases over the review SLA (their clock, waits on the customer left out,
    /// has run longer than `reviewSlaMs`): the queue's late ones, as the top bar counts them.
    pub over_sla: i64,
    /// The review SLA (`--review-sla`), in milliseconds.
    pub review_sla_ms: i64,
    /// The subStatus values in the queue (under its statuses and decisions), the most common
    /// first, for the filter to offer.
    pub sub_statuses: Vec<SubStatusCount>,
    pub settings: ReviewSettings,
}

/// One subStatus value and how many users in the queue have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SubStatusCount {
    pub value: String,
    pub users: i64,
}

impl Monitor {
    /// The review queue's settings (the defaults until someone saves them).
    pub async fn review_settings(&self) -> Result<ReviewSettings, CoreError> {
        let saved = self
            .read(|reader| Ok(reader.setting(SETTINGS_KEY)?))
            .await?;
        Ok(saved
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    pub async fn save_review_settings(
        &self,
        settings: ReviewSettings,
    ) -> Result<ReviewSettings, CoreError> {
        settings.check()?;
        let json = serde_json::to_string(&settings).expect("settings serialise");
        self.writer.set_setting(SETTINGS_KEY, &json).await?;
        Ok(settings)
    }

    /// One page of the queue: per status, its longest waits (an index range each), merged.
    /// `me` is the caller (the actor id the `mine` filter means).
    pub async fn review(&self, query: ReviewQuery, me: &str) -> Result<ReviewPage, CoreError> {
        let settings = self.review_settings().await?;
        let limit = query.limit.unwrap_or(100).clamp(1, PAGE_LIMIT);
        let statuses: Vec<String> = match &query.status {
            Some(status) if !settings.statuses.contains(status) => {
                return Err(CoreError::Invalid(format!(
                    "{status} is not one of the review queue's statuses"
                )))
            }
            Some(status) => vec![status.clone()],
            None => settings.statuses.clone(),
        };
        let decisions = match &query.decision {
            Some(decision) if !settings.counts_decision(decision) => {
                return Err(CoreError::Invalid(format!(
                    "{decision:?} is not one of the review queue's decisions"
                )))
            }
            Some(decision) => vec![decision.clone()],
            None => settings.decisions.clone(),
        };
        let after = query.cursor()?;
        let sort = query.sort.unwrap_or_default();
        let now = crate::time::now_millis();
        let filter = query.narrowing(decisions, now, me);
        // Late: over the review SLA, among those the filters let through.
        let sla_ms = self.review_sla_ms();
        let (mut users, total, over_sla, sub_statuses) = self
            .read(move |reader| {
                let (mut users, mut total, mut over_sla) = (Vec::new(), 0, 0);
                let mut sub_statuses = std::collections::BTreeMap::<String, i64>::new();
                for status in &statuses {
                    users.extend(reader.review_page(
                        status,
                        &filter,
                        sort.order(),
                        after.as_ref(),
                        limit,
                    )?);
                    total += reader.users_in_status(status, &filter)?;
                    over_sla += reader.over_sla_in_status(status, &filter, sla_ms, now)?;
                    for (value, users) in reader.sub_status_counts(status, &filter)? {
                        *sub_statuses.entry(value).or_default() += users;
                    }
                }
                Ok((users, total, over_sla, sub_statuses))
            })
            .await?;
        let mut sub_statuses: Vec<SubStatusCount> = sub_statuses
            .into_iter()
            .map(|(value, users)| SubStatusCount { value, users })
            .collect();
        sub_statuses.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.value.cmp(&b.value)));
        users.sort_by(|a, b| sort.compare(a, b));
        users.truncate(limit as usize);
        let next = (users.len() == limit as usize)
            .then(|| users.last())
            .flatten()
            .map(|last| PageCursor {
                after_since: sort.cursor_time(last),
                after_id: last.external_id.clone(),
            });
        let mut users: Vec<UserView> = users.into_iter().map(UserView::from).collect();
        self.with_cases(&mut users).await?;
        Ok(ReviewPage {
            users,
            next,
            total,
            over_sla,
            review_sla_ms: sla_ms,
            sub_statuses,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ReviewSettings;

    #[test]
    fn settings_saved_with_the_old_late_threshold_still_load() {
        // Saved before the queue's lateness became the review SLA: the statuses and decisions
        // are kept, the threshold ignored (not the whole settings lost to the defaults).
        let saved = r#"{"statuses":["ON_HOLD","PENDING"],"decisions":[],"warnAfterMinutes":60}"#;
        let settings: ReviewSettings = serde_json::from_str(saved).unwrap();
        assert_eq!(settings.statuses, ["ON_HOLD", "PENDING"]);
        assert!(settings.decisions.is_empty());
        let json = serde_json::to_string(&settings).unwrap();
        assert!(!json.contains("warnAfter"), "{json}");
    }
}
