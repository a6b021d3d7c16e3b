//! What the audit log records as the target (and detail) of an operation's call.

use super::{IdPath, PauseInput, UserPath};
use crate::access::AuditAction;
use crate::monitor::{AssignInput, DeliveriesQuery, MarkInput, NoteInput};
use crate::provider::watch::WatchRequest;

/// What an audited call records: its target, and the action when a call's input makes it
/// another than the declaration's (a replay with an edited body is a resend).
pub struct Audited {
    pub action: Option<AuditAction>,
    pub target: String,
    /// What the entry says of a call that went well.
    pub detail: String,
}

impl From<String> for Audited {
    fn from(target: String) -> Audited {
        Audited {
            action: None,
            target,
            detail: String::new(),
        }
    }
}

impl From<(AuditAction, String)> for Audited {
    fn from((action, target): (AuditAction, String)) -> Audited {
        Audited {
            action: Some(action),
            target,
            detail: String::new(),
        }
    }
}

pub(super) fn deliveries_target(query: &DeliveriesQuery) -> String {
    let mut target = String::from("deliveries");
    for (name, value) in [
        ("outcome", query.outcome.clone()),
        ("q", query.q.clone()),
        ("before", query.before.map(|before| before.to_string())),
    ] {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            target.push_str(&format!(" {name}={value}"));
        }
    }
    target
}

/// The ids watched, as the audit log names them: the first few and how many in all.
pub(super) fn watch_target(request: &WatchRequest) -> String {
    const NAMED: usize = 5;
    let ids = &request.external_ids;
    let named = ids[..ids.len().min(NAMED)].join(", ");
    match ids.len() {
        n if n <= NAMED => named,
        n => format!("{named} and {} more", n - NAMED),
    }
}

pub(super) fn pause_target(path: &IdPath, input: &PauseInput) -> String {
    let verb = if input.paused { "paused" } else { "resumed" };
    format!("destination {} {verb}", path.id)
}

/// A case-work call: the user, and what was done (never a note's text: it may hold personal
/// data; its length only).
pub(super) fn assign_target(path: &UserPath, input: &AssignInput) -> Audited {
    let detail = match &input.assignee {
        Some(person) => format!("to {}", person.trim()),
        None => "to themselves".to_owned(),
    };
    case_target(AuditAction::CaseAssign, path, detail, input.version)
}

pub(super) fn note_target(path: &UserPath, input: &NoteInput) -> Audited {
    let detail = format!("a note of {} characters", input.text.trim().chars().count());
    case_target(
        AuditAction::CaseNote,
        path,
        detail,
        input.version.unwrap_or(-1),
    )
}

pub(super) fn marker_target(path: &UserPath, input: &MarkInput) -> Audited {
    let detail = match input.marker {
        Some(marker) => marker.as_str().to_owned(),
        None => "cleared".to_owned(),
    };
    case_target(AuditAction::CaseMarker, path, detail, input.version)
}

pub(super) fn case_target(
    action: AuditAction,
    path: &UserPath,
    detail: String,
    version: i64,
) -> Audited {
    let seen = match version {
        -1 => String::new(),
        version => format!(" (on version {version})"),
    };
    Audited {
        action: Some(action),
        target: path.external_id.clone(),
        detail: format!("{detail}{seen}"),
    }
}
