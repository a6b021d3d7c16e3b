//! The provider's two payload forms and their normalisation into one [`KycEvent`].
//!
//! The documented form is a flat object (`externalId`, `decision`, `status`, `subStatus`,
//! `participantId`, `account`); the newer form is an envelope with `event_type`, `event_id` and
//! `data`. Values outside the documented sets are kept verbatim: only what cannot be understood
//! at all is refused.
//!
//! The newer envelope also says why a user was rejected (`data.rejection_reason`) and when the
//! provider set the status (`data.status_set_at`): kept as [`EventDetails`], read leniently (a
//! value that is not a string, or a time that is not RFC 3339, is taken as absent: neither is
//! worth refusing a final outcome over). Personal data it may carry (`data.date_of_birth`) is
//! not part of the event: see [`date_of_birth`].

use serde::Serialize;
use serde_json::{Map, Value};

/// Statuses the provider documents; anything else is shown as "other".
pub const KNOWN_STATUSES: [&str; 4] = ["NOT_STARTED", "OPEN", "ON_HOLD", "CLOSED"];
/// How each documented status reads on screen (the board's columns, the tray's counts).
pub const STATUS_LABELS: [(&str, &str); 4] = [
    ("NOT_STARTED", "Not started"),
    ("OPEN", "Open"),
    ("ON_HOLD", "On hold"),
    ("CLOSED", "Closed"),
];
/// The board's column for every status the provider does not document.
pub const OTHER_STATUS_LABEL: &str = "Other";
/// Decisions the provider documents (empty means none yet).
pub const KNOWN_DECISIONS: [&str; 4] = ["ACCEPT", "REJECT", "REVIEW", ""];

/// Where a user stands: the five fields of a notification besides `externalId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, ts_rs::TS)]
#[ts(rename_all = "camelCase")]
pub struct UserState {
    pub decision: String,
    pub status: String,
    pub sub_status: String,
    pub participant_id: String,
    pub account: String,
}

impl UserState {
    /// The fields under the payload's own names, in its documented order: the one place that
    /// names them for every output (JSON anywhere, the export's columns).
    pub fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("decision", &self.decision),
            ("status", &self.status),
            ("subStatus", &self.sub_status),
            ("participantId", &self.participant_id),
            ("account", &self.account),
        ]
    }
}

impl Serialize for UserState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.fields();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (name, value) in fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A user as every output names it first: `externalId`, then the five fields (the flat
/// payload is exactly this; lookup --json and the UI add their own fields after it).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedState<'a> {
    pub external_id: &'a str,
    #[serde(flatten)]
    pub state: &'a UserState,
}

/// One notification about one user, whichever form it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycEvent {
    pub external_id: String,
    pub state: UserState,
    /// The envelope's `event_id`, used to recognise a redelivery.
    pub event_id: Option<String>,
    /// What the newer envelope adds; never part of the state (a duplicate is still one).
    pub details: EventDetails,
}

/// What the newer envelope says beyond the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventDetails {
    /// `data.rejection_reason`, when non-empty.
    pub rejection_reason: Option<String>,
    /// `data.status_set_at`: when the provider set the status (Unix milliseconds).
    pub status_set_at: Option<i64>,
}

/// An RFC 3339 time (`2026-11-26T14:03:11.902Z`, any offset) as Unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_millis())
}

/// The `data.date_of_birth` an envelope body carries: personal data, read only where a role
/// allowed to see it is shown the delivery (never stored apart from the raw body, never sent
/// to a notification or a log).
pub fn date_of_birth(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("data")?.get("date_of_birth")? {
        Value::String(date) if !date.is_empty() => Some(date.clone()),
        _ => None,
    }
}

/// A user's state in the documented flat form, as the provider sends it.
pub fn flat_json(external_id: &str, state: &UserState) -> serde_json::Value {
    serde_json::to_value(NamedState { external_id, state }).expect("a user serialises")
}

/// What a request body means.
// One lives for one request (never held in bulk): not worth a box for the ping's sake.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Event(KycEvent),
    /// A validation or test request: nothing about a user.
    Ping,
}

/// Why a body was refused. The messages are sent back to the caller as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not valid UTF-8 (first bad byte at offset {0}); send the notification as UTF-8 JSON")]
    NotUtf8(usize),
    #[error("the body is not valid JSON ({0}); send the notification as a JSON object")]
    NotJson(String),
    #[error("the body is JSON, but {0} rather than an object; send the notification as a JSON object with externalId")]
    NotObject(&'static str),
    /// The body is a JSON object, but a field it must have is unusable.
    #[error("{0}")]
    InvalidField(String),
}

impl PayloadError {
    /// True when the body was well-formed JSON whose content is unusable (HTTP 422), false
    /// when it was not a JSON object at all (HTTP 400).
    pub fn is_unprocessable(&self) -> bool {
        matches!(self, PayloadError::InvalidField(_))
    }
}

/// Reads a request body in either form.
pub fn parse_payload(body: &[u8]) -> Result<Payload, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|e| PayloadError::NotUtf8(e.valid_up_to()))?;
    // A byte-order mark is allowed before JSON text (RFC 8259 §8.1), and a blank body is the
    // simplest validation request there is.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Payload::Ping);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(PayloadError::NotObject(json_kind(&value)));
    };
    if object.contains_key("event_type") {
        parse_envelope(&object)
    } else if object.contains_key("externalId") {
        parse_flat(&object).map(Payload::Event)
    } else {
        Ok(Payload::Ping)
    }
}

fn parse_flat(object: &Map<String, Value>) -> Result<KycEvent, PayloadError> {
    let external_id = required_id(object, "externalId", "externalId")?;
    Ok(KycEvent {
        external_id,
        state: UserState {
            decision: optional_text(object, "decision", "decision")?,
            status: optional_text(object, "status", "status")?,
            sub_status: optional_text(object, "subStatus", "subStatus")?,
            participant_id: optional_text(object, "participantId", "participantId")?,
            account: optional_text(object, "account", "account")?,
        },
        event_id: None,
        details: EventDetails::default(),
    })
}

fn parse_envelope(object: &Map<String, Value>) -> Result<Payload, PayloadError> {
    let event_type = match &object["event_type"] {
        Value::String(s) => s.as_str(),
        other => {
            return Err(PayloadError::InvalidField(format!(
                "event_type is {}; it must be a string such as \"kyc.approved\"",
                json_kind(other)
            )))
        }
    };
    if event_type == "webhook.test" {
        return Ok(Payload::Ping);
    }
    let event_id = optional_text(object, "event_id", "event_id")?;
    let empty = Map::new();
    let data = match object.get("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => &empty,
        Some(other) => {
            return Err(PayloadError::InvalidField(format!(
                "data is {}; it must be an object naming the user in data.external_id",
                json_kind(other)
            )))
        }
    };
    let external_id = required_id(data, "external_id", "data.external_id")?;
    let participant_id = optional_text(
        data,
        "provisioned_participant",
        "data.provisioned_participant",
    )?;
    let account = optional_text(data, "provisioned_account", "data.provisioned_account")?;
    let reported_status = optional_text(data, "status", "data.status")?;
    let (decision, status) = match event_type {
        "kyc.approved" => ("ACCEPT".to_owned(), "CLOSED".to_owned()),
        "kyc.rejected" => ("REJECT".to_owned(), "CLOSED".to_owned()),
        _ => (String::new(), reported_status),
    };
    Ok(Payload::Event(KycEvent {
        external_id,
        state: UserState {
            decision,
            status,
            sub_status: String::new(),
            participant_id,
            account,
        },
        event_id: Some(event_id).filter(|id| !id.is_empty()),
        details: EventDetails {
            rejection_reason: lenient_text(data, "rejection_reason"),
            status_set_at: lenient_text(data, "status_set_at").and_then(|t| parse_time(&t)),
        },
    }))
}

/// A field read leniently: a non-empty string, else absent.
fn lenient_text(object: &Map<String, Value>, key: &str) -> Option<String> {
    match object.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A field that must be present as a non-empty string: the user's id.
fn required_id(
    object: &Map<String, Value>,
    key: &str,
    shown: &str,
) -> Result<String, PayloadError> {
    match object.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(PayloadError::InvalidField(format!(
            "{shown} is an empty string; it must name the user"
        ))),
        None => Err(PayloadError::InvalidField(format!(
            "{shown} is missing; a KYC notification must name the user in {shown}"
        ))),
        Some(other) => Err(PayloadError::InvalidField(format!(
            "{shown} is {}; it must be a non-empty string naming the user",
            json_kind(other)
        ))),
    }
}

/// A known text field: missing and null count as empty, any other non-string is refused.
fn optional_text(
    object: &Map<String, Value>,
    key: &str,
    shown: &str,
) -> Result<String, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(PayloadError::InvalidField(format!(
            "{shown} is {}; it must be a string or null",
            json_kind(other)
        ))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// True for a status the provider documents.
pub fn is_known_status(status: &str) -> bool {
    KNOWN_STATUSES.contains(&status)
}

/// True for a decision the provider documents (including none).
pub fn is_known_decision(decision: &str) -> bool {
    KNOWN_DECISIONS.contains(&decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str) -> KycEvent {
        match parse_payload(body.as_bytes()) {
            Ok(Payload::Event(event)) => event,
            other => panic!("expected an event from {body}, got {other:?}"),
        }
    }

    fn refusal(body: &[u8]) -> PayloadError {
        parse_payload(body).expect_err("expected a refusal")
    }

    #[test]
    fn flat_form_keeps_every_field_verbatim() {
        let e = event(
            r#"{"externalId":"u1","decision":"MAYBE","status":"PAUSED","subStatus":"x","participantId":"p","account":"a","extra":1}"#,
        );
        assert_eq!(e.external_id, "u1");
        assert_eq!(e.state.decision, "MAYBE");
        assert_eq!(e.state.status, "PAUSED");
        assert_eq!(e.state.sub_status, "x");
        assert_eq!(
            (e.state.participant_id.as_str(), e.state.account.as_str()),
            ("p", "a")
        );
        assert!(!is_known_status(&e.state.status) && !is_known_decision(&e.state.decision));
    }

    #[test]
    fn missing_and_null_fields_count_as_empty() {
        let e = event(r#"{"externalId":"u1","decision":null}"#);
        assert_eq!(e.state, UserState::default());
    }

    #[test]
    fn envelope_approved_and_rejected_map_to_closed_decisions() {
        let e = event(
            r#"{"event_type":"kyc.approved","event_id":"e1","data":{"external_id":"u","status":"KYC_STATUS_APPROVED","provisioned_participant":"p","provisioned_account":"a"}}"#,
        );
        assert_eq!(
            (e.state.decision.as_str(), e.state.status.as_str()),
            ("ACCEPT", "CLOSED")
        );
        assert_eq!(
            (e.state.participant_id.as_str(), e.state.account.as_str()),
            ("p", "a")
        );
        assert_eq!(e.event_id.as_deref(), Some("e1"));
        let e = event(r#"{"event_type":"kyc.rejected","data":{"external_id":"u"}}"#);
        assert_eq!(
            (e.state.decision.as_str(), e.state.status.as_str()),
            ("REJECT", "CLOSED")
        );
        assert_eq!(e.event_id, None);
    }

    #[test]
    fn the_newer_fields_are_read_and_a_bad_one_is_absent() {
        let e = event(
            r#"{"event_type":"kyc.rejected","event_id":"e","data":{"external_id":"u","status_set_at":"2026-11-26T14:05:39.660Z","rejection_reason":"document expired","date_of_birth":"1987-03-14"}}"#,
        );
        assert_eq!(
            e.details.rejection_reason.as_deref(),
            Some("document expired")
        );
        assert_eq!(e.details.status_set_at, Some(1_795_701_939_660));
        let e = event(
            r#"{"event_type":"kyc.rejected","data":{"external_id":"u","status_set_at":"yesterday","rejection_reason":7}}"#,
        );
        assert_eq!(e.details, EventDetails::default());
        let e = event(
            r#"{"event_type":"kyc.approved","data":{"external_id":"u","status_set_at":"2026-11-26T15:05:39+01:00","rejection_reason":""}}"#,
        );
        assert_eq!(e.details.status_set_at, Some(1_795_701_939_000));
        assert_eq!(e.details.rejection_reason, None);
        assert_eq!(
            date_of_birth(
                br#"{"event_type":"kyc.approved","data":{"date_of_birth":"1987-03-14"}}"#
            )
            .as_deref(),
            Some("1987-03-14")
        );
        assert_eq!(date_of_birth(br#"{"externalId":"u"}"#), None);
    }

    #[test]
    fn other_envelope_types_keep_the_reported_status() {
        let e = event(
            r#"{"event_type":"kyc.resubmit","data":{"external_id":"u","status":"KYC_STATUS_RESUBMIT"}}"#,
        );
        assert_eq!(
            (e.state.decision.as_str(), e.state.status.as_str()),
            ("", "KYC_STATUS_RESUBMIT")
        );
    }

    #[test]
    fn pings_are_recognised() {
        for body in [
            "",
            "  \n",
            "{}",
            r#"{"test":true}"#,
            r#"{"event_type":"webhook.test","data":{}}"#,
            "\u{feff}{}",
        ] {
            assert_eq!(
                parse_payload(body.as_bytes()),
                Ok(Payload::Ping),
                "{body:?}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_objects_are_malformed() {
        for body in [&b"{"[..], b"[1]", b"42", b"\"x\"", b"null", b"\xff\xfe{}"] {
            assert!(!refusal(body).is_unprocessable(), "{body:?}");
        }
        assert_eq!(refusal(b"{\"a\":\"\xff\"}"), PayloadError::NotUtf8(6));
    }

    #[test]
    fn unusable_fields_are_unprocessable_and_named() {
        for (body, field) in [
            (r#"{"externalId":null}"#, "externalId is null"),
            (r#"{"externalId":""}"#, "externalId is an empty string"),
            (r#"{"externalId":7}"#, "externalId is a number"),
            (r#"{"externalId":"u","status":3}"#, "status is a number"),
            (r#"{"externalId":"u","account":{}}"#, "account is an object"),
            (r#"{"event_type":1}"#, "event_type is a number"),
            (
                r#"{"event_type":"kyc.approved","data":{}}"#,
                "data.external_id is missing",
            ),
            (
                r#"{"event_type":"kyc.approved","data":[]}"#,
                "data is an array",
            ),
            (
                r#"{"event_type":"kyc.approved","data":{"external_id":"u","provisioned_account":5}}"#,
                "data.provisioned_account is a number",
            ),
        ] {
            let error = refusal(body.as_bytes());
            assert!(error.is_unprocessable(), "{body}");
            assert!(error.to_string().starts_with(field), "{body}: {error}");
        }
    }
}
