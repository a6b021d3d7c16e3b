//! Users to watch: the newer API names a user only once final, so the partner's side names the
//! users it started (`kyc-monitor watch`, `POST /api/watch`, the demo's emulator). Each is
//! journaled as a delivery at `NOT_STARTED` when, and only when, the user is unknown.

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use crate::kyc::{KycEvent, UserState};
use crate::store::{NewDelivery, Outcome, StoreError, Verdict, Writer};
use crate::time::now_millis;

/// Where a watched user's delivery says it came from (the inspector's remote address column).
pub const WATCHED_FROM: &str = "watch list";
/// Ids handed to the writer at once: they share its batches (one commit each).
const AT_ONCE: usize = 256;
/// The longest external id taken (the provider's ids are far shorter).
pub const MAX_ID_LENGTH: usize = 256;

/// The users to watch, as `POST /api/watch` takes them.
#[derive(Debug, Clone, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct WatchRequest {
    pub external_ids: Vec<String>,
}

/// What a watch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct WatchAnswer {
    /// The ids given (repeats included).
    pub asked: u64,
    /// The users the monitor did not know before: now on the board at `NOT_STARTED`.
    pub new: u64,
}

/// Why an id cannot be watched, in a sentence; `None` when it can.
pub fn id_problem(external_id: &str) -> Option<String> {
    if external_id.trim().is_empty() {
        Some("an external id is empty".to_owned())
    } else if external_id.len() > MAX_ID_LENGTH {
        Some(format!(
            "an external id is longer than {MAX_ID_LENGTH} bytes"
        ))
    } else if external_id.chars().any(char::is_control) {
        Some(format!(
            "the external id {external_id:?} holds a control character"
        ))
    } else {
        None
    }
}

/// Journals each unknown user of `external_ids` at `NOT_STARTED` (checked ids: see
/// [`id_problem`]); a known user, whatever its state, is left as it is.
pub async fn watch(writer: &Writer, external_ids: &[String]) -> Result<WatchAnswer, StoreError> {
    let mut answer = WatchAnswer {
        asked: external_ids.len() as u64,
        new: 0,
    };
    for chunk in external_ids.chunks(AT_ONCE) {
        let recorded = join_all(chunk.iter().map(|id| writer.record(watched(id)))).await;
        for recorded in recorded {
            if recorded?.outcome == Outcome::Accepted {
                answer.new += 1;
            }
        }
    }
    Ok(answer)
}

/// The delivery that puts `external_id` on the board: its body is the documented form, so the
/// projector (and `rebuild`) derive the user from it like any other.
fn watched(external_id: &str) -> NewDelivery {
    let state = UserState {
        status: "NOT_STARTED".to_owned(),
        ..UserState::default()
    };
    let body =
        serde_json::to_vec(&crate::kyc::flat_json(external_id, &state)).expect("JSON serialises");
    NewDelivery {
        received_at: now_millis(),
        remote_addr: WATCHED_FROM.to_owned(),
        method: "POST".to_owned(),
        headers: "[]".to_owned(),
        body_size: Some(body.len() as i64),
        body: Some(body),
        verified_webhook_id: None,
        replay_of: None,
        polled: false,
        verdict: Verdict::Watch(KycEvent {
            external_id: external_id.to_owned(),
            state,
            event_id: None,
            details: Default::default(),
        }),
    }
}
