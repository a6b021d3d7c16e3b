//! TO BE REPLACED AT MERGE: a stand-in for `Monitor::audit` from the `audit` branch (which
//! appends the entry to the hash-chained audit log through the writer). Same signature, fire
//! and forget; here it only logs what happened, never a secret.

use super::Monitor;
use crate::access::AuditEntry;

impl Monitor {
    /// Records `entry` in the audit log (fire and forget).
    pub fn audit(&self, entry: AuditEntry) {
        tracing::info!(
            action = entry.action.as_str(),
            actor = %entry.actor,
            outcome = entry.outcome.as_str(),
            "audit"
        );
    }
}
