//! The deliveries inspector's side of the core: a delivery sent again with an edited body, and
//! where each delivery stands at the backends it is forwarded to (`serve --forward-to`), with
//! retry now and pause/resume per destination.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{CoreError, Monitor, ReplayAnswer};
use crate::ingest;
use crate::store::{Destination, ForwardState};

/// Where one delivery stands at one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ForwardState")]
pub struct ForwardStateView {
    pub destination_id: i64,
    pub url: String,
    /// The destination is paused: nothing goes out to it until it is resumed.
    pub paused: bool,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    pub next_try_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl From<ForwardState> for ForwardStateView {
    fn from(state: ForwardState) -> Self {
        ForwardStateView {
            destination_id: state.destination_id,
            url: crate::forward::shown_url(&state.url),
            paused: state.paused,
            state: state.state,
            attempts: state.attempts,
            next_try_at: state.next_try_at,
            last_attempt_at: state.last_attempt_at,
            last_status: state.last_status,
            last_error: state.last_error,
        }
    }
}

/// A delivery's forwarding: one entry per destination it was put out for (none when nothing is
/// forwarded, or the delivery was not an accepted one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Forwarding {
    pub delivery_id: i64,
    pub destinations: Vec<ForwardStateView>,
}

/// A backend deliveries are forwarded to, with its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Destination")]
pub struct DestinationView {
    pub id: i64,
    pub url: String,
    pub paused: bool,
    /// Deliveries waiting to go out to it.
    pub pending: i64,
    /// Deliveries it refused or that ran out of time.
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Destinations {
    pub destinations: Vec<DestinationView>,
}

/// What "retry now" came to: at how many destinations the delivery is due again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RetryAnswer {
    pub delivery_id: i64,
    pub destinations: i64,
}

/// A replay's request: the body to send instead of the stored one, when it was edited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    #[serde(default)]
    #[ts(optional)]
    pub body: Option<String>,
}

/// The largest edited body a replay takes (the listener's default limit).
const EDITED_BODY_LIMIT: usize = 1024 * 1024;

impl Monitor {
    /// Sends a stored delivery again, with `body` instead of its own when one is given: a new
    /// delivery marked as a local replay of the original, through the normal path.
    pub async fn replay_with(
        &self,
        id: i64,
        request: ReplayRequest,
    ) -> Result<ReplayAnswer, CoreError> {
        let Some(body) = request.body else {
            return self.replay(id).await;
        };
        if body.len() > EDITED_BODY_LIMIT {
            return Err(CoreError::Invalid(format!(
                "the edited body is {} bytes; a replay takes at most {EDITED_BODY_LIMIT}",
                body.len()
            )));
        }
        let original = self
            .read(move |reader| {
                reader
                    .delivery(id)?
                    .ok_or_else(|| CoreError::NotFound(format!("no delivery {id}")))
            })
            .await?;
        let external_id = named_user(body.as_bytes());
        let recorded = self
            .writer
            .record(ingest::replay_edited(&original, body.into_bytes()))
            .await?;
        Ok(ReplayAnswer {
            delivery_id: recorded.delivery_id,
            outcome: recorded.outcome,
            http_status: recorded.http_status,
            error: recorded.error,
            replay_of: id,
            external_id,
        })
    }

    /// Where a delivery stands at each destination it is forwarded to.
    pub async fn forwarding(&self, delivery_id: i64) -> Result<Forwarding, CoreError> {
        let destinations = self
            .read(move |reader| {
                reader
                    .delivery(delivery_id)?
                    .ok_or_else(|| CoreError::NotFound(format!("no delivery {delivery_id}")))?;
                Ok(reader.forwards_of(delivery_id)?)
            })
            .await?;
        Ok(Forwarding {
            delivery_id,
            destinations: destinations.into_iter().map(Into::into).collect(),
        })
    }

    /// The destinations of this run, with how many deliveries wait and failed at each.
    pub async fn destinations(&self) -> Result<Destinations, CoreError> {
        let destinations = self
            .read(|reader| {
                let mut found = Vec::new();
                for Destination { id, url, paused } in reader.destinations()? {
                    let (pending, failed) = reader.forward_counts(id)?;
                    found.push(DestinationView {
                        id,
                        url: crate::forward::shown_url(&url),
                        paused,
                        pending,
                        failed,
                    });
                }
                Ok(found)
            })
            .await?;
        Ok(Destinations { destinations })
    }

    /// Pauses or resumes forwarding to a destination.
    pub async fn pause_destination(
        &self,
        destination_id: i64,
        paused: bool,
    ) -> Result<Destinations, CoreError> {
        if !self
            .writer
            .pause_destination(destination_id, paused)
            .await?
        {
            return Err(CoreError::NotFound(format!(
                "no destination {destination_id}"
            )));
        }
        self.destinations().await
    }

    /// Makes a delivery due again at once wherever it is pending or failed.
    pub async fn retry_forward(&self, delivery_id: i64) -> Result<RetryAnswer, CoreError> {
        let forwards = self.forwarding(delivery_id).await?;
        if forwards.destinations.is_empty() {
            return Err(CoreError::Conflict(format!(
                "delivery {delivery_id} is not forwarded anywhere (only accepted deliveries are, while --forward-to is set)"
            )));
        }
        let count = self
            .writer
            .retry_forward(delivery_id, crate::time::now_millis())
            .await?;
        if count == 0 {
            return Err(CoreError::Conflict(format!(
                "delivery {delivery_id} was already delivered everywhere"
            )));
        }
        Ok(RetryAnswer {
            delivery_id,
            destinations: count as i64,
        })
    }
}

/// The user a body names, when it is a notification about one.
pub(super) fn named_user(body: &[u8]) -> Option<String> {
    match crate::kyc::parse_payload(body) {
        Ok(crate::kyc::Payload::Event(event)) => Some(event.external_id),
        _ => None,
    }
}
