//! The board's and the review queue's reads: a status column a page at a time, and the users
//! waiting on a person, each narrowed by the same filter (decision, subStatus, time in the
//! status) and counted under it.

use super::queries::{user_from_row, USER_COLUMNS};
use super::{Reader, StoreError, UserRecord};

/// What narrows the review queue, or a board column, within a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFilter {
    /// Only these decisions; empty: any.
    pub decisions: Vec<String>,
    /// Only subStatus values containing this, whatever the case.
    pub sub_status: Option<String>,
    /// Only users who entered their status at or before this time (Unix ms).
    pub entered_by: i64,
    /// Only cases assigned to this person, or to nobody.
    pub assignee: Option<AssigneeFilter>,
}

/// Whose cases a filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Nobody,
    Person(String),
}

/// The SQL condition on `users` for the assignee filter bound as `?N` (NULL: anyone, '': nobody,
/// else that person; a person's name is never empty).
fn assignee_clause(n: u8) -> String {
    format!(
        "(?{n} IS NULL
          OR (?{n} = '' AND NOT EXISTS (SELECT 1 FROM cases AS c
                WHERE c.external_id = users.external_id AND c.assignee IS NOT NULL))
          OR (?{n} <> '' AND EXISTS (SELECT 1 FROM cases AS c
                WHERE c.external_id = users.external_id AND c.assignee = ?{n})))"
    )
}

impl Default for ReviewFilter {
    /// Every user.
    fn default() -> Self {
        ReviewFilter {
            decisions: Vec::new(),
            sub_status: None,
            entered_by: i64::MAX,
            assignee: None,
        }
    }
}

impl ReviewFilter {
    /// Whether the counters per status and decision answer how many users match.
    fn counted_by_decision_alone(&self) -> bool {
        self.sub_status.is_none() && self.entered_by == i64::MAX && self.assignee.is_none()
    }

    fn assignee_param(&self) -> Option<&str> {
        self.assignee.as_ref().map(|assignee| match assignee {
            AssigneeFilter::Nobody => "",
            AssigneeFilter::Person(person) => person.as_str(),
        })
    }

    fn decisions_json(&self) -> String {
        serde_json::to_string(&self.decisions).expect("strings serialise")
    }
}

/// The orders the review queue can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviewOrder {
    /// Who entered their status earliest first (the queue's own order).
    #[default]
    LongestWait,
    /// Who entered their status last first.
    LatestChange,
    /// Who was first seen earliest first.
    FirstSeen,
    /// By externalId.
    Id,
}

/// Where a board page continues: after this user (in newest-first order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardCursor {
    pub status_since: i64,
    pub external_id: String,
}

impl Reader {
    /// One page of a board column: the users in `status` that `filter` lets through, the
    /// latest to enter it first.
    pub fn board_page(
        &self,
        status: &str,
        filter: &ReviewFilter,
        after: Option<&BoardCursor>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let (since, id) =
            after.map_or((i64::MAX, ""), |c| (c.status_since, c.external_id.as_str()));
        self.connection()
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                  WHERE status = ?1 AND (status_since < ?2 OR (status_since = ?2 AND external_id > ?3))
                    AND status_since <= ?4
                    AND (?5 = '[]' OR decision IN (SELECT value FROM json_each(?5)))
                    AND (?6 IS NULL OR instr(lower(sub_status), lower(?6)) > 0)
                    AND {}
                  ORDER BY status_since DESC, external_id LIMIT ?7",
                assignee_clause(8)
            ))?
            .query_map(
                rusqlite::params![
                    status,
                    since,
                    id,
                    filter.entered_by,
                    filter.decisions_json(),
                    filter.sub_status,
                    limit,
                    filter.assignee_param()
                ],
                user_from_row,
            )?
            .collect::<rusqlite::Result<_>>()
            .map_err(StoreError::from)
    }

    /// How many users in `status` `filter` lets through: from the counters when it narrows by
    /// decision alone, else counted along the status's range of `users_by_status`.
    pub fn users_in_status(&self, status: &str, filter: &ReviewFilter) -> Result<i64, StoreError> {
        let decisions = filter.decisions_json();
        let count = if filter.counted_by_decision_alone() {
            self.connection()
                .prepare_cached(
                    "SELECT COALESCE(SUM(users), 0) FROM user_counts
                      WHERE status = ?1 AND (?2 = '[]' OR decision IN (SELECT value FROM json_each(?2)))",
                )?
                .query_row(rusqlite::params![status, decisions], |row| row.get(0))?
        } else {
            self.connection()
                .prepare_cached(&format!(
                    "SELECT COUNT(*) FROM users
                      WHERE status = ?1 AND status_since <= ?2
                        AND (?3 = '[]' OR decision IN (SELECT value FROM json_each(?3)))
                        AND (?4 IS NULL OR instr(lower(sub_status), lower(?4)) > 0)
                        AND {}",
                    assignee_clause(5)
                ))?
                .query_row(
                    rusqlite::params![
                        status,
                        filter.entered_by,
                        decisions,
                        filter.sub_status,
                        filter.assignee_param()
                    ],
                    |row| row.get(0),
                )?
        };
        Ok(count)
    }

    /// How many users in `status` that `filter` lets through have a case whose SLA clock ran
    /// longer than `sla_ms` at `now` (waits on the customer left out): the review queue's
    /// over-SLA count, by the same clock as [`Reader::over_sla`]. Only users who entered the
    /// status at least the SLA ago can be over it: a range of `users_by_status`.
    pub fn over_sla_in_status(
        &self,
        status: &str,
        filter: &ReviewFilter,
        sla_ms: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM users LEFT JOIN cases AS c ON c.external_id = users.external_id
                  WHERE users.status = ?1 AND users.status_since <= min(?2, ?6 - ?7)
                    AND (?3 = '[]' OR users.decision IN (SELECT value FROM json_each(?3)))
                    AND (?4 IS NULL OR instr(lower(users.sub_status), lower(?4)) > 0)
                    AND {}
                    AND {} > ?7",
                assignee_clause(5),
                super::cases::sla_clock("users", 6),
            ))?
            .query_row(
                rusqlite::params![
                    status,
                    filter.entered_by,
                    filter.decisions_json(),
                    filter.sub_status,
                    filter.assignee_param(),
                    now,
                    sla_ms
                ],
                |row| row.get(0),
            )?)
    }

    /// The subStatus values of users in `status` with one of `filter`'s decisions, and how many
    /// users have each, the most common first.
    pub fn sub_status_counts(
        &self,
        status: &str,
        filter: &ReviewFilter,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT sub_status, COUNT(*) AS n FROM users
                  WHERE status = ?1 AND (?2 = '[]' OR decision IN (SELECT value FROM json_each(?2)))
                  GROUP BY sub_status ORDER BY n DESC, sub_status LIMIT 100",
            )?
            .query_map(rusqlite::params![status, filter.decisions_json()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// One status's part of the review queue in `order`, optionally only some decisions and one
    /// subStatus, among those who entered the status at or before `filter.entered_by`, after
    /// `after` (its `status_since` is the order's time: `first_seen_at` for [`ReviewOrder::FirstSeen`],
    /// unused for [`ReviewOrder::Id`]). Every order ends on the externalId, so ties are told apart
    /// and a page continues without gaps. The longest waits read `users_by_status` backwards.
    pub fn review_page(
        &self,
        status: &str,
        filter: &ReviewFilter,
        order: ReviewOrder,
        after: Option<&BoardCursor>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let (after_clause, order_by) = match order {
            ReviewOrder::LongestWait => (
                "status_since >= ?3 AND (status_since > ?3 OR external_id < ?4)",
                "status_since, external_id DESC",
            ),
            ReviewOrder::LatestChange => (
                "status_since <= ?3 AND (status_since < ?3 OR external_id > ?4)",
                "status_since DESC, external_id",
            ),
            ReviewOrder::FirstSeen => (
                "first_seen_at >= ?3 AND (first_seen_at > ?3 OR external_id > ?4)",
                "first_seen_at, external_id",
            ),
            ReviewOrder::Id => ("external_id > ?4", "external_id"),
        };
        let (since, id) = match (after, order) {
            (Some(c), _) => (c.status_since, c.external_id.as_str()),
            (None, ReviewOrder::LongestWait) => (i64::MIN, "\u{10FFFF}"),
            (None, ReviewOrder::LatestChange) => (i64::MAX, ""),
            (None, _) => (i64::MIN, ""),
        };
        let decisions = filter.decisions_json();
        Ok(self
            .connection()
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                  WHERE status = ?1 AND status_since <= ?2 AND {after_clause}
                    AND (?5 = '[]' OR decision IN (SELECT value FROM json_each(?5)))
                    AND (?6 IS NULL OR instr(lower(sub_status), lower(?6)) > 0)
                    AND {assignee}
                  ORDER BY {order_by} LIMIT ?7",
                assignee = assignee_clause(8)
            ))?
            .query_map(
                rusqlite::params![
                    status,
                    filter.entered_by,
                    since,
                    id,
                    decisions,
                    filter.sub_status,
                    limit,
                    filter.assignee_param()
                ],
                user_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?)
    }
}
