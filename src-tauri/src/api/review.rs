//! The review queue as CSV (an HTTP-only operation): every user the queue's filters let through,
//! read and sent a page at a time, and audited as an export with its row count once sent.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream;

use crate::access::{AuditAction, AuditOutcome};
use crate::monitor::operations::Caller;
use crate::monitor::queue_csv::{queue_csv_head, queue_csv_name, queue_csv_rows, QUEUE_CSV_PAGE};
use crate::monitor::{CoreError, Monitor, ReviewQuery};

/// Where the paging stands: the page to send, the cursor after it, the rows sent so far.
struct Paging {
    ready: Option<Vec<u8>>,
    next: Option<crate::monitor::PageCursor>,
    rows: usize,
    monitor: Arc<Monitor>,
    query: ReviewQuery,
    caller: Caller,
    /// Audited: sent whole, or failed. A download the browser stops is audited when dropped.
    audited: bool,
}

impl Drop for Paging {
    fn drop(&mut self) {
        if !self.audited {
            let detail = format!("the download stopped after {} rows", self.rows);
            audit(self, AuditOutcome::Failed, detail);
        }
    }
}

/// Every user the queue's filters let through, the longest wait first, as CSV. The first page
/// is read before answering, so that a refused query is an error, not a broken download.
pub(super) async fn review_csv(
    State(monitor): State<Arc<Monitor>>,
    Extension(caller): Extension<Caller>,
    Query(mut query): Query<ReviewQuery>,
) -> Result<Response, CoreError> {
    query.limit = Some(QUEUE_CSV_PAGE);
    query.after_since = None;
    query.after_id = None;
    let first = monitor.review(query.clone(), &caller.actor.id).await?;
    let mut head = queue_csv_head();
    head.extend(queue_csv_rows(&first.users));
    let paging = Paging {
        ready: Some(head),
        next: first.next,
        rows: first.users.len(),
        monitor,
        query,
        caller,
        audited: false,
    };
    let pages = stream::unfold(Some(paging), |paging| async move {
        let mut paging = paging?;
        if let Some(bytes) = paging.ready.take() {
            return Some((Ok(bytes), Some(paging)));
        }
        let Some(cursor) = paging.next.take() else {
            let detail = format!("{} rows", paging.rows);
            audit(&mut paging, AuditOutcome::Ok, detail);
            return None;
        };
        paging.query.after_since = Some(cursor.after_since);
        paging.query.after_id = Some(cursor.after_id);
        match paging
            .monitor
            .review(paging.query.clone(), &paging.caller.actor.id)
            .await
        {
            Ok(page) => {
                paging.rows += page.users.len();
                paging.next = page.next;
                Some((Ok(queue_csv_rows(&page.users)), Some(paging)))
            }
            Err(error) => {
                let detail = format!("stopped after {} rows: {error}", paging.rows);
                audit(&mut paging, AuditOutcome::Failed, detail);
                Some((Err(std::io::Error::other(error.to_string())), None))
            }
        }
    });
    let name = format!("attachment; filename=\"{}\"", queue_csv_name());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

fn audit(paging: &mut Paging, outcome: AuditOutcome, detail: String) {
    paging.audited = true;
    paging.monitor.audit(
        paging
            .caller
            .entry(AuditAction::Export, "review queue", outcome, detail),
    );
}
