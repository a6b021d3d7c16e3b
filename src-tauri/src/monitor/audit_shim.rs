//! TEMPORARY, replaced when the audit log's branch is merged: `Monitor::audit` only logs.

use super::Monitor;
use crate::access::AuditEntry;

impl Monitor {
    /// Appends `entry` to the audit log (fire and forget).
    pub fn audit(&self, entry: AuditEntry) {
        tracing::info!(
            action = entry.action.as_str(),
            actor = %entry.actor,
            outcome = entry.outcome.as_str(),
            "audit"
        );
    }
}
