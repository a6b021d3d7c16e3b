//! The review queue as CSV (an HTTP-only operation): every user the queue's filters let through,
//! read and sent a page at a time.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use crate::export::csv_rows;
use crate::monitor::{CoreError, Monitor, ReviewQuery, UserView};
use crate::time::rfc3339_millis;

const CSV_COLUMNS: [&str; 8] = [
    "externalId",
    "status",
    "decision",
    "subStatus",
    "statusSince",
    "firstSeenAt",
    "participantId",
    "account",
];

/// Every user the queue's filters let through, the longest wait first, as CSV. The first page
/// is read before answering, so that a refused query is an error, not a broken download.
pub(super) async fn review_csv(
    State(monitor): State<Arc<Monitor>>,
    Query(mut query): Query<ReviewQuery>,
) -> Result<Response, CoreError> {
    query.limit = Some(500);
    query.after_since = None;
    query.after_id = None;
    let first = monitor.review(query.clone()).await?;
    let mut head = csv_rows([CSV_COLUMNS.to_vec()]);
    head.extend(page_csv(&first.users));
    let pages = stream::unfold(
        (Some(head), first.next, monitor, query),
        |(ready, next, monitor, mut query)| async move {
            if let Some(bytes) = ready {
                return Some((Ok(bytes), (None, next, monitor, query)));
            }
            let cursor = next?;
            query.after_since = Some(cursor.after_since);
            query.after_id = Some(cursor.after_id);
            match monitor.review(query.clone()).await {
                Ok(page) => {
                    let bytes = page_csv(&page.users);
                    Some((Ok(bytes), (None, page.next, monitor, query)))
                }
                Err(error) => Some((
                    Err(std::io::Error::other(error.to_string())),
                    (None, None, monitor, query),
                )),
            }
        },
    );
    let name = format!(
        "attachment; filename=\"review-queue-{}.csv\"",
        rfc3339_millis(crate::time::now_millis())[..16].replace(':', "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

fn page_csv(users: &[UserView]) -> Vec<u8> {
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
        vec![
            user.external_id.as_str(),
            user.state.status.as_str(),
            user.state.decision.as_str(),
            user.state.sub_status.as_str(),
            since.as_str(),
            first.as_str(),
            user.state.participant_id.as_str(),
            user.state.account.as_str(),
        ]
    }))
}
