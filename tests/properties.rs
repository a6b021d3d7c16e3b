//! Property tests: generated bodies against the payload parser, and generated requests against
//! the whole webhook handler over a real writer and a real SQLite file. The expected outcome of
//! every input is worked out here from CONTRACT.md's table, independently of the code under test.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::Mac;
use kyc_monitor::ingest::{self, WebhookConfig};
use kyc_monitor::kyc::{parse_payload, KycEvent, Payload, UserState};
use kyc_monitor::secret_file::{SecretSet, SecretSource};
use kyc_monitor::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};
use tower::ServiceExt;

/// What the contract says a body is, before any signature or size rule.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Event(KycEvent),
    Ping,
    /// Not a JSON object at all: 400.
    Malformed,
    /// A JSON object whose fields are unusable: 422.
    Unprocessable,
}

/// The contract's reading of a body, written from the table rather than from the parser.
fn expected(body: &[u8]) -> Expected {
    let Ok(text) = std::str::from_utf8(body) else {
        return Expected::Malformed;
    };
    // A byte-order mark may precede JSON; a blank body is the simplest validation request.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Expected::Ping;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => expected_object(&object),
        _ => Expected::Malformed,
    }
}

fn expected_object(object: &Map<String, Value>) -> Expected {
    let text = |object: &Map<String, Value>, key: &str| match object.get(key) {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    };
    let user = |object: &Map<String, Value>, key: &str| match object.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    if let Some(event_type) = object.get("event_type") {
        let Value::String(event_type) = event_type else {
            return Expected::Unprocessable;
        };
        if event_type == "webhook.test" {
            return Expected::Ping;
        }
        let empty = Map::new();
        let data = match object.get("data") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(data)) => data,
            Some(_) => return Expected::Unprocessable,
        };
        let (Some(event_id), Some(external_id), Some(status), Some(participant_id), Some(account)) = (
            text(object, "event_id"),
            user(data, "external_id"),
            text(data, "status"),
            text(data, "provisioned_participant"),
            text(data, "provisioned_account"),
        ) else {
            return Expected::Unprocessable;
        };
        let (decision, status) = match event_type.as_str() {
            "kyc.approved" => ("ACCEPT".to_owned(), "CLOSED".to_owned()),
            "kyc.rejected" => ("REJECT".to_owned(), "CLOSED".to_owned()),
            _ => (String::new(), status),
        };
        return Expected::Event(KycEvent {
            external_id,
            state: UserState {
                decision,
                status,
                sub_status: String::new(),
                participant_id,
                account,
            },
            event_id: Some(event_id).filter(|id| !id.is_empty()),
            details: Default::default(),
        });
    }
    if !object.contains_key("externalId") {
        return Expected::Ping;
    }
    let fields = [
        "decision",
        "status",
        "subStatus",
        "participantId",
        "account",
    ]
    .map(|key| text(object, key));
    match (user(object, "externalId"), fields) {
        (
            Some(external_id),
            [Some(decision), Some(status), Some(sub_status), Some(participant_id), Some(account)],
        ) => Expected::Event(KycEvent {
            external_id,
            state: UserState {
                decision,
                status,
                sub_status,
                participant_id,
                account,
            },
            event_id: None,
            details: Default::default(),
        }),
        _ => Expected::Unprocessable,
    }
}

/// Text as payloads carry it: mostly plain, sometimes controls, bidi overrides or nothing.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_]{1,10}",
        1 => Just(String::new()),
        1 => "[\\x00-\\x1f\\u{7f}\\u{202e}\\u{feff}a-z\"\\\\]{0,8}",
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Keys the parser cares about, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "externalId", "decision", "status", "subStatus", "participantId", "account",
            "event_type", "event_id", "data", "external_id", "provisioned_participant",
            "provisioned_account",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,8}",
    ]
}

/// A field's value, leaning towards what the contract accepts (a string, or null).
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => text().prop_map(Value::String),
        2 => Just(Value::Null),
        1 => json_value(),
    ]
}

/// An object in the documented flat form, every field possibly absent or of the wrong kind.
fn flat_object() -> impl Strategy<Value = Value> {
    let fields = [
        "externalId",
        "decision",
        "status",
        "subStatus",
        "participantId",
        "account",
    ];
    (
        prop::collection::vec(prop::option::weighted(0.85, field_value()), 6),
        // Unknown extra fields; now and then one the parser knows (event_type makes an envelope).
        prop::collection::vec(
            (prop_oneof![6 => "[a-z_]{1,8}", 1 => key()], json_value()),
            0..2,
        ),
    )
        .prop_map(move |(values, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            for (key, value) in fields.iter().zip(values) {
                match value {
                    Some(value) => object.insert((*key).to_owned(), value),
                    None => object.remove(*key),
                };
            }
            Value::Object(object)
        })
}

/// An object in the newer envelope form.
fn envelope_object() -> impl Strategy<Value = Value> {
    let event_type = prop_oneof![
        3 => prop::sample::select(vec!["kyc.approved", "kyc.rejected", "kyc.resubmit", "webhook.test"])
            .prop_map(Value::from),
        1 => json_value(),
    ];
    let data = prop_oneof![
        6 => prop::collection::vec(prop::option::weighted(0.85, field_value()), 4)
            .prop_map(|values| {
                let keys = ["external_id", "status", "provisioned_participant", "provisioned_account"];
                Value::Object(
                    keys.iter()
                        .zip(values)
                        .filter_map(|(key, value)| value.map(|v| ((*key).to_owned(), v)))
                        .collect(),
                )
            }),
        1 => json_value(),
    ];
    (
        event_type,
        prop::option::of(field_value()),
        prop::option::weighted(0.9, data),
    )
        .prop_map(|(event_type, event_id, data)| {
            let mut object = Map::new();
            object.insert("event_type".into(), event_type);
            if let Some(event_id) = event_id {
                object.insert("event_id".into(), event_id);
            }
            if let Some(data) = data {
                object.insert("data".into(), data);
            }
            Value::Object(object)
        })
}

/// Bodies of every kind: objects of both forms, any JSON, JSON damaged a little, any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop::sample::select(vec!["", " ", "\u{feff}", "\n\t"]);
    let object = prop_oneof![3 => flat_object(), 2 => envelope_object(), 1 => json_value()];
    prop_oneof![
        6 => (prefix, object).prop_map(|(prefix, value)| {
            let mut bytes = prefix.as_bytes().to_vec();
            bytes.extend(serde_json::to_vec(&value).unwrap());
            bytes
        }),
        2 => (flat_object(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4))
            .prop_map(|(value, edits)| damaged(serde_json::to_vec(&value).unwrap(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => prop::sample::select(vec!["", "{}", "[]", "null", "\"x\"", "{", "\u{feff}", "\u{a0}"])
            .prop_map(|body| body.as_bytes().to_vec()),
    ]
}

/// `bytes` with a few bytes replaced, inserted or removed.
fn damaged(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (at, byte, kind) in edits {
        let at = at.index(bytes.len() + 1);
        match kind {
            0 if at < bytes.len() => bytes[at] = *byte,
            1 => bytes.insert(at, *byte),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

fn check_parser(body: &[u8]) -> Result<(), TestCaseError> {
    let parsed = parse_payload(body);
    let wanted = expected(body);
    match (&parsed, &wanted) {
        (Ok(Payload::Event(event)), Expected::Event(expected)) => {
            prop_assert_eq!(event, expected)
        }
        (Ok(Payload::Ping), Expected::Ping) => {}
        (Err(error), Expected::Malformed) if !error.is_unprocessable() => {}
        (Err(error), Expected::Unprocessable) if error.is_unprocessable() => {}
        _ => prop_assert!(false, "parsed {parsed:?}, the contract says {wanted:?}"),
    }
    if let Err(error) = &parsed {
        let message = error.to_string();
        prop_assert!(
            !message.is_empty() && !message.contains('\n'),
            "one sentence: {message:?}"
        );
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn the_parser_reads_any_body_as_the_contract_says() {
    runner(2000)
        .run(&body(), |body| check_parser(&body))
        .unwrap();
}

#[test]
fn the_parser_never_panics_on_arbitrary_bytes() {
    runner(2000)
        .run(&prop::collection::vec(any::<u8>(), 0..1024), |body| {
            check_parser(&body)
        })
        .unwrap();
}

#[test]
fn an_object_naming_a_user_with_usable_fields_is_that_users_event() {
    let strategy = (
        "[^\\x00]{1,20}",
        prop::collection::vec(prop::option::of(prop::option::of(any::<String>())), 5),
    );
    runner(500)
        .run(&strategy, |(external_id, fields)| {
            let keys = [
                "decision",
                "status",
                "subStatus",
                "participantId",
                "account",
            ];
            let mut object = Map::new();
            object.insert("externalId".into(), Value::from(external_id.clone()));
            for (key, value) in keys.iter().zip(&fields) {
                if let Some(value) = value {
                    object.insert(
                        (*key).into(),
                        value.clone().map_or(Value::Null, Value::from),
                    );
                }
            }
            let body = serde_json::to_vec(&Value::Object(object)).unwrap();
            let Ok(Payload::Event(event)) = parse_payload(&body) else {
                return Err(TestCaseError::fail(format!("not an event: {body:?}")));
            };
            let shown = |i: usize| fields[i].clone().flatten().unwrap_or_default();
            prop_assert_eq!(event.external_id, external_id);
            prop_assert_eq!(
                event.state,
                UserState {
                    decision: shown(0),
                    status: shown(1),
                    sub_status: shown(2),
                    participant_id: shown(3),
                    account: shown(4),
                }
            );
            Ok(())
        })
        .unwrap();
}

/// The whole webhook handler over a real writer and SQLite file, and what it has been sent.
struct Listener {
    _scratch: tempfile::TempDir,
    db: std::path::PathBuf,
    router: axum::Router,
    writer: Arc<kyc_monitor::store::Writer>,
    token: String,
    /// The shared secret deliveries must be signed with, when signing is on.
    key: Option<Vec<u8>>,
    sent: RefCell<Sent>,
}

#[derive(Default)]
struct Sent {
    to_webhook_path: i64,
    /// Verified `webhook-id`s already answered 2xx: the same id again is a duplicate.
    answered_ids: HashSet<String>,
}

const MAX_BODY: usize = 1024;

impl Listener {
    fn start(signed: bool, runtime: &tokio::runtime::Runtime) -> Listener {
        let scratch = tempfile::tempdir().unwrap();
        let db = scratch.path().join("monitor.db");
        let store = Store::open(&db).unwrap();
        let writer = Arc::new(store.start_writer().unwrap());
        let token = runtime.block_on(writer.webhook_token()).unwrap();
        let key = signed.then(|| vec![7u8; 32]);
        let secret = key
            .as_ref()
            .map(|key| format!("whsec_{}", BASE64.encode(key)).parse().unwrap());
        let config = WebhookConfig {
            token: Some(token.clone()),
            max_body: MAX_BODY,
            signing_secret: Arc::new(SecretSource::Fixed(secret.map(SecretSet::single))),
            own_forwards: kyc_monitor::forward::own_webhook_id_prefix("properties"),
            refusals: Default::default(),
            metrics: kyc_monitor::metrics::DeliveryMetrics::off(),
        };
        Listener {
            router: ingest::router(config, writer.clone()),
            _scratch: scratch,
            db,
            writer,
            token,
            key,
            sent: RefCell::default(),
        }
    }

    fn stored_deliveries(&self) -> i64 {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.query_row("SELECT count(*) FROM deliveries", [], |row| row.get(0))
            .unwrap()
    }

    /// What the contract says this request gets.
    fn expected_status(&self, request: &Generated, on_webhook_path: bool) -> u16 {
        let method = request.method.as_str();
        if !on_webhook_path {
            return 404;
        }
        if method == "GET" || method == "HEAD" {
            return 200;
        }
        if method != "POST" {
            return 405;
        }
        if request.body.len() > MAX_BODY {
            return 413;
        }
        if self.key.is_some() {
            let Some(signature) = request.signature.as_ref().filter(|s| s.valid()) else {
                return 401;
            };
            if self.sent.borrow().answered_ids.contains(&signature.id) {
                return 200;
            }
        }
        match expected(&request.body) {
            Expected::Event(_) | Expected::Ping => 200,
            Expected::Malformed => 400,
            Expected::Unprocessable => 422,
        }
    }

    async fn check(&self, request: Generated) -> Result<(), TestCaseError> {
        let path = request.path.render(&self.token);
        let on_webhook_path =
            matches!(request.path, PathKind::Webhook | PathKind::WebhookWithQuery);
        let wanted = self.expected_status(&request, on_webhook_path);
        let mut builder = Request::builder()
            .method(request.method.as_str())
            .uri(&path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if request.content_length {
            builder = builder.header("content-length", request.body.len());
        }
        if let Some(signature) = &request.signature {
            builder = builder
                .header("webhook-id", &signature.id)
                .header("webhook-timestamp", signature.timestamp.to_string())
                .header(
                    "webhook-signature",
                    signature.header(self.key.as_deref(), &request.body),
                );
        }
        let mut http = builder.body(Body::from(request.body.clone())).unwrap();
        http.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40000))));
        let response = self.router.clone().oneshot(http).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let answer = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();

        if on_webhook_path {
            self.sent.borrow_mut().to_webhook_path += 1;
        }
        prop_assert_eq!(
            status,
            wanted,
            "{} {} answered {}",
            request.method,
            path,
            String::from_utf8_lossy(&answer)
        );
        if !answer.is_empty() {
            prop_assert_eq!(content_type.as_deref(), Some("application/json"));
            let json: Value = serde_json::from_slice(&answer).unwrap();
            if status == 200 {
                prop_assert_eq!(&json["received"], &Value::Bool(true));
            } else {
                prop_assert!(
                    json["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{json}"
                );
            }
        }
        if let (200, Some(signature), "POST") =
            (status, &request.signature, request.method.as_str())
        {
            self.sent
                .borrow_mut()
                .answered_ids
                .insert(signature.id.clone());
        }
        prop_assert_eq!(
            self.stored_deliveries(),
            self.sent.borrow().to_webhook_path,
            "every request to the webhook path is recorded, nothing else is"
        );
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum PathKind {
    Webhook,
    WebhookWithQuery,
    WrongToken,
    Bare,
    Longer,
    TrailingSlash,
    Elsewhere,
}

impl PathKind {
    fn render(&self, token: &str) -> String {
        match self {
            PathKind::Webhook => format!("/kyc-webhook/{token}"),
            PathKind::WebhookWithQuery => format!("/kyc-webhook/{token}?source=test&x"),
            PathKind::WrongToken => format!("/kyc-webhook/{}", &token[1..]),
            PathKind::Bare => "/kyc-webhook".into(),
            PathKind::Longer => format!("/kyc-webhook/{token}/more"),
            PathKind::TrailingSlash => format!("/kyc-webhook/{token}/"),
            PathKind::Elsewhere => "/api/overview".into(),
        }
    }
}

/// Standard Webhooks headers for one request, signed here, independently of the monitor.
#[derive(Debug, Clone)]
struct Signature {
    id: String,
    timestamp: i64,
    /// false: a signature by some other key.
    right_key: bool,
}

impl Signature {
    fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    /// The `webhook-signature` header: by the listener's key, or by another one.
    fn header(&self, key: Option<&[u8]>, body: &[u8]) -> String {
        let other = [9u8; 32];
        let key = key.filter(|_| self.right_key).unwrap_or(&other);
        Signature::sign(key, &self.id, self.timestamp, body)
    }

    /// Whether the contract accepts it: the right key, and a timestamp within 5 minutes.
    fn valid(&self) -> bool {
        let now = kyc_monitor::time::now_millis() / 1000;
        self.right_key && (now - self.timestamp).abs() <= 300
    }
}

#[derive(Debug, Clone)]
struct Generated {
    method: String,
    path: PathKind,
    headers: Vec<(String, String)>,
    content_length: bool,
    body: Vec<u8>,
    signature: Option<Signature>,
}

fn request(signed: bool) -> impl Strategy<Value = Generated> {
    let method = prop_oneof![
        6 => Just("POST".to_owned()),
        1 => prop::sample::select(vec!["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]).prop_map(str::to_owned),
        1 => "[A-Z]{1,8}",
    ];
    let path = prop_oneof![
        8 => Just(PathKind::Webhook),
        1 => Just(PathKind::WebhookWithQuery),
        1 => prop::sample::select(vec![
            PathKind::WrongToken, PathKind::Bare, PathKind::Longer, PathKind::TrailingSlash, PathKind::Elsewhere,
        ]),
    ];
    let header = prop_oneof![
        ("x-[a-z0-9-]{1,12}", "[ -~]{0,40}"),
        (
            Just("content-type".to_owned()),
            prop::sample::select(vec![
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "",
                "application/json; charset=utf-16",
            ])
            .prop_map(str::to_owned)
        ),
    ];
    let body = prop_oneof![
        8 => body(),
        1 => prop::collection::vec(any::<u8>(), MAX_BODY + 1..MAX_BODY + 600),
    ];
    let now = kyc_monitor::time::now_millis() / 1000;
    let signature = (
        0..4u8,
        prop::sample::select(vec![0i64, -30, 30, -3600, 3600]),
        prop::bool::weighted(0.85),
    )
        .prop_map(move |(id, offset, right_key)| Signature {
            id: format!("msg_{id}"),
            timestamp: now + offset,
            right_key,
        });
    let signature = prop::option::weighted(if signed { 0.9 } else { 0.1 }, signature);
    (
        method,
        path,
        prop::collection::vec(header, 0..4),
        any::<bool>(),
        body,
        signature,
    )
        .prop_map(
            |(method, path, headers, content_length, body, signature)| Generated {
                method,
                path,
                headers,
                content_length,
                body,
                signature,
            },
        )
}

fn run_handler_properties(signed: bool, cases: u32) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = Listener::start(signed, &runtime);
    let result = runner(cases).run(&request(signed), |request| {
        runtime.block_on(listener.check(request))
    });
    runtime.block_on(listener.writer.finish());
    result.unwrap();
}

#[test]
fn the_webhook_handler_answers_every_request_as_the_contract_says() {
    run_handler_properties(false, 250);
}

#[test]
fn the_signed_webhook_handler_answers_every_request_as_the_contract_says() {
    run_handler_properties(true, 250);
}
