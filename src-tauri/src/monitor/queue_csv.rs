//! The review queue as CSV, by the one rule every export follows (`export::csv_rows`: RFC 4180,
//! formula-like cells neutralised): the browser's download streams it a page at a time
//! (`api/review.rs`), the desktop window has the app write it into Downloads
//! (`desktop/save.rs`); both are audited as an export with their row count.

use super::{CoreError, Monitor, PageCursor, ReviewQuery, UserView};
use crate::export::csv_rows;
use crate::time::rfc3339_millis;

/// Rows a page of the CSV reads at once.
pub const QUEUE_CSV_PAGE: u32 = 500;

const COLUMNS: [&str; 11] = [
    "externalId",
    "status",
    "decision",
    "subStatus",
    "statusSince",
    "firstSeenAt",
    "participantId",
    "account",
    "assignee",
    "marker",
    "overSla",
];

/// The header row.
pub fn queue_csv_head() -> Vec<u8> {
    csv_rows([COLUMNS.to_vec()])
}

/// One page of users as CSV rows.
pub fn queue_csv_rows(users: &[UserView]) -> Vec<u8> {
    let times: Vec<(String, String)> = users
        .iter()
        .map(|user| {
            (
                rfc3339_millis(user.status_since),
                rfc3339_millis(user.first_seen_at),
            )
        })
        .collect();
    csv_rows(users.iter().zip(&times).map(|(user, (since, first))| {
        let case = user.case.as_ref();
        vec![
            user.external_id.as_str(),
            user.state.status.as_str(),
            user.state.decision.as_str(),
            user.state.sub_status.as_str(),
            since.as_str(),
            first.as_str(),
            user.state.participant_id.as_str(),
            user.state.account.as_str(),
            case.and_then(|c| c.assignee.as_deref()).unwrap_or(""),
            case.and_then(|c| c.marker).map_or("", |m| m.as_str()),
            match case.is_some_and(|c| c.over_sla) {
                true => "true",
                false => "false",
            },
        ]
    }))
}

/// The file name a download of the queue gets, by the time it was made.
pub fn queue_csv_name() -> String {
    format!(
        "review-queue-{}.csv",
        rfc3339_millis(crate::time::now_millis())[..16].replace(':', "")
    )
}

impl Monitor {
    /// Every user the queue's filters let through, the longest wait first, as one CSV, with
    /// how many rows it holds.
    pub async fn review_csv(
        &self,
        mut query: ReviewQuery,
        me: &str,
    ) -> Result<(Vec<u8>, usize), CoreError> {
        query.limit = Some(QUEUE_CSV_PAGE);
        query.after_since = None;
        query.after_id = None;
        let mut csv = queue_csv_head();
        let mut rows = 0;
        loop {
            let page = self.review(query.clone(), me).await?;
            rows += page.users.len();
            csv.extend(queue_csv_rows(&page.users));
            let Some(PageCursor {
                after_since,
                after_id,
            }) = page.next
            else {
                return Ok((csv, rows));
            };
            query.after_since = Some(after_since);
            query.after_id = Some(after_id);
        }
    }
}
