//! What the audit log records as the target (and detail) of an operation's call.

use super::{IdPath, PauseInput, UserPath};
use crate::access::{AuditAction, AuditOutcome};
use crate::monitor::{
    AssignInput, CaseView, DeliveriesPage, DeliveriesQuery, MarkInput, NoteInput, ReplayAnswer,
};
use crate::provider::watch::WatchRequest;
use crate::store::Outcome;

/// What an audited call records: its target, and the action when a call's input makes it
/// another than the declaration's (a replay with an edited body is a resend).
pub struct Audited {
    pub action: Option<AuditAction>,
    pub target: String,
    /// What the entry says of a call that went well.
    pub detail: String,
}

impl Audited {
    /// A look at one user's data beyond their page (`what`: the case and its notes).
    pub(super) fn viewed(path: &UserPath, what: &str) -> Audited {
        Audited {
            action: None,
            target: path.external_id.clone(),
            detail: what.to_owned(),
        }
    }
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

/// The inspector's page as the audit log names it: whose raw bodies were shown, so a search of
/// the log by user or delivery finds the look. At most this many users are named.
pub(super) fn deliveries_answered(
    page: &DeliveriesPage,
    audited: Audited,
) -> (AuditOutcome, Audited) {
    const NAMED: usize = 20;
    let mut users: Vec<&str> = Vec::new();
    for delivery in &page.deliveries {
        if let Some(user) = delivery.external_id.as_deref() {
            if !users.contains(&user) {
                users.push(user);
            }
        }
    }
    let ids = match (page.deliveries.last(), page.deliveries.first()) {
        (Some(oldest), Some(newest)) if oldest.id == newest.id => format!("delivery {}", newest.id),
        (Some(oldest), Some(newest)) => format!(
            "{} deliveries, {} to {}",
            page.deliveries.len(),
            oldest.id.min(newest.id),
            oldest.id.max(newest.id)
        ),
        _ => "no deliveries".to_owned(),
    };
    let named = match users.len() {
        0 => String::new(),
        n if n <= NAMED => format!("; users {}", listed(&users)),
        n => format!("; users {} and {} more", listed(&users[..NAMED]), n - NAMED),
    };
    let detail = format!("{ids}{named}");
    (AuditOutcome::Ok, Audited { detail, ..audited })
}

/// `ids` as an audit detail lists them, ", " between: an id of ASCII letters, digits and
/// `_-.@:+/` as it is, any other quoted (a look-alike letter or a space of another kind shows
/// it is not what it seems) (`"eve, carol"`, with `"` and `\` escaped and characters that
/// hide text spelled out), so that no id reads as two users or as the end of the list.
fn listed(ids: &[&str]) -> String {
    let one = |id: &&str| {
        let plain = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.@:+/".contains(c));
        match plain {
            true => (*id).to_owned(),
            false => {
                let escaped = id.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{}\"", crate::access::spelled_out(&escaped))
            }
        }
    };
    ids.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// A replay or resend as the audit log names it: the user the delivery sent named (an edited
/// body may name another than the original's), which delivery it came from and what it became;
/// one the monitor refused (an edited body that is not a notification) failed.
pub(super) fn replay_answered(answer: &ReplayAnswer, audited: Audited) -> (AuditOutcome, Audited) {
    let sent = format!(
        "delivery {} sent again as delivery {}",
        answer.replay_of, answer.delivery_id
    );
    let target = answer
        .external_id
        .clone()
        .unwrap_or_else(|| format!("delivery {}", answer.replay_of));
    let (outcome, detail) = match answer.outcome {
        Outcome::Rejected => (
            AuditOutcome::Failed,
            format!(
                "{sent}, refused (HTTP {}): {}",
                answer.http_status,
                answer.error.as_deref().unwrap_or("no reason given")
            ),
        ),
        Outcome::Duplicate => (AuditOutcome::Ok, format!("{sent}, a duplicate")),
        Outcome::Accepted | Outcome::Ping => (AuditOutcome::Ok, sent),
    };
    let audited = Audited {
        target,
        detail,
        ..audited
    };
    (outcome, audited)
}

/// The ids watched, as the audit log names them: the first few and how many in all.
pub(super) fn watch_target(request: &WatchRequest) -> String {
    const NAMED: usize = 5;
    let ids: Vec<&str> = request.external_ids.iter().map(String::as_str).collect();
    let named = listed(&ids[..ids.len().min(NAMED)]);
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

/// An assignment or unassignment, with whose the case was when someone else had it.
pub(super) fn whose_it_was(case: &CaseView, audited: Audited) -> (AuditOutcome, Audited) {
    let detail = match &case.taken_from {
        Some(was) => format!("{}, was {was}'s", audited.detail),
        None => audited.detail,
    };
    (AuditOutcome::Ok, Audited { detail, ..audited })
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

#[cfg(test)]
mod tests {
    use super::listed;

    #[test]
    fn an_id_that_could_read_as_more_than_one_is_quoted() {
        assert_eq!(
            listed(&["user_1", "ann@example.com", "firm/7:a+b.c-d"]),
            "user_1, ann@example.com, firm/7:a+b.c-d"
        );
        assert_eq!(
            listed(&["x, alice", "bob; users carol", "", "q\"uote\\"]),
            r#""x, alice", "bob; users carol", "", "q\"uote\\""#
        );
        assert_eq!(listed(&["eve\u{202e}lac"]), r#""eve\u{202e}lac""#);
        // A Cyrillic а, a no-break space.
        assert_eq!(
            listed(&["\u{430}nn", "a\u{a0}b"]),
            "\"\u{430}nn\", \"a\u{a0}b\""
        );
    }
}
