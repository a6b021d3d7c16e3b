//! Who is asking: the [`Actor`] behind a request or a command, and the [`Role`] that decides what
//! they may do and see. Single-person mode (the desktop app, `serve` on loopback behind the
//! per-run token) has one actor, `local`, with every right.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a person may do, lowest first: each role may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The board and the stats (a wall screen, a demo).
    Viewer,
    /// Search, the user page and timeline, with personal data masked.
    Support,
    /// Users, deliveries with raw headers and bodies, the inspector, replay, exports, case work.
    Compliance,
    /// Everything, including registration, reconcile, settings, forwarding, backup, sessions and
    /// the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Support, Role::Compliance, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what needs `least`.
    pub fn allows(self, least: Role) -> bool {
        self >= least
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                format!("`{text}` is not a role: use admin, compliance, support or viewer")
            })
    }
}

/// The person (or the local user) behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What the audit log names: an email or subject from the identity provider, or `local`.
    pub id: String,
    /// What the UI shows.
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// The one person of single-person mode.
    pub fn local() -> Actor {
        Actor {
            id: "local".to_owned(),
            name: "local".to_owned(),
            role: Role::Admin,
        }
    }
}

/// The longest identity a sign-in may carry, in characters (an email is at most 254).
pub const MAX_IDENTITY: usize = 254;

/// Why an identity from the sign-in (an email or subject from the identity provider, or the
/// proxy's user header) names nobody the log, cases and sessions can hold, if it does not: it is
/// empty, longer than [`MAX_IDENTITY`], or holds a control character or one that reorders or
/// hides text (U+202E would show `gnp.exe` as "exe.png" in the Audit view and a case's assignee).
pub fn identity_refusal(identity: &str) -> Option<String> {
    let length = identity.chars().count();
    if identity.trim().is_empty() {
        return Some("the sign-in names nobody (its identity is empty)".to_owned());
    }
    if length > MAX_IDENTITY {
        return Some(format!(
            "the sign-in's identity is {length} characters long; at most {MAX_IDENTITY} are taken"
        ));
    }
    if identity.trim() != identity {
        // Not trimmed: " ann@example.com" may be another account than "ann@example.com" at a
        // provider that allows it, and trimming would make it her.
        return Some("the sign-in's identity starts or ends with a space".to_owned());
    }
    identity.chars().find(|&c| hides_or_reorders(c)).map(|c| {
        format!(
            "the sign-in's identity holds U+{:04X}, a character that is not shown or that changes how the text around it is shown",
            c as u32
        )
    })
}

/// `text` with each character that hides or reorders text written as `\u{…}`: a display name
/// or a group from the sign-in, shown and logged as the person cannot disguise it.
pub fn spelled_out(text: &str) -> String {
    text.chars()
        .map(|c| match hides_or_reorders(c) {
            true => format!("\\u{{{:x}}}", c as u32),
            false => c.to_string(),
        })
        .collect()
}

/// Control characters; the ones that reorder text (bidirectional controls and marks); and
/// those that show as nothing or as blank space where a name would seem to go on: zero-width
/// ones, the soft hyphen, line and paragraph separators, the byte order mark, variation
/// selectors, the combining grapheme joiner, tag characters, interlinear annotation marks and
/// the Hangul fillers.
pub(crate) fn hides_or_reorders(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{034f}'
                | '\u{061c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// What an audit entry records (the contract's "Audit log"); its name is what the log and its
/// exports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    SignOut,
    SessionsEnded,
    UserViewed,
    BodyViewed,
    Search,
    Export,
    Replay,
    Resend,
    /// A delivery sent again to the forwarding destinations it failed at (an admin's retry).
    ForwardRetried,
    Register,
    Reconcile,
    SettingsChanged,
    Backup,
    /// Case work on the review queue: each action its own.
    CaseAssign,
    CaseUnassign,
    CaseNote,
    CaseMarker,
    RefusedByRole,
    Watch,
}

impl AuditAction {
    pub const ALL: [AuditAction; 21] = [
        AuditAction::SignIn,
        AuditAction::SignInFailed,
        AuditAction::SignOut,
        AuditAction::SessionsEnded,
        AuditAction::UserViewed,
        AuditAction::BodyViewed,
        AuditAction::Search,
        AuditAction::Export,
        AuditAction::Replay,
        AuditAction::Resend,
        AuditAction::ForwardRetried,
        AuditAction::Register,
        AuditAction::Reconcile,
        AuditAction::SettingsChanged,
        AuditAction::Backup,
        AuditAction::CaseAssign,
        AuditAction::CaseUnassign,
        AuditAction::CaseNote,
        AuditAction::CaseMarker,
        AuditAction::RefusedByRole,
        AuditAction::Watch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign-in",
            AuditAction::SignInFailed => "sign-in-failed",
            AuditAction::SignOut => "sign-out",
            AuditAction::SessionsEnded => "sessions-ended",
            AuditAction::UserViewed => "user-viewed",
            AuditAction::BodyViewed => "body-viewed",
            AuditAction::Search => "search",
            AuditAction::Export => "export",
            AuditAction::Replay => "replay",
            AuditAction::Resend => "resend",
            AuditAction::ForwardRetried => "forward-retried",
            AuditAction::Register => "register",
            AuditAction::Reconcile => "reconcile",
            AuditAction::SettingsChanged => "settings-changed",
            AuditAction::Backup => "backup",
            AuditAction::CaseAssign => "case-assign",
            AuditAction::CaseUnassign => "case-unassign",
            AuditAction::CaseNote => "case-note",
            AuditAction::CaseMarker => "case-marker",
            AuditAction::RefusedByRole => "refused-by-role",
            AuditAction::Watch => "watch",
        }
    }
}

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Ok,
    Refused,
    Failed,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Failed => "failed",
        }
    }
}

/// One entry to append to the audit log; its time, sequence number and hash are given when it
/// is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The actor's id (`local` in single-person mode); for a failed sign-in, who it claimed to be
    /// or `unknown`.
    pub actor: String,
    /// None where nobody was signed in (a failed sign-in).
    pub role: Option<Role>,
    pub action: AuditAction,
    /// What was looked at or changed: an `externalId`, a delivery id, a search text, a person.
    pub target: String,
    /// The remote address of the request, or `local` for the desktop window and the CLI.
    pub remote_addr: String,
    pub outcome: AuditOutcome,
    /// Anything more the action has to say (an export's row count, why a sign-in failed); never
    /// a secret.
    pub detail: String,
}

/// Who asks and from where: what the core needs of a request to audit what it does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    /// The request's remote address, or `local` for the desktop window and the CLI.
    pub remote_addr: String,
}

impl Caller {
    /// The desktop window or the CLI: the local person, no network address.
    pub fn local() -> Caller {
        Caller::local_from("local")
    }

    /// The local person, asking over the loopback UI from `remote_addr`.
    pub fn local_from(remote_addr: impl Into<String>) -> Caller {
        Caller {
            actor: Actor::local(),
            remote_addr: remote_addr.into(),
        }
    }

    /// An entry saying this caller did `action` to `target`.
    pub fn entry(
        &self,
        action: AuditAction,
        target: impl Into<String>,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.actor.id.clone(),
            role: Some(self.actor.role),
            action,
            target: target.into(),
            remote_addr: self.remote_addr.clone(),
            outcome,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_higher_role_may_do_what_a_lower_one_may() {
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Compliance.allows(Role::Support));
        assert!(!Role::Support.allows(Role::Compliance));
        assert!(!Role::Viewer.allows(Role::Support));
        for role in Role::ALL {
            assert!(role.allows(role));
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .contains("`root` is not a role"));
    }

    #[test]
    fn an_identity_that_hides_or_reorders_text_names_nobody() {
        for fine in [
            "ann@example.com",
            "auth0|5f1c",
            "Zoë Ørsted",
            "o'neil+kyc@example.com",
        ] {
            assert_eq!(identity_refusal(fine), None, "{fine}");
        }
        for (bad, said) in [
            ("", "empty"),
            ("  ", "empty"),
            ("evil\u{202e}moc.elpmaxe@ann", "U+202E"),
            ("ann\u{1b}[31m@example.com", "U+001B"),
            ("ann\u{0}@example.com", "U+0000"),
            ("ann\u{200b}@example.com", "U+200B"),
            ("ann@example.com ", "a space"),
            (" ann@example.com", "a space"),
            ("ann\u{2028}@example.com", "U+2028"),
            ("ann\u{fff9}@example.com", "U+FFF9"),
            ("\u{e0041}ann@example.com", "U+E0041"),
            ("ann\u{3164}@example.com", "U+3164"),
            ("ann\u{34f}@example.com", "U+034F"),
            ("ann\u{fe0f}@example.com", "U+FE0F"),
        ] {
            let refusal = identity_refusal(bad).unwrap_or_else(|| panic!("{bad:?} taken"));
            assert!(refusal.contains(said), "{bad:?}: {refusal}");
        }
        assert!(identity_refusal(&"a".repeat(MAX_IDENTITY)).is_none());
        assert!(identity_refusal(&"a".repeat(MAX_IDENTITY + 1))
            .unwrap()
            .contains("255 characters"));
        assert_eq!(spelled_out("Ann \u{202e}nimdA"), "Ann \\u{202e}nimdA");
        assert_eq!(spelled_out("g\u{1b}[2J"), "g\\u{1b}[2J");
        assert_eq!(spelled_out("Zoë"), "Zoë");
    }

    #[test]
    fn every_audit_action_is_listed_once() {
        let names: std::collections::BTreeSet<_> =
            AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}
