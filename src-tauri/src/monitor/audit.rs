//! The audit log as the core hands it over: [`Monitor::audit`] appends an entry without ever
//! failing or delaying its caller, [`Monitor::audit_log`] pages through the log, newest first,
//! for the admin's Audit view.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{CoreError, Monitor, PAGE_LIMIT};
use crate::access::AuditEntry;
use crate::store::{AuditFilter, AuditRecord};

/// How long a view of the log waits for entries queued before it to be written (usually
/// milliseconds); past that it shows what the log has.
const AUDIT_WAIT: Duration = Duration::from_millis(500);

/// Which entries a page of the audit log shows; empty texts filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// The person (`local` in single-person mode).
    pub actor: Option<String>,
    /// An action's name, such as `user-viewed`.
    pub action: Option<String>,
    /// What was looked at or changed: an externalId, a search text, a delivery id.
    pub target: Option<String>,
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Entries before this time (Unix ms).
    pub until: Option<i64>,
    /// Entries older than this seq (the `next` of the page before).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "AuditEntry")]
pub struct AuditEntryView {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    /// None where nobody was signed in (a failed sign-in).
    pub role: Option<String>,
    pub action: String,
    pub target: String,
    pub remote_addr: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    pub detail: String,
    /// The entry's link in the chain, hex.
    pub hash: String,
}

impl From<AuditRecord> for AuditEntryView {
    fn from(record: AuditRecord) -> Self {
        AuditEntryView {
            seq: record.seq,
            at: record.at,
            actor: record.actor,
            role: Some(record.role).filter(|role| !role.is_empty()),
            action: record.action,
            target: record.target,
            remote_addr: record.remote_addr,
            outcome: record.outcome,
            detail: record.detail,
            hash: hex::encode(record.hash),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
    /// The `before` of the next (older) page, when there may be one.
    pub next: Option<i64>,
    /// Entries this run could not write (the log says why); 0 when all is well.
    pub lost: u64,
}

impl Monitor {
    /// Appends `entry` to the audit log soon; returns at once and never fails. An entry that
    /// cannot be written is logged loudly and counted (the Audit view shows how many).
    pub fn audit(&self, entry: AuditEntry) {
        self.writer.audit(entry);
    }

    /// A page of the audit log, newest first, that `query`'s filters let through.
    pub async fn audit_log(&self, query: AuditQuery) -> Result<AuditPage, CoreError> {
        let limit = query.limit.unwrap_or(100).clamp(1, PAGE_LIMIT);
        let given = |text: Option<String>| text.filter(|t| !t.is_empty());
        let filter = AuditFilter {
            actor: given(query.actor),
            action: given(query.action),
            target: given(query.target),
            since: query.since,
            until: query.until,
            before: query.before,
        };
        self.writer.audit_written(AUDIT_WAIT).await;
        let records = self
            .readers
            .read(move |reader| Ok::<_, CoreError>(reader.audit_page(&filter, limit)?))
            .await?;
        let next = (records.len() == limit as usize)
            .then(|| records.last().map(|last| last.seq))
            .flatten();
        Ok(AuditPage {
            entries: records.into_iter().map(AuditEntryView::from).collect(),
            next,
            lost: self.writer.audit_lost(),
        })
    }
}
