//! `export` and `audit export`: users, events, deliveries or the audit log as CSV or JSON
//! Lines, streamed row by row.

use std::io::Write;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::kyc::UserState;
use crate::monitor::BodyText;
use crate::store::{
    AuditRecord, CaseRecord, DeliveryRecord, EventRecord, NoteRecord, Reader, StoreError,
    UserRecord,
};
use crate::time::rfc3339_millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Users,
    Events,
    Deliveries,
    /// Case notes, oldest first.
    Notes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot read the database: {0}")]
    Read(#[from] StoreError),
}

impl From<csv::Error> for ExportError {
    fn from(error: csv::Error) -> Self {
        match error.into_kind() {
            csv::ErrorKind::Io(io) => ExportError::Write(io),
            other => ExportError::Write(std::io::Error::other(format!("{other:?}"))),
        }
    }
}

/// One exported value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(String),
    Number(i64),
    Bool(bool),
    /// Text that is itself JSON: embedded as a value in JSON Lines, as text in CSV.
    Json(String),
    Null,
}

type Row = Vec<(&'static str, Cell)>;

/// How far an export is: rows written, of the rows in the snapshot it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub rows: u64,
    pub total: u64,
}

/// `progress` is told every this many rows, and at the start and the end.
const PROGRESS_EVERY_ROWS: u64 = 256;

/// Writes a whole table to `out`. Memory stays flat: one row at a time.
pub fn export(
    reader: &Reader,
    table: Table,
    format: Format,
    out: impl Write,
    mut progress: impl FnMut(Exported),
) -> Result<(), ExportError> {
    let mut sink = Sink::new(format, out);
    // The total is counted in the snapshot the rows come from, so the two agree.
    reader.snapshot(|reader| {
        let total = match table {
            Table::Users => reader.user_total()?,
            Table::Events => reader.event_total()?,
            Table::Deliveries => reader.delivery_total()?,
            Table::Notes => reader.note_total()?,
        };
        let mut rows = 0;
        progress(Exported { rows, total });
        let mut written = |sink: &mut Sink<_>, row: Row| {
            sink.write(row)?;
            rows += 1;
            if rows % PROGRESS_EVERY_ROWS == 0 {
                progress(Exported { rows, total });
            }
            Ok::<_, ExportError>(())
        };
        match table {
            Table::Users => {
                sink.header(USER_COLUMNS)?;
                reader.for_each_user(|user| {
                    let case = reader.case(&user.external_id)?;
                    let notes = reader.case_notes(&user.external_id)?;
                    written(&mut sink, user_row(user, case, notes))
                })?
            }
            Table::Events => {
                sink.header(EVENT_COLUMNS)?;
                reader.for_each_event(|event| written(&mut sink, event_row(event)))?
            }
            Table::Deliveries => {
                sink.header(DELIVERY_COLUMNS)?;
                reader.for_each_delivery(|delivery| written(&mut sink, delivery_row(delivery)))?
            }
            Table::Notes => {
                sink.header(NOTE_COLUMNS)?;
                reader.for_each_note(|note| written(&mut sink, note_row(note)))?
            }
        }
        progress(Exported { rows, total });
        Ok::<_, ExportError>(())
    })?;
    sink.finish()
}

/// Writes the audit log's entries at or after `since` (Unix ms) to `out`, oldest first, with
/// each entry's hash (hex) so that a copy can be checked on its own.
pub fn export_audit(
    reader: &Reader,
    since: Option<i64>,
    format: Format,
    out: impl Write,
    mut progress: impl FnMut(Exported),
) -> Result<(), ExportError> {
    let mut sink = Sink::new(format, out);
    reader.snapshot(|reader| {
        let total = reader.audit_total(since)?;
        let mut rows = 0;
        progress(Exported { rows, total });
        sink.header(AUDIT_COLUMNS)?;
        reader.for_each_audit_entry(since, |entry| {
            sink.write(audit_row(entry))?;
            rows += 1;
            if rows % PROGRESS_EVERY_ROWS == 0 {
                progress(Exported { rows, total });
            }
            Ok::<_, ExportError>(())
        })?;
        progress(Exported { rows, total });
        Ok::<_, ExportError>(())
    })?;
    sink.finish()
}

const USER_COLUMNS: &[&str] = &[
    "externalId",
    "decision",
    "status",
    "subStatus",
    "participantId",
    "account",
    "firstSeenAt",
    "lastSeenAt",
    "eventCount",
    "rejectionReason",
    "statusSetAt",
    "assignee",
    "notes",
];
const NOTE_COLUMNS: &[&str] = &["id", "externalId", "writtenAt", "author", "text"];
const EVENT_COLUMNS: &[&str] = &[
    "receivedAt",
    "externalId",
    "decision",
    "status",
    "subStatus",
    "participantId",
    "account",
    "duplicate",
    "eventId",
    "deliveryId",
    "replayOf",
    "edited",
    "rejectionReason",
    "statusSetAt",
    "source",
];
const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "receivedAt",
    "outcome",
    "httpStatus",
    "error",
    "method",
    "remoteAddr",
    "webhookId",
    "bodySize",
    "headers",
    "body",
    "bodyBase64",
    "replayOf",
    "source",
];

const AUDIT_COLUMNS: &[&str] = &[
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "target",
    "remoteAddr",
    "outcome",
    "detail",
    "hash",
];

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(value.into())
}

fn optional(value: Option<String>) -> Cell {
    value.map_or(Cell::Null, Cell::Text)
}

/// The five fields of a user's state, under the names every output gives them.
fn state_cells(state: &UserState) -> impl Iterator<Item = (&'static str, Cell)> + '_ {
    state
        .fields()
        .into_iter()
        .map(|(name, value)| (name, text(value)))
}

/// A user's notes as one value: a JSON array of `{writtenAt, author, text}`, oldest first
/// (embedded in JSON Lines, as text in CSV).
fn notes_cell(notes: Vec<NoteRecord>) -> Cell {
    let notes: Vec<serde_json::Value> = notes
        .into_iter()
        .map(|note| {
            serde_json::json!({
                "writtenAt": rfc3339_millis(note.written_at),
                "author": note.author,
                "text": note.text,
            })
        })
        .collect();
    Cell::Json(serde_json::Value::Array(notes).to_string())
}

fn note_row(note: NoteRecord) -> Row {
    vec![
        ("id", Cell::Number(note.id)),
        ("externalId", text(note.external_id)),
        ("writtenAt", text(rfc3339_millis(note.written_at))),
        ("author", text(note.author)),
        ("text", text(note.text)),
    ]
}

fn user_row(user: UserRecord, case: CaseRecord, notes: Vec<NoteRecord>) -> Row {
    let mut row = vec![("externalId", text(&user.external_id))];
    row.extend(state_cells(&user.state));
    row.extend([
        ("firstSeenAt", text(rfc3339_millis(user.first_seen_at))),
        ("lastSeenAt", text(rfc3339_millis(user.last_seen_at))),
        ("eventCount", Cell::Number(user.event_count)),
        ("rejectionReason", optional(user.rejection_reason)),
        (
            "statusSetAt",
            optional(user.status_set_at.map(rfc3339_millis)),
        ),
        ("assignee", optional(case.assignee)),
        ("notes", notes_cell(notes)),
    ]);
    row
}

fn event_row(event: EventRecord) -> Row {
    let mut row = vec![
        ("receivedAt", text(rfc3339_millis(event.received_at))),
        ("externalId", text(&event.external_id)),
    ];
    row.extend(state_cells(&event.state));
    row.extend([
        ("duplicate", Cell::Bool(event.duplicate)),
        ("eventId", optional(event.event_id)),
        ("deliveryId", Cell::Number(event.delivery_id)),
        ("replayOf", event.replay_of.map_or(Cell::Null, Cell::Number)),
        ("edited", Cell::Bool(event.edited)),
        ("rejectionReason", optional(event.rejection_reason)),
        (
            "statusSetAt",
            optional(event.status_set_at.map(rfc3339_millis)),
        ),
        ("source", text(event.source.as_str())),
    ]);
    row
}

/// Who told the monitor: the provider's webhook, its status API (`poll`), or the partner
/// naming a user to watch (`watch`).
fn delivery_source(delivery: &DeliveryRecord) -> &'static str {
    match (delivery.watched, delivery.polled) {
        (true, _) => "watch",
        (false, true) => "poll",
        (false, false) => "webhook",
    }
}

fn delivery_row(delivery: DeliveryRecord) -> Row {
    let source = delivery_source(&delivery);
    let BodyText { body, body_base64 } = BodyText::of(delivery.body);
    vec![
        ("id", Cell::Number(delivery.id)),
        ("receivedAt", text(rfc3339_millis(delivery.received_at))),
        ("outcome", text(delivery.outcome)),
        ("httpStatus", Cell::Number(delivery.http_status.into())),
        ("error", optional(delivery.error)),
        ("method", text(delivery.method)),
        ("remoteAddr", text(delivery.remote_addr)),
        ("webhookId", optional(delivery.webhook_id)),
        (
            "bodySize",
            delivery.body_size.map_or(Cell::Null, Cell::Number),
        ),
        ("headers", Cell::Json(delivery.headers)),
        ("body", optional(body)),
        ("bodyBase64", optional(body_base64)),
        (
            "replayOf",
            delivery.replay_of.map_or(Cell::Null, Cell::Number),
        ),
        ("source", text(source.to_owned())),
    ]
}

fn audit_row(entry: AuditRecord) -> Row {
    vec![
        ("seq", Cell::Number(entry.seq)),
        ("at", text(rfc3339_millis(entry.at))),
        ("actor", text(entry.actor)),
        (
            "role",
            Some(entry.role)
                .filter(|r| !r.is_empty())
                .map_or(Cell::Null, Cell::Text),
        ),
        ("action", text(entry.action)),
        ("target", text(entry.target)),
        ("remoteAddr", text(entry.remote_addr)),
        ("outcome", text(entry.outcome)),
        ("detail", text(entry.detail)),
        ("hash", text(hex::encode(entry.hash))),
    ]
}

enum Output<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(std::io::BufWriter<W>),
}

struct Sink<W: Write> {
    output: Output<W>,
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W) -> Sink<W> {
        let output = match format {
            Format::Csv => Output::Csv(Box::new(
                csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .quote_style(csv::QuoteStyle::Necessary)
                    .from_writer(out),
            )),
            Format::Jsonl => Output::Jsonl(std::io::BufWriter::new(out)),
        };
        Sink { output }
    }

    fn header(&mut self, columns: &[&str]) -> Result<(), ExportError> {
        if let Output::Csv(csv) = &mut self.output {
            csv.write_record(columns)?;
        }
        Ok(())
    }

    fn write(&mut self, row: Row) -> Result<(), ExportError> {
        match &mut self.output {
            Output::Csv(csv) => csv.write_record(row.iter().map(|(_, cell)| csv_cell(cell)))?,
            Output::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &JsonRow(&row)).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ExportError> {
        match self.output {
            Output::Csv(mut csv) => csv.flush()?,
            Output::Jsonl(mut out) => out.flush()?,
        }
        Ok(())
    }
}

/// CSV rows (RFC 4180, CRLF) of text cells, neutralised as `export` does; the review queue's
/// download streams them page by page.
pub fn csv_rows<'a>(rows: impl IntoIterator<Item = Vec<&'a str>>) -> Vec<u8> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    for row in rows {
        let cells = row.into_iter().map(|value| csv_cell(&text(value)));
        csv.write_record(cells).expect("writing to memory");
    }
    csv.into_inner().expect("writing to memory")
}

/// A cell as CSV text. A text cell that a spreadsheet would run as a formula gets a leading `'`.
/// Bidirectional and control characters are written as visible escapes (`\u202e`) wherever they are in the
/// cell: a leading `'` would not stop one in the middle of a value from showing
/// `user_\u{202e}gpj.exe` as `user_exe.jpg`. In a JSON cell (headers, body) the escape is the
/// same character to a JSON reader. JSON Lines keeps every value exactly.
fn csv_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(value) | Cell::Json(value) => {
            let shown = escape_unshowable(value);
            if matches!(cell, Cell::Text(_)) && shown.starts_with(['=', '+', '-', '@', '\t', '\r'])
            {
                format!("'{shown}")
            } else {
                shown
            }
        }
        Cell::Number(value) => value.to_string(),
        Cell::Bool(value) => value.to_string(),
        Cell::Null => String::new(),
    }
}

/// The characters a cell shows spelled out (`\u202e`): those that reorder how text around
/// them is shown (the bidirectional controls and marks), those that show as nothing or blank
/// (zero-width ones, line separators, tags; see `access::hides_or_reorders`), and the control
/// characters a terminal obeys when the file is printed (ESC starts a sequence that recolours
/// or moves the cursor, NUL ends a C string), but tab and the line ends (a cell may hold lines).
fn shown_escaped(c: char) -> bool {
    crate::access::hides_or_reorders(c) && !matches!(c, '\t' | '\n' | '\r')
}

fn escape_unshowable(value: &str) -> String {
    if !value.contains(shown_escaped) && !value.contains('\r') {
        return value.to_owned();
    }
    let mut shown = String::with_capacity(value.len() + 8);
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        // A line end is kept; a CR alone sends a terminal's cursor back over what the cell
        // said before it.
        let lone_cr = c == '\r' && chars.peek() != Some(&'\n');
        if shown_escaped(c) || lone_cr {
            shown.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            shown.push(c);
        }
    }
    shown
}

struct JsonRow<'a>(&'a Row);

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, cell) in self.0 {
            match cell {
                Cell::Text(value) => map.serialize_entry(name, value)?,
                Cell::Number(value) => map.serialize_entry(name, value)?,
                Cell::Bool(value) => map.serialize_entry(name, value)?,
                Cell::Json(value) => {
                    let raw: &serde_json::value::RawValue =
                        serde_json::from_str(value).map_err(serde::ser::Error::custom)?;
                    map.serialize_entry(name, raw)?
                }
                Cell::Null => map.serialize_entry(name, &())?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_the_header_columns_in_order() {
        let names = |row: Row| row.into_iter().map(|(name, _)| name).collect::<Vec<_>>();
        let user = UserRecord {
            external_id: "u".into(),
            state: Default::default(),
            first_seen_at: 0,
            last_seen_at: 0,
            status_since: 0,
            event_count: 1,
            rejection_reason: None,
            status_set_at: None,
        };
        assert_eq!(
            names(user_row(user, CaseRecord::default(), Vec::new())),
            USER_COLUMNS
        );
        let event = EventRecord {
            delivery_id: 1,
            received_at: 0,
            external_id: "u".into(),
            state: Default::default(),
            event_id: None,
            duplicate: false,
            replay_of: None,
            edited: false,
            rejection_reason: None,
            status_set_at: None,
            source: crate::store::EventSource::Webhook,
        };
        assert_eq!(names(event_row(event)), EVENT_COLUMNS);
        let delivery = DeliveryRecord {
            id: 1,
            received_at: 0,
            remote_addr: String::new(),
            method: "POST".into(),
            headers: "[]".into(),
            body: None,
            body_size: None,
            webhook_id: None,
            outcome: "ping".into(),
            http_status: 200,
            error: None,
            replay_of: None,
            polled: false,
            watched: false,
        };
        assert_eq!(names(delivery_row(delivery)), DELIVERY_COLUMNS);
        let entry = AuditRecord {
            seq: 1,
            at: 0,
            actor: "local".into(),
            role: "admin".into(),
            action: "search".into(),
            target: "u".into(),
            remote_addr: "local".into(),
            outcome: "ok".into(),
            detail: String::new(),
            hash: vec![0; 32],
        };
        assert_eq!(names(audit_row(entry)), AUDIT_COLUMNS);
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for risky in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\r\nx"] {
            assert_eq!(csv_cell(&Cell::Text(risky.into())), format!("'{risky}"));
        }
        // A CR alone is spelled out, so it starts no formula either.
        assert_eq!(csv_cell(&Cell::Text("\rx".into())), "\\u000dx");
        assert_eq!(csv_cell(&Cell::Text("user_1".into())), "user_1");
        assert_eq!(csv_cell(&Cell::Number(-3)), "-3");
        assert_eq!(csv_cell(&Cell::Null), "");
    }

    #[test]
    fn bidi_controls_are_escaped_anywhere_in_a_cell() {
        assert_eq!(
            csv_cell(&Cell::Text("user_\u{202e}gpj.exe".into())),
            "user_\\u202egpj.exe"
        );
        assert_eq!(
            csv_cell(&Cell::Json("{\"a\":\"\u{2066}x\u{2069}\"}".into())),
            r#"{"a":"\u2066x\u2069"}"#
        );
        assert_eq!(csv_cell(&Cell::Text("=\u{200f}1".into())), "'=\\u200f1");
        assert_eq!(csv_cell(&Cell::Text("José".into())), "José");
        // Control characters a terminal would obey, but not tab and line ends.
        assert_eq!(
            csv_cell(&Cell::Text("evil\u{1b}[31m@x\u{0}\u{7f}".into())),
            "evil\\u001b[31m@x\\u0000\\u007f"
        );
        assert_eq!(csv_cell(&Cell::Text("a\tb\nc\r\nd".into())), "a\tb\nc\r\nd");
        // A CR alone, and characters that show as nothing, are spelled out.
        assert_eq!(
            csv_cell(&Cell::Text("X\rOVER\u{200b}\u{2028}".into())),
            "X\\u000dOVER\\u200b\\u2028"
        );
    }
}
