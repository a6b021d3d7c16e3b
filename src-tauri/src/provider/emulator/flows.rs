//! The simulated users: each one's onboarding planned as steps, delivered as real webhooks
//! (optionally signed), retried with backoff on anything but a 2xx, with the trouble the
//! configuration asks for (duplicates, reordering, drops).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use serde_json::{json, Value};

use super::{ApiGeneration, Outcome, PayloadForm, Shared};
use crate::backoff::Backoff;
use crate::kyc::UserState;
use crate::signature::SharedSecret;
use crate::time::{now_millis, rfc3339_millis};

/// The longest wait between two attempts at one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One step of a user's onboarding, as delivered.
struct Step {
    state: UserState,
    /// Pause before this step happens.
    delay: Duration,
}

fn state(decision: &str, status: &str, sub_status: &str) -> UserState {
    UserState {
        decision: decision.to_owned(),
        status: status.to_owned(),
        sub_status: sub_status.to_owned(),
        participant_id: String::new(),
        account: String::new(),
    }
}

/// The steps of a user whose onboarding ends as `outcome`.
fn plan(shared: &Shared, external_id: &str, outcome: Outcome) -> Vec<Step> {
    let mut steps = vec![Step {
        state: state("", "NOT_STARTED", ""),
        delay: Duration::ZERO,
    }];
    // Some who give up never open the application at all.
    if outcome == Outcome::Abandoned && shared.chance(0.5) {
        return steps;
    }
    steps.push(Step {
        state: state("", "OPEN", "pending"),
        delay: shared.delay(800.0, 2500.0),
    });
    let last = match outcome {
        Outcome::Abandoned => return steps,
        Outcome::Held => {
            let why = HELD_FOR[shared.rng.lock().expect("rng lock").below(HELD_FOR.len())];
            steps.push(Step {
                state: state("REVIEW", "ON_HOLD", why),
                delay: shared.delay(1000.0, 3000.0),
            });
            return steps;
        }
        Outcome::Rejected => state("REJECT", "CLOSED", ""),
        Outcome::Approved => UserState {
            participant_id: format!("firms/ISV-Participant-Emulator/users/{external_id}"),
            account: format!("firms/ISV-Emulator/accounts/{}", shared.random_hex(6)),
            ..state("ACCEPT", "CLOSED", "")
        },
    };
    if shared.chance(shared.config.flows.review_rate) {
        steps.push(Step {
            state: state("REVIEW", "ON_HOLD", "Document Request Initiated"),
            delay: shared.delay(1000.0, 3000.0),
        });
        steps.push(Step {
            state: state("REVIEW", "OPEN", "Documents Received"),
            delay: shared.delay(1500.0, 4000.0),
        });
    }
    steps.push(Step {
        state: last,
        delay: shared.delay(1000.0, 3500.0),
    });
    steps
}

/// Why a user left on hold waits for a person.
const HELD_FOR: [&str; 2] = ["Document Request Initiated", "Manual Review"];

/// Each user's outcome: the configured shares, dealt exactly and shuffled.
fn deal_outcomes(shared: &Shared) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = shared
        .config
        .flows
        .outcome_counts()
        .into_iter()
        .flat_map(|(outcome, count)| std::iter::repeat_n(outcome, count as usize))
        .collect();
    let mut rng = shared.rng.lock().expect("rng lock");
    for i in (1..outcomes.len()).rev() {
        outcomes.swap(i, rng.below(i + 1));
    }
    outcomes
}

/// Waits for a registered URL, then runs every simulated user's flow.
pub(super) async fn run_flows(shared: Arc<Shared>) {
    let mut target = shared.target.subscribe();
    if target.wait_for(Option::is_some).await.is_err() {
        return;
    }
    let run = shared.random_hex(2);
    let _ = shared.ids_prefix.set(format!("user-{run}-"));
    let outcomes = deal_outcomes(&shared);
    shared
        .counters
        .planned
        .store(outcomes.len() as u64, Ordering::Relaxed);
    let mut users = tokio::task::JoinSet::new();
    for (n, outcome) in (1..).zip(outcomes) {
        let external_id = format!("user-{run}-{n:03}");
        shared
            .outcomes
            .lock()
            .expect("outcomes lock")
            .insert(external_id.clone(), outcome);
        let arrival = shared.delay(300.0, 1200.0) * n.min(50);
        let shared = shared.clone();
        users.spawn(async move {
            tokio::time::sleep(arrival).await;
            shared.counters.users.fetch_add(1, Ordering::Relaxed);
            if shared.config.flows.api == ApiGeneration::Beta {
                // Nobody may be listening (a run without a partner backend): that is fine. Once
                // someone is, the flow waits until they know the user, as a partner's backend
                // does before the provider starts it (a final outcome arriving first would
                // leave the user's NOT_STARTED unseen).
                let (known, learned) = tokio::sync::oneshot::channel();
                let user = super::StartedUser {
                    external_id: external_id.clone(),
                    known,
                };
                let waits = shared.handed_over.load(Ordering::SeqCst);
                if shared.started.send(user).is_ok() && waits {
                    let _ = learned.await;
                }
            }
            run_user(&shared, &external_id, outcome).await;
            if outcome == Outcome::Abandoned {
                shared
                    .gave_up
                    .lock()
                    .expect("gave_up lock")
                    .push(external_id);
            }
            shared
                .counters
                .ended(outcome)
                .fetch_add(1, Ordering::Relaxed);
        });
    }
    while users.join_next().await.is_some() {}
    let summary = shared.summary();
    tracing::info!(%summary, "emulator: every flow is delivered");
    shared.finished.send_replace(true);
}

async fn run_user(shared: &Shared, external_id: &str, outcome: Outcome) {
    let steps = plan(shared, external_id, outcome);
    let newer = match shared.config.flows.api {
        ApiGeneration::Documented => None,
        ApiGeneration::Beta => Some(NewerFields::dealt(shared)),
    };
    let mut held_back: Option<(String, Value)> = None;
    for (index, step) in steps.iter().enumerate() {
        tokio::time::sleep(step.delay).await;
        let set_at = now_millis();
        shared
            .users
            .lock()
            .expect("users lock")
            .insert(external_id.to_owned(), step.state.clone());
        let is_last = index + 1 == steps.len();
        // The newer API tells only final outcomes; the rest waits for the status route.
        if newer.is_some() && !is_final(&step.state) {
            continue;
        }
        if shared.chance(shared.config.flows.drop_rate) {
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let id = format!("msg_{}", shared.random_hex(12));
        let body = match &newer {
            None => payload(shared, external_id, &step.state, &id),
            Some(fields) => fields.envelope(external_id, &step.state, &id, set_at),
        };
        if !is_last && held_back.is_none() && shared.chance(shared.config.flows.reorder_rate) {
            held_back = Some((id, body));
            continue;
        }
        deliver_once_or_twice(shared, &id, &body).await;
        if let Some((id, body)) = held_back.take() {
            deliver_once_or_twice(shared, &id, &body).await;
        }
    }
}

/// A state the newer API delivers: `CLOSED` with a decision.
fn is_final(state: &UserState) -> bool {
    state.status == "CLOSED" && matches!(state.decision.as_str(), "ACCEPT" | "REJECT")
}

/// Why the emulated provider rejects someone (the newer API's `rejection_reason`).
const REJECTED_FOR: [&str; 3] = [
    "identity could not be verified",
    "document expired",
    "sanctions screening match",
];

/// What the newer API says of one user beyond the state: its ids, and for some users a date
/// of birth (personal data the monitor must keep from those not allowed to see it).
struct NewerFields {
    user_id: String,
    kyc_eval_id: String,
    date_of_birth: Option<String>,
    rejection_reason: &'static str,
}

impl NewerFields {
    fn dealt(shared: &Shared) -> NewerFields {
        let with_birth_date = shared.chance(0.5);
        let mut rng = shared.rng.lock().expect("rng lock");
        let date_of_birth = with_birth_date.then(|| {
            format!(
                "{}-{:02}-{:02}",
                1950 + rng.below(55),
                1 + rng.below(12),
                1 + rng.below(28)
            )
        });
        let rejection_reason = REJECTED_FOR[rng.below(REJECTED_FOR.len())];
        drop(rng);
        NewerFields {
            user_id: format!("usr_{}", shared.random_hex(3)),
            kyc_eval_id: format!("eval_{}", shared.random_hex(3)),
            date_of_birth,
            rejection_reason,
        }
    }

    /// The newer API's envelope for a final `state`, set by the provider at `set_at` (Unix ms).
    fn envelope(&self, external_id: &str, state: &UserState, id: &str, set_at: i64) -> Value {
        let approved = state.decision == "ACCEPT";
        let mut data = json!({
            "external_id": external_id,
            "user_id": self.user_id,
            "kyc_eval_id": self.kyc_eval_id,
            "firm_id": "ISV-Emulator",
            "status": if approved { "KYC_STATUS_APPROVED" } else { "KYC_STATUS_REJECTED" },
            "status_set_at": rfc3339_millis(set_at),
        });
        if approved {
            data["provisioned_participant"] = json!(state.participant_id);
            data["provisioned_account"] = json!(state.account);
        } else {
            data["rejection_reason"] = json!(self.rejection_reason);
        }
        if let Some(date) = &self.date_of_birth {
            data["date_of_birth"] = json!(date);
        }
        json!({
            "event_type": if approved { "kyc.approved" } else { "kyc.rejected" },
            "event_id": id,
            "event_time": rfc3339_millis(now_millis()),
            "data": data,
        })
    }
}

fn payload(shared: &Shared, external_id: &str, state: &UserState, id: &str) -> Value {
    match shared.config.flows.form {
        PayloadForm::Flat => crate::kyc::flat_json(external_id, state),
        PayloadForm::Envelope => {
            let event_type = match state.decision.as_str() {
                "ACCEPT" => "kyc.approved",
                "REJECT" => "kyc.rejected",
                _ => "kyc.status_changed",
            };
            let status = match state.decision.as_str() {
                "ACCEPT" => "KYC_STATUS_APPROVED".to_owned(),
                "REJECT" => "KYC_STATUS_REJECTED".to_owned(),
                _ => state.status.clone(),
            };
            let now = rfc3339_millis(now_millis());
            json!({
                "event_type": event_type,
                "event_id": id,
                "event_time": now,
                "data": {
                    "external_id": external_id,
                    "status": status,
                    "provisioned_participant": state.participant_id,
                    "provisioned_account": state.account,
                    "status_set_at": now,
                }
            })
        }
    }
}

async fn deliver_once_or_twice(shared: &Shared, id: &str, body: &Value) {
    let acked = deliver(shared, id, body).await;
    if acked && shared.chance(shared.config.flows.duplicate_rate) {
        shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        deliver(shared, id, body).await;
    }
}

/// What the listener answered an attempt.
#[derive(Debug)]
pub(super) struct Answered {
    pub status: StatusCode,
    /// How long it asked to wait (408, 429 and 503 only).
    pub retry_after: Option<Duration>,
}

/// Delivers one webhook with retries; true once a 2xx came back.
async fn deliver(shared: &Shared, id: &str, body: &Value) -> bool {
    let flows = &shared.config.flows;
    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
    for attempt in 1..=flows.max_attempts.max(1) {
        // The latest registration wins, also for retries of older deliveries.
        let Some(target) = shared.target.borrow().clone() else {
            return false;
        };
        let answer = send(
            shared,
            &target.url,
            target.secret.as_ref(),
            id,
            body,
            flows.delivery_timeout,
        )
        .await;
        let retry_after = match &answer {
            Ok(answer) if answer.status.is_success() => {
                shared.counters.acked.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(answer) => answer.retry_after,
            Err(_) => None,
        };
        if attempt == flows.max_attempts.max(1) {
            break;
        }
        shared.counters.retried.fetch_add(1, Ordering::Relaxed);
        let backoff = Backoff {
            first: flows.retry_base,
            max: MAX_BACKOFF,
        };
        let unit = shared.rng.lock().expect("rng lock").unit();
        let wait = retry_after.map_or(backoff.wait(attempt, unit), |asked| asked.min(MAX_BACKOFF));
        tracing::debug!(
            id,
            attempt,
            ?answer,
            wait_ms = wait.as_millis() as u64,
            "emulator: delivery not acknowledged; retrying"
        );
        tokio::time::sleep(wait).await;
    }
    shared.counters.failed.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        id,
        "emulator: gave up on a delivery after {} attempts",
        flows.max_attempts
    );
    false
}

pub(super) async fn send(
    shared: &Shared,
    url: &str,
    secret: Option<&SharedSecret>,
    id: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Answered, reqwest::Error> {
    let bytes = serde_json::to_vec(body).expect("JSON serialises");
    let mut request = shared
        .http
        .post(url)
        .timeout(timeout)
        .header(header::CONTENT_TYPE, "application/json");
    let signing = shared.signing.lock().expect("signing lock").clone();
    let timestamp = now_millis() / 1000;
    let entries: Vec<String> = [
        secret.map(|secret| secret.sign(id, timestamp, &bytes)),
        signing.key.map(|key| key.sign(id, timestamp, &bytes)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !entries.is_empty() {
        let [id_name, timestamp_name, signature_name] = signing.headers.names();
        request = request
            .header(id_name, id)
            .header(timestamp_name, timestamp.to_string())
            .header(signature_name, entries.join(" "));
    }
    let response = request.body(bytes).send().await?;
    let status = response.status();
    // Honoured where the provider documents it (408, 429) and where this monitor sends it (503).
    let retry_after = [408, 429, 503]
        .contains(&status.as_u16())
        .then(|| crate::backoff::retry_after(response.headers()))
        .flatten();
    Ok(Answered {
        status,
        retry_after,
    })
}
