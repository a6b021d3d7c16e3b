//! Case work on the review queue: who a user's case is assigned to, its marker, the SLA clock's
//! paused time, and its notes (append-only). A case row exists once someone worked on it; until
//! then a user's case is unassigned, unmarked, at version 0.
//!
//! The SLA clock of a user in the queue runs from when the user entered the status
//! (`status_since`), less the time spent waiting on the customer since then: the finished waits
//! are summed in `paused_ms` (for the entry into the status named by `clock_since`), the running
//! one starts at `waiting_since`.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{Reader, StoreError};

/// What a case is marked with.
pub const MARKERS: [&str; 2] = ["waiting-on-customer", "escalated"];
/// The marker that pauses the SLA clock.
pub const WAITING: &str = "waiting-on-customer";

/// One user's case as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseRecord {
    pub external_id: String,
    /// 0 for a case nobody has worked on yet; each change adds one.
    pub version: i64,
    pub assignee: Option<String>,
    pub marker: Option<String>,
    /// The user's `status_since` that `paused_ms` counts for.
    pub clock_since: i64,
    pub paused_ms: i64,
    /// Set while the case waits on the customer.
    pub waiting_since: Option<i64>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
    /// What the last change did, in a few words ("assigned to ann@example.com").
    pub last_action: Option<String>,
}

impl CaseRecord {
    fn unworked(external_id: &str) -> CaseRecord {
        CaseRecord {
            external_id: external_id.to_owned(),
            ..CaseRecord::default()
        }
    }

    /// The time the SLA clock has stood still since the user entered the status at
    /// `status_since`, as of `now`.
    pub fn paused_at(&self, status_since: i64, now: i64) -> i64 {
        let finished = if self.clock_since == status_since {
            self.paused_ms
        } else {
            0
        };
        let running = self
            .waiting_since
            .map_or(0, |since| (now - since.max(status_since)).max(0));
        finished + running
    }
}

/// One note, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRecord {
    pub id: i64,
    pub external_id: String,
    pub written_at: i64,
    pub author: String,
    pub text: String,
}

/// What a case-work action changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseChange {
    /// Assigns to this person, or unassigns.
    Assign(Option<String>),
    /// Sets one of [`MARKERS`], or clears it.
    Mark(Option<String>),
    /// Appends a note.
    Note(String),
}

/// How a case-work write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseWritten {
    Done {
        case: CaseRecord,
        note: Option<NoteRecord>,
        /// The user's `status_since`, for the SLA clock.
        status_since: i64,
        /// Whom an assignment took the case from, or an unassignment left it by.
        taken_from: Option<String>,
    },
    /// The writer saw an older version: nothing was changed; this is the case as it is.
    Stale(CaseRecord),
    /// No such user.
    NoUser,
}

const CASE_COLUMNS: &str = "external_id, version, assignee, marker, clock_since, paused_ms,
                            waiting_since, updated_at, updated_by, last_action";

fn case_from_row(row: &Row) -> rusqlite::Result<CaseRecord> {
    Ok(CaseRecord {
        external_id: row.get(0)?,
        version: row.get(1)?,
        assignee: row.get(2)?,
        marker: row.get(3)?,
        clock_since: row.get(4)?,
        paused_ms: row.get(5)?,
        waiting_since: row.get(6)?,
        updated_at: row.get(7)?,
        updated_by: row.get(8)?,
        last_action: row.get(9)?,
    })
}

pub(super) fn note_from_row(row: &Row) -> rusqlite::Result<NoteRecord> {
    Ok(NoteRecord {
        id: row.get(0)?,
        external_id: row.get(1)?,
        written_at: row.get(2)?,
        author: row.get(3)?,
        text: row.get(4)?,
    })
}

fn read_case(conn: &rusqlite::Connection, external_id: &str) -> rusqlite::Result<CaseRecord> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE external_id = ?1"
        ))?
        .query_row([external_id], case_from_row)
        .optional()?
        .unwrap_or_else(|| CaseRecord::unworked(external_id)))
}

/// Applies `change` to the case of `external_id` made by `actor` at `now`, when the case is
/// still at `seen` (any version when `None`): in the writer's transaction, so two people acting
/// at once are ordered and the second one's stale write is refused, never lost.
pub fn write_case(
    tx: &Transaction,
    external_id: &str,
    seen: Option<i64>,
    change: &CaseChange,
    actor: &str,
    now: i64,
) -> rusqlite::Result<CaseWritten> {
    let status_since: Option<i64> = tx
        .prepare_cached("SELECT status_since FROM users WHERE external_id = ?1")?
        .query_row([external_id], |row| row.get(0))
        .optional()?;
    let Some(status_since) = status_since else {
        return Ok(CaseWritten::NoUser);
    };
    let mut case = read_case(tx, external_id)?;
    if seen.is_some_and(|seen| seen != case.version) {
        return Ok(CaseWritten::Stale(case));
    }
    // The clock's paused time counts for the user's current entry into the status.
    if case.clock_since != status_since {
        case.clock_since = status_since;
        case.paused_ms = 0;
    }
    let mut note = None;
    let mut taken_from = None;
    let action = match change {
        // A case taken from someone, or left by them, names them (and the audit log does).
        CaseChange::Assign(Some(person)) => match case.assignee.replace(person.clone()) {
            Some(was) if was != *person => {
                let action = format!("assigned to {person}, taken from {was}");
                taken_from = Some(was);
                action
            }
            _ => format!("assigned to {person}"),
        },
        CaseChange::Assign(None) => match case.assignee.take() {
            Some(was) => {
                let action = format!("unassigned from {was}");
                taken_from = Some(was);
                action
            }
            None => "unassigned".to_owned(),
        },
        CaseChange::Mark(marker) => {
            let was_waiting = case.marker.as_deref() == Some(WAITING);
            let waits = marker.as_deref() == Some(WAITING);
            if was_waiting && !waits {
                if let Some(since) = case.waiting_since.take() {
                    case.paused_ms += (now - since.max(status_since)).max(0);
                }
            }
            if waits && !was_waiting {
                case.waiting_since = Some(now);
            }
            case.marker = marker.clone();
            match marker {
                Some(marker) => format!("marked {marker}"),
                None => "marker cleared".to_owned(),
            }
        }
        CaseChange::Note(text) => {
            tx.prepare_cached(
                "INSERT INTO case_notes (external_id, written_at, author, text) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![external_id, now, actor, text])?;
            note = Some(NoteRecord {
                id: tx.last_insert_rowid(),
                external_id: external_id.to_owned(),
                written_at: now,
                author: actor.to_owned(),
                text: text.clone(),
            });
            "noted".to_owned()
        }
    };
    case.version += 1;
    case.updated_at = Some(now);
    case.updated_by = Some(actor.to_owned());
    case.last_action = Some(action);
    tx.prepare_cached(&format!(
        "INSERT INTO cases ({CASE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (external_id) DO UPDATE SET version = excluded.version,
           assignee = excluded.assignee, marker = excluded.marker,
           clock_since = excluded.clock_since, paused_ms = excluded.paused_ms,
           waiting_since = excluded.waiting_since, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by, last_action = excluded.last_action"
    ))?
    .execute(params![
        case.external_id,
        case.version,
        case.assignee,
        case.marker,
        case.clock_since,
        case.paused_ms,
        case.waiting_since,
        case.updated_at,
        case.updated_by,
        case.last_action,
    ])?;
    Ok(CaseWritten::Done {
        case,
        note,
        status_since,
        taken_from,
    })
}

/// What the SLA query looks at: the queue's statuses and decisions, the SLA, the time.
#[derive(Debug, Clone)]
pub struct SlaScope {
    pub statuses: Vec<String>,
    /// Empty: any decision.
    pub decisions: Vec<String>,
    pub sla_ms: i64,
    pub now: i64,
}

/// The SQL for a case's SLA clock at `?{now}`: the time since `{user}` (the `users` row) entered
/// its status, less the pauses while waiting on the customer (`c`, the `cases` row, may be
/// absent). What [`Reader::over_sla`] and the review queue's over-SLA count measure.
pub(super) fn sla_clock(user: &str, now: u8) -> String {
    format!(
        "(?{now} - {user}.status_since
          - CASE WHEN c.clock_since = {user}.status_since THEN c.paused_ms ELSE 0 END
          - CASE WHEN c.waiting_since IS NULL THEN 0
                 ELSE max(?{now} - max(c.waiting_since, {user}.status_since), 0) END)"
    )
}

/// A case in the queue over its SLA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverSlaRecord {
    pub external_id: String,
    /// How long the clock has run (waits on the customer left out).
    pub clock_ms: i64,
    pub assignee: Option<String>,
}

impl Reader {
    /// A user's case (version 0 and empty when nobody has worked on it).
    pub fn case(&self, external_id: &str) -> Result<CaseRecord, StoreError> {
        Ok(read_case(self.connection(), external_id)?)
    }

    /// The cases of these users that someone has worked on.
    pub fn cases_of(&self, external_ids: &[String]) -> Result<Vec<CaseRecord>, StoreError> {
        if external_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(external_ids).expect("strings serialise");
        Ok(self
            .connection()
            .prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases
                  WHERE external_id IN (SELECT value FROM json_each(?1))"
            ))?
            .query_map([ids], case_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// A user's notes, oldest first.
    pub fn case_notes(&self, external_id: &str) -> Result<Vec<NoteRecord>, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT id, external_id, written_at, author, text FROM case_notes
                  WHERE external_id = ?1 ORDER BY id",
            )?
            .query_map([external_id], note_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The people who work cases: everyone the audit log names whose latest entry was made
    /// with a role that works cases (compliance or admin), by name. The log is walked one
    /// person at a time along its actor index (a seek per person, never a scan of the log).
    pub fn case_workers(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(
                "WITH RECURSIVE people(actor) AS (
                   SELECT min(actor) FROM audit_log
                   UNION ALL
                   SELECT (SELECT min(actor) FROM audit_log WHERE actor > people.actor)
                     FROM people WHERE actor IS NOT NULL)
                 SELECT actor FROM people
                  WHERE actor IS NOT NULL
                    AND (SELECT role FROM audit_log AS a WHERE a.actor = people.actor
                          ORDER BY seq DESC LIMIT 1) IN ('compliance', 'admin')
                  ORDER BY actor",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every note after `after_id`, oldest first, at most `limit` (the notes export's pages).
    pub fn notes_page(&self, after_id: i64, limit: u32) -> Result<Vec<NoteRecord>, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT id, external_id, written_at, author, text FROM case_notes
                  WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after_id, limit], note_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The cases in the queue whose SLA clock has run longer than `scope.sla_ms` at
    /// `scope.now` (the longest first, at most `limit`), and how many there are. Only users who
    /// entered the status at least the SLA ago can be over it: an index range per status.
    pub fn over_sla(
        &self,
        scope: &SlaScope,
        limit: u32,
    ) -> Result<(i64, Vec<OverSlaRecord>), StoreError> {
        let decisions = serde_json::to_string(&scope.decisions).expect("strings serialise");
        let (mut count, mut found) = (0, Vec::new());
        for status in &scope.statuses {
            let mut statement = self.connection().prepare_cached(&format!(
                "SELECT external_id, clock, assignee FROM (
                   SELECT u.external_id, c.assignee, {} AS clock
                     FROM users AS u LEFT JOIN cases AS c ON c.external_id = u.external_id
                    WHERE u.status = ?1 AND u.status_since <= ?3 - ?4
                      AND (?2 = '[]' OR u.decision IN (SELECT value FROM json_each(?2))))
                  WHERE clock > ?4 ORDER BY clock DESC, external_id",
                sla_clock("u", 3)
            ))?;
            let mut rows = statement.query(params![status, decisions, scope.now, scope.sla_ms])?;
            while let Some(row) = rows.next()? {
                count += 1;
                if found.len() < limit as usize {
                    found.push(OverSlaRecord {
                        external_id: row.get(0)?,
                        clock_ms: row.get(1)?,
                        assignee: row.get(2)?,
                    });
                }
            }
        }
        found.sort_by(|a, b| {
            b.clock_ms
                .cmp(&a.clock_ms)
                .then_with(|| a.external_id.cmp(&b.external_id))
        });
        found.truncate(limit as usize);
        Ok((count, found))
    }
}
