//! Case work on the review queue (compliance and admin): assign a case to oneself or to a named
//! person, append notes, mark it `waiting-on-customer` (the SLA clock pauses) or `escalated`.
//! Every change names the version its author saw; a change made on a stale view is refused
//! (409 `conflict`, saying what the other person did), so two people acting at once never lose
//! an update. Each change goes to every open window on the live feed as a `case` event.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::review::ReviewSettings;
use super::{CoreError, Monitor, UserView};
use crate::access::Caller;
use crate::store::{CaseChange, CaseRecord, CaseWritten, NoteRecord};

/// The longest name a case may be assigned to.
const MAX_NAME: usize = 200;
/// The longest note.
const MAX_NOTE: usize = 10_000;

/// What a case is marked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    /// Waiting on the customer: the SLA clock stands still.
    WaitingOnCustomer,
    Escalated,
}

impl Marker {
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::WaitingOnCustomer => "waiting-on-customer",
            Marker::Escalated => "escalated",
        }
    }

    fn parse(text: &str) -> Option<Marker> {
        [Marker::WaitingOnCustomer, Marker::Escalated]
            .into_iter()
            .find(|marker| marker.as_str() == text)
    }
}

/// One note on a case. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "CaseNote")]
pub struct NoteView {
    pub id: i64,
    pub external_id: String,
    pub written_at: i64,
    pub author: String,
    pub text: String,
}

impl From<NoteRecord> for NoteView {
    fn from(note: NoteRecord) -> NoteView {
        NoteView {
            id: note.id,
            external_id: note.external_id,
            written_at: note.written_at,
            author: note.author,
            text: note.text,
        }
    }
}

/// A user's case: who has it, its marker, its SLA clock, and (for compliance and admin) its
/// notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Case")]
pub struct CaseView {
    pub external_id: String,
    /// What a change names as the version it saw (0: nobody has worked on the case).
    pub version: i64,
    pub assignee: Option<String>,
    pub marker: Option<Marker>,
    /// Who changed it last, when, and what they did ("assigned to ann@example.com").
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
    pub last_action: Option<String>,
    /// Whether the user is in the review queue (the SLA applies).
    pub in_queue: bool,
    /// How long the SLA clock has run (waits on the customer left out), in the queue.
    pub clock_ms: Option<i64>,
    /// When the clock passes the SLA, while it runs, in the queue.
    pub due_at: Option<i64>,
    /// The clock has run longer than the SLA.
    pub over_sla: bool,
    /// The notes, oldest first (on a `case` event: the note just written, if any). Empty for a
    /// role below compliance: notes may hold personal data.
    pub notes: Vec<NoteView>,
    /// The notes were left out for the caller's role.
    pub notes_withheld: bool,
    /// In the answer to an assignment or unassignment: whom it took the case from, for the
    /// audit log (never sent: the last action names them).
    #[serde(skip)]
    #[ts(skip)]
    pub taken_from: Option<String>,
}

/// What the SLA clock is measured against.
#[derive(Debug, Clone)]
pub(super) struct SlaContext {
    pub settings: ReviewSettings,
    pub sla_ms: i64,
    pub now: i64,
}

impl CaseView {
    /// The case of a user in `status` (with `decision`) since `status_since`.
    pub(super) fn of(
        case: CaseRecord,
        user: (&str, &str, i64),
        sla: &SlaContext,
        notes: Vec<NoteView>,
    ) -> CaseView {
        let (status, decision, status_since) = user;
        let in_queue = sla.settings.counts(status, decision);
        let paused = case.paused_at(status_since, sla.now);
        let clock = (sla.now - status_since - paused).max(0);
        let waiting = case.waiting_since.is_some();
        CaseView {
            external_id: case.external_id,
            version: case.version,
            assignee: case.assignee,
            marker: case.marker.as_deref().and_then(Marker::parse),
            updated_by: case.updated_by,
            updated_at: case.updated_at,
            last_action: case.last_action,
            in_queue,
            clock_ms: in_queue.then_some(clock),
            due_at: (in_queue && !waiting).then(|| status_since + paused + sla.sla_ms),
            over_sla: in_queue && clock > sla.sla_ms,
            notes,
            notes_withheld: false,
            taken_from: None,
        }
    }
}

/// The people a case may be assigned to: those the monitor has seen working with a role that
/// works cases. A name not among them may still be assigned (someone yet to sign in); the UI
/// asks first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CaseWorkers {
    /// Their names as the audit log and assignments spell them, sorted.
    pub people: Vec<String>,
}

/// Assigns a case: to the caller when `assignee` is absent.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AssignInput {
    /// The case's version as the caller saw it.
    pub version: i64,
    #[ts(optional)]
    pub assignee: Option<String>,
}

/// A change that names only the version seen.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SeenInput {
    pub version: i64,
}

/// Appends a note. A note never overwrites anything, so the version is optional; when given, a
/// stale one is refused like any change.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NoteInput {
    pub text: String,
    #[ts(optional)]
    pub version: Option<i64>,
}

/// Sets the marker, or clears it (`null`).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct MarkInput {
    pub version: i64,
    pub marker: Option<Marker>,
}

/// A person's name as a case is assigned to it: an email, a subject, or `local`.
fn checked_name(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::Invalid(
            "name the person to assign the case to, or leave it out to take it yourself".into(),
        ));
    }
    let length = name.chars().count();
    if length > MAX_NAME {
        return Err(CoreError::Invalid(format!(
            "a person's name is at most {MAX_NAME} characters; this one has {length}: cut {}",
            length - MAX_NAME
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || " .@_+-'|:".contains(*c)))
    {
        return Err(CoreError::Invalid(format!(
            "{bad:?} cannot be in a person's name: use letters, digits, spaces and . @ _ + - ' | :"
        )));
    }
    Ok(name.to_owned())
}

fn checked_note(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CoreError::Invalid("a note needs some text".into()));
    }
    let length = text.chars().count();
    if length > MAX_NOTE {
        // Refused whole, never cut: a note is kept as written, forever.
        return Err(CoreError::Invalid(format!(
            "a note is at most {MAX_NOTE} characters; this one has {length}: cut {}",
            length - MAX_NOTE
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(CoreError::Invalid(
            "a note cannot hold control characters".into(),
        ));
    }
    Ok(text.to_owned())
}

/// The refusal of a change made on a stale view: what the other person did, and how it stands.
fn stale(seen: Option<i64>, current: &CaseRecord) -> CoreError {
    if current.version == 0 {
        return CoreError::Conflict(format!(
            "nobody has worked on this case yet: it is version 0, not the version {} you sent; \
             look at it again and redo your change",
            seen.unwrap_or_default()
        ));
    }
    let by = current.updated_by.as_deref().unwrap_or("someone");
    let what = current.last_action.as_deref().unwrap_or("changed it");
    let at = current
        .updated_at
        .map(crate::time::rfc3339_millis)
        .unwrap_or_default();
    let assigned = match &current.assignee {
        Some(person) => format!("assigned to {person}"),
        None => "unassigned".to_owned(),
    };
    let marked = match &current.marker {
        Some(marker) => format!("marked {marker}"),
        None => "no marker".to_owned(),
    };
    CoreError::Conflict(format!(
        "{by} changed this case first ({what}, {at}): it is now version {} ({assigned}, {marked}), \
         not the version {} you saw; look at it again and redo your change if it still applies",
        current.version,
        seen.unwrap_or_default(),
    ))
}

impl Monitor {
    /// What the SLA clock is measured against now.
    pub(super) async fn sla_context(&self) -> Result<SlaContext, CoreError> {
        Ok(SlaContext {
            settings: self.review_settings().await?,
            sla_ms: self.review_sla_ms(),
            now: crate::time::now_millis(),
        })
    }

    /// The SLA (`--review-sla`) in milliseconds.
    pub fn review_sla_ms(&self) -> i64 {
        i64::try_from(self.review_sla.as_millis()).unwrap_or(i64::MAX)
    }

    /// A user's case with its notes.
    pub async fn case(&self, external_id: String) -> Result<CaseView, CoreError> {
        let sla = self.sla_context().await?;
        self.read(move |reader| {
            let user = reader.user(&external_id)?.ok_or_else(|| {
                CoreError::NotFound(format!("no user with externalId {external_id:?}"))
            })?;
            let notes = reader.case_notes(&external_id)?;
            Ok(CaseView::of(
                reader.case(&external_id)?,
                (&user.state.status, &user.state.decision, user.status_since),
                &sla,
                notes.into_iter().map(NoteView::from).collect(),
            ))
        })
        .await
    }

    /// Puts each user's case (without notes) on their view.
    pub(super) async fn with_cases(&self, users: &mut [UserView]) -> Result<(), CoreError> {
        if users.is_empty() {
            return Ok(());
        }
        let sla = self.sla_context().await?;
        let ids: Vec<String> = users.iter().map(|u| u.external_id.clone()).collect();
        let mut cases = self.read(move |reader| Ok(reader.cases_of(&ids)?)).await?;
        for user in users {
            let found = cases.iter().position(|c| c.external_id == user.external_id);
            let record = match found {
                Some(at) => cases.swap_remove(at),
                None => CaseRecord {
                    external_id: user.external_id.clone(),
                    ..CaseRecord::default()
                },
            };
            let view = CaseView::of(
                record,
                (&user.state.status, &user.state.decision, user.status_since),
                &sla,
                Vec::new(),
            );
            user.case = Some(view);
        }
        Ok(())
    }

    pub async fn case_workers(&self) -> Result<CaseWorkers, CoreError> {
        self.read(|reader| {
            Ok(CaseWorkers {
                people: reader.case_workers()?,
            })
        })
        .await
    }

    /// Assigns the case to `input.assignee`, or to the caller.
    pub async fn assign_case(
        &self,
        caller: &Caller,
        external_id: String,
        input: AssignInput,
    ) -> Result<CaseView, CoreError> {
        let person = match input.assignee.as_deref() {
            Some(name) => checked_name(name)?,
            None => caller.actor.id.clone(),
        };
        let change = CaseChange::Assign(Some(person));
        self.change_case(caller, external_id, Some(input.version), change)
            .await
    }

    pub async fn unassign_case(
        &self,
        caller: &Caller,
        external_id: String,
        input: SeenInput,
    ) -> Result<CaseView, CoreError> {
        let change = CaseChange::Assign(None);
        self.change_case(caller, external_id, Some(input.version), change)
            .await
    }

    pub async fn note_case(
        &self,
        caller: &Caller,
        external_id: String,
        input: NoteInput,
    ) -> Result<CaseView, CoreError> {
        let change = CaseChange::Note(checked_note(&input.text)?);
        self.change_case(caller, external_id, input.version, change)
            .await
    }

    pub async fn mark_case(
        &self,
        caller: &Caller,
        external_id: String,
        input: MarkInput,
    ) -> Result<CaseView, CoreError> {
        let change = CaseChange::Mark(input.marker.map(|m| m.as_str().to_owned()));
        self.change_case(caller, external_id, Some(input.version), change)
            .await
    }

    /// Writes one change through the writer (the version compared in its transaction), then
    /// tells every open window.
    async fn change_case(
        &self,
        caller: &Caller,
        external_id: String,
        seen: Option<i64>,
        change: CaseChange,
    ) -> Result<CaseView, CoreError> {
        let actor = caller.actor.id.clone();
        let id = external_id.clone();
        // The user must be projected before its case can be found.
        self.writer.projected(super::PROJECTION_WAIT).await;
        let written = self
            .writer
            .write(move |tx| {
                let now = crate::time::now_millis();
                crate::store::cases::write_case(tx, &id, seen, &change, &actor, now)
            })
            .await?;
        let (case, note, status_since, taken_from) = match written {
            CaseWritten::Done {
                case,
                note,
                status_since,
                taken_from,
            } => (case, note, status_since, taken_from),
            CaseWritten::Stale(current) => return Err(stale(seen, &current)),
            CaseWritten::NoUser => {
                return Err(CoreError::NotFound(format!(
                    "no user with externalId {external_id:?}"
                )))
            }
        };
        let sla = self.sla_context().await?;
        let user = self
            .read(move |reader| Ok(reader.user(&external_id)?))
            .await?;
        let (status, decision) = user
            .map(|u| (u.state.status, u.state.decision))
            .unwrap_or_default();
        let view = CaseView::of(
            case,
            (&status, &decision, status_since),
            &sla,
            note.into_iter().map(NoteView::from).collect(),
        );
        // Nobody listening is fine: the change is committed.
        let _ = self.cases.send(view.clone());
        Ok(CaseView { taken_from, ..view })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_notes_are_checked() {
        assert_eq!(
            checked_name(" ann@example.com ").unwrap(),
            "ann@example.com"
        );
        assert!(checked_name("").is_err());
        assert!(checked_name("a<script>").is_err());
        assert!(checked_name(&"a".repeat(MAX_NAME + 1)).is_err());
        assert!(checked_note("  ").is_err());
        assert!(checked_note("bell\u{7}").is_err());
        assert_eq!(checked_note("line\nnext").unwrap(), "line\nnext");
    }

    #[test]
    fn the_clock_leaves_out_the_waits_on_the_customer() {
        let sla = SlaContext {
            settings: ReviewSettings::default(),
            sla_ms: 1_000,
            now: 10_000,
        };
        let case = CaseRecord {
            external_id: "u".into(),
            clock_since: 5_000,
            paused_ms: 2_000,
            waiting_since: Some(9_000),
            ..CaseRecord::default()
        };
        let view = CaseView::of(case.clone(), ("ON_HOLD", "REVIEW", 5_000), &sla, vec![]);
        // 5 s in the status, 2 s of finished waits and 1 s of the running one.
        assert_eq!(view.clock_ms, Some(2_000));
        assert!(view.over_sla);
        assert_eq!(view.due_at, None);
        // A new entry into the status starts the clock afresh.
        let view = CaseView::of(case, ("ON_HOLD", "REVIEW", 9_500), &sla, vec![]);
        assert_eq!(view.clock_ms, Some(0));
        let outside = CaseView::of(CaseRecord::default(), ("CLOSED", "ACCEPT", 0), &sla, vec![]);
        assert!(!outside.in_queue && !outside.over_sla && outside.clock_ms.is_none());
    }
}
