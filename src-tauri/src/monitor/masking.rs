//! What a role below compliance may see of a user: `participantId` and `account` masked but for
//! their last 4 characters, and no raw headers or bodies (which carry the payload's personal
//! data: names, dates of birth, addresses). Each view that carries a user is passed through
//! [`SeenBy::seen_by`] with the caller's role before it leaves the core, so that what a role may
//! not see is never sent to it.
//!
//! Case work: a case's assignee, marker and SLA clock are shown to whoever sees the user (the
//! board, the queue, the user page); its notes only to compliance and admin, as they may hold
//! personal data (what the customer sent, said or showed).

use crate::access::Role;
use crate::kyc::UserState;

use super::{
    BoardPage, CaseView, ChangeView, LiveEvent, Overview, TunnelView, UserDetail, UserView,
    UsersFound,
};
use crate::tunnel::TunnelState;

/// The lowest role that sees users' identifiers and raw deliveries whole.
pub const SEES_PERSONAL_DATA: Role = Role::Compliance;

/// How many characters of an identifier a masked view keeps.
const KEPT: usize = 4;

/// What stands for the masked part, whatever its length: a mask as long as the value would
/// tell its length, which narrows down whose it is.
const HIDDEN: &str = "****";

/// `value` masked but for its last 4 characters (a value of 4 or fewer is masked whole).
pub fn mask(value: &str) -> String {
    let count = value.chars().count();
    if count == 0 {
        return String::new();
    }
    if count <= KEPT {
        return HIDDEN.to_owned();
    }
    let kept: String = value.chars().skip(count - KEPT).collect();
    format!("{HIDDEN}{kept}")
}

/// A view as the given role may see it.
pub trait SeenBy: Sized {
    fn seen_by(self, role: Role) -> Self;
}

impl SeenBy for UserState {
    fn seen_by(mut self, role: Role) -> Self {
        if !role.allows(SEES_PERSONAL_DATA) {
            self.participant_id = mask(&self.participant_id);
            self.account = mask(&self.account);
        }
        self
    }
}

impl SeenBy for UserView {
    fn seen_by(mut self, role: Role) -> Self {
        self.state = self.state.seen_by(role);
        self.case = self.case.map(|case| case.seen_by(role));
        self
    }
}

impl SeenBy for CaseView {
    fn seen_by(mut self, role: Role) -> Self {
        if !role.allows(SEES_PERSONAL_DATA) {
            self.notes_withheld = true;
            self.notes.clear();
        }
        self
    }
}

impl SeenBy for UserDetail {
    fn seen_by(mut self, role: Role) -> Self {
        self.user = self.user.seen_by(role);
        self.case = self.case.seen_by(role);
        for entry in &mut self.timeline {
            entry.state = std::mem::take(&mut entry.state).seen_by(role);
            if !role.allows(SEES_PERSONAL_DATA) {
                entry.headers.clear();
                entry.body = Default::default();
                entry.date_of_birth = None;
                entry.withheld = true;
            }
        }
        self
    }
}

impl<T: SeenBy> SeenBy for Vec<T> {
    fn seen_by(self, role: Role) -> Self {
        self.into_iter().map(|item| item.seen_by(role)).collect()
    }
}

impl SeenBy for UsersFound {
    fn seen_by(mut self, role: Role) -> Self {
        self.users = self.users.seen_by(role);
        self
    }
}

impl SeenBy for BoardPage {
    fn seen_by(mut self, role: Role) -> Self {
        self.users = self.users.seen_by(role);
        self
    }
}

/// The lowest role that sees the webhook's URL whole: its token lets anyone who has it deliver
/// (unsigned, where no signing secret is required), so it is the registering admin's.
pub const SEES_WEBHOOK_TOKEN: Role = Role::Admin;

/// The path the webhook's token follows.
const WEBHOOK_PATH: &str = "/kyc-webhook/";

/// `url` with the webhook token in its path hidden.
pub fn without_token(url: &str) -> String {
    match url.find(WEBHOOK_PATH) {
        Some(at) if url.len() > at + WEBHOOK_PATH.len() => {
            format!("{}****", &url[..at + WEBHOOK_PATH.len()])
        }
        _ => url.to_owned(),
    }
}

/// Whether `url` is one [`without_token`] hid the token of (what a role below
/// [`SEES_WEBHOOK_TOKEN`] is shown).
pub fn hides_token(url: &str) -> bool {
    url.find(WEBHOOK_PATH)
        .is_some_and(|at| &url[at + WEBHOOK_PATH.len()..] == "****")
}

impl SeenBy for TunnelView {
    fn seen_by(mut self, role: Role) -> Self {
        if !role.allows(SEES_WEBHOOK_TOKEN) {
            if let TunnelState::Up { public_url } = &mut self.status {
                *public_url = without_token(public_url);
            }
        }
        self
    }
}

impl SeenBy for Overview {
    fn seen_by(mut self, role: Role) -> Self {
        if !role.allows(SEES_WEBHOOK_TOKEN) {
            self.webhook_url = without_token(&self.webhook_url);
        }
        for active in &mut self.attention.conditions {
            hide_destination(&mut active.condition, role);
        }
        self.tunnel = self.tunnel.seen_by(role);
        self
    }
}

/// Long work's progress goes to the roles that may start it: reconcile's and backup's to the
/// admins (a backup's messages name paths on the monitor's machine), as their declarations
/// say; polling, which runs by itself and tells how fresh the board is, to everyone.
impl SeenBy for Vec<super::WorkView> {
    fn seen_by(mut self, role: Role) -> Self {
        self.retain(|work| {
            let started_by = match work.kind {
                super::WorkKind::Reconcile => "reconcile",
                super::WorkKind::Backup => "backup",
                super::WorkKind::Poll => return true,
            };
            super::operations::specs()
                .iter()
                .find(|spec| spec.name == started_by)
                .is_some_and(|spec| role.allows(spec.least))
        });
        self
    }
}

/// A forwarding destination is named only where the destinations are shown.
fn hide_destination(condition: &mut crate::alerts::Condition, role: Role) {
    if !role.allows(Role::Compliance) && condition.rule == crate::alerts::Rule::ForwardingFailing {
        condition.summary = "A forwarding destination has been failing".into();
    }
}

impl UsersFound {
    /// What a search may answer `role`: below compliance, only users whose `externalId` holds
    /// the text, so that a masked `participantId` or `account` cannot be read back by searching
    /// for it a character at a time.
    pub fn searched_by(mut self, text: &str, role: Role) -> Self {
        if !role.allows(SEES_PERSONAL_DATA) {
            let wanted = plain(text);
            self.users
                .retain(|user| plain(&user.external_id).contains(&wanted));
        }
        self
    }
}

/// Lower case without the separators people type in ids.
fn plain(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

impl LiveEvent {
    /// Whether the role may receive this event at all: the audit log is the admins'.
    pub fn shown_to(&self, role: Role) -> bool {
        match self {
            LiveEvent::Audit(_) => role.allows(Role::Admin),
            _ => true,
        }
    }
}

impl SeenBy for LiveEvent {
    fn seen_by(self, role: Role) -> Self {
        match self {
            LiveEvent::Change(change) => LiveEvent::Change(Box::new(ChangeView {
                user: change.user.map(|user| user.seen_by(role)),
                ..*change
            })),
            LiveEvent::Tunnel(tunnel) => LiveEvent::Tunnel(tunnel.seen_by(role)),
            LiveEvent::Case(case) => LiveEvent::Case(case.seen_by(role)),
            LiveEvent::Work(works) => LiveEvent::Work(works.seen_by(role)),
            LiveEvent::Alert(mut alert) => {
                hide_destination(&mut alert.condition, role);
                LiveEvent::Alert(alert)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_forwarding_destination_is_named_in_the_feed_only_to_compliance_and_up() {
        use crate::alerts::{AlertEvent, Condition, Rule};
        let alert = |rule| {
            LiveEvent::Alert(AlertEvent {
                condition: Condition {
                    key: "forwarding:1".into(),
                    rule,
                    summary: "Forwarding to https://hooks.example.com/in has failed for 15m".into(),
                    view: "#/settings".into(),
                },
                resolved: false,
                at: 1,
            })
        };
        let summary = |event: LiveEvent| match event {
            LiveEvent::Alert(alert) => alert.condition.summary,
            other => panic!("{other:?}"),
        };
        for role in Role::ALL {
            let seen = summary(alert(Rule::ForwardingFailing).seen_by(role));
            assert_eq!(
                seen.contains("hooks.example.com"),
                role.allows(Role::Compliance),
                "{role}: {seen}"
            );
            assert!(alert(Rule::ForwardingFailing).shown_to(role));
            // Other rules name nothing to hide.
            let silence = summary(alert(Rule::Silence).seen_by(role));
            assert!(silence.contains("hooks.example.com"), "{role}");
        }
    }

    #[test]
    fn masking_keeps_the_last_four_characters_only_and_hides_the_length() {
        assert_eq!(mask("ACC-123456"), "****3456");
        assert_eq!(
            mask("firms/ISV-Participant-Acme/users/user_roles_1"),
            "****es_1"
        );
        assert_eq!(mask("p/ünïcødé"), "****cødé");
        assert_eq!(mask("1234"), "****");
        assert_eq!(mask("12"), "****");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn the_webhook_token_is_hidden_from_all_but_admins() {
        assert_eq!(
            without_token("https://hooks.example.org/kyc-webhook/6a60e431abcd"),
            "https://hooks.example.org/kyc-webhook/****"
        );
        assert_eq!(
            without_token("http://127.0.0.1:8787/kyc-webhook"),
            "http://127.0.0.1:8787/kyc-webhook"
        );
    }

    #[test]
    fn compliance_and_admin_see_identifiers_whole_and_the_others_masked() {
        let state = UserState {
            decision: "ACCEPT".into(),
            status: "CLOSED".into(),
            sub_status: String::new(),
            participant_id: "participant-0042".into(),
            account: "ACC-77881".into(),
        };
        for role in [Role::Compliance, Role::Admin] {
            assert_eq!(state.clone().seen_by(role), state);
        }
        for role in [Role::Viewer, Role::Support] {
            let seen = state.clone().seen_by(role);
            assert_eq!(seen.participant_id, "****0042");
            assert_eq!(seen.account, "****7881");
            assert_eq!(seen.status, "CLOSED");
        }
    }
}
