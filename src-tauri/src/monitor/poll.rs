//! Polling that keeps the board true when the provider delivers only final outcomes (its newer
//! API): every `--poll-every`, and at once at start (the monitor may have been down), ask the
//! status route about each user not CLOSED, those unheard of longest first, at most
//! `--poll-rate` requests a second (the client waits out 429 and `Retry-After`). What differs
//! is recorded as a polled delivery; a state already known stores nothing. A monitor with no
//! provider yet asks as soon as one is registered (or the demo starts). A poll cut short (the
//! provider failing, or throttling past what the client waits out) leaves a place: the next
//! poll starts after the last user asked and comes round to the rest, so that the users at the
//! head of the order cannot keep those after them from ever being asked.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::readers::ReaderPool;
use super::work::{WorkKind, WorkSlot};
use super::WorkBoard;
use crate::provider::actions::{record_polled, ProviderHub};
use crate::provider::{ProviderClient, ProviderError};
use crate::store::{StoreError, UserRecord, Writer};

/// Users read per page while polling.
const POLL_PAGE: u32 = 200;

/// How often a monitor with no provider looks for one registered meanwhile.
const NO_PROVIDER_LOOK: Duration = Duration::from_secs(10);

/// Where a user is in the poll's order: `(last_seen_at, external_id)`.
type UserKey = (i64, String);

/// `--poll-every` and `--poll-rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Polling {
    /// `None`: `--poll-every off`.
    pub every: Option<Duration>,
    /// Most status requests a second.
    pub rate: u32,
}

impl Default for Polling {
    fn default() -> Polling {
        Polling {
            every: Some(Duration::from_secs(5 * 60)),
            rate: 5,
        }
    }
}

/// What a poll needs of the monitor.
pub(super) struct Poller {
    pub hub: Arc<ProviderHub>,
    pub readers: Arc<ReaderPool>,
    pub writer: Arc<Writer>,
    pub work: watch::Sender<WorkBoard>,
}

impl Poller {
    /// Polls now and then every `every` until the monitor stops; a monitor with no provider
    /// registered yet (nor a demo) polls as soon as there is one.
    pub async fn run(self, polling: Polling, mut stopping: watch::Receiver<bool>) {
        let Some(every) = polling.every else { return };
        let rate = polling.rate.max(1);
        let mut resume = None;
        let mut provider_changes = self.hub.provider_changes();
        loop {
            let turn = async {
                provider_changes.borrow_and_update();
                let wait = match self.hub.client().await {
                    Ok(Some(client)) => {
                        resume = self.poll(&client, rate, every, resume.take()).await;
                        every
                    }
                    // Looked at again shortly too: a registration made by another process
                    // (`kyc-monitor register`) is seen only in the database.
                    Ok(None) => every.min(NO_PROVIDER_LOOK),
                    // A profile whose client cannot be made (its key file gone, say) is said
                    // once a turn, not every few seconds.
                    Err(error) => {
                        tracing::warn!("polling: no provider to ask: {error}");
                        every
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = provider_changes.changed() => {}
                }
            };
            tokio::select! {
                () = turn => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One poll: every user not CLOSED heard of before it began, at most `rate` a second,
    /// starting after `resume` (where the last poll was cut short) and coming round to the
    /// users before it. Returns where this one was cut short, if it was.
    async fn poll(
        &self,
        client: &ProviderClient,
        rate: u32,
        every: Duration,
        resume: Option<UserKey>,
    ) -> Option<UserKey> {
        let began = crate::time::now_millis();
        let total = self
            .readers
            .read(|reader| reader.unclosed_user_total())
            .await;
        let Ok(slot) = WorkSlot::claim(&self.work, WorkKind::Poll, "users", total.ok()) else {
            return resume;
        };
        let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut order = PollOrder::new(began, resume.clone());
        let (mut asked, mut learned, mut unknown, mut refused) = (0u64, 0u64, 0u64, 0u64);
        let mut last_asked = None;
        let outcome = 'pages: loop {
            let page = match order.next_page(&self.readers).await {
                Ok(page) if page.is_empty() => break Ok(()),
                Ok(page) => page,
                Err(error) => break Err(error.to_string()),
            };
            for user in page {
                pace.tick().await;
                match client.status(&user.external_id).await {
                    Ok(Some(state)) if state != user.state => {
                        // The page was read up to a page's worth of requests ago: a webhook
                        // heard since (the same state, or a newer one the status route has not
                        // caught up with) wins, and the next poll asks again.
                        match self.heard_since(&user).await {
                            Ok(true) => {}
                            Ok(false) => {
                                if let Err(error) =
                                    record_polled(&self.writer, client, &user.external_id, &state)
                                        .await
                                {
                                    break 'pages Err(error.to_string());
                                }
                                learned += 1;
                            }
                            Err(error) => break 'pages Err(error.to_string()),
                        }
                    }
                    Ok(Some(_)) => {}
                    // Watched under a wrong id, or the provider's other environment.
                    Ok(None) => unknown += 1,
                    // The provider refuses this user's id (or answers for another): a fault of
                    // the user's, not of the provider, so the poll goes on.
                    Err(
                        error @ (ProviderError::Refused { .. } | ProviderError::Unexpected { .. }),
                    ) => {
                        tracing::warn!("polling: the provider refused one user's status: {error}");
                        refused += 1
                    }
                    Err(error) => {
                        // The next poll goes on after this user (it comes round to it last):
                        // one the provider always fails on never stops every poll.
                        last_asked = Some(key_of(&user));
                        break 'pages Err(format!("stopped after {}: {error}", users(asked)));
                    }
                }
                asked += 1;
                last_asked = Some(key_of(&user));
                slot.progress(asked, None);
            }
        };
        let cut_short = outcome.is_err();
        let next_at = crate::time::now_millis() + every.as_millis() as i64;
        let outcome = outcome.map(|()| {
            let mut said = format!("{} asked, {learned} learned", users(asked));
            if unknown > 0 {
                said.push_str(&format!(", {unknown} unknown to the provider"));
            }
            if refused > 0 {
                said.push_str(&format!(", {refused} refused by it (the log says why)"));
            }
            said
        });
        // In the log too: on a server nobody watches the strip, and a provider that is down or
        // refuses the monitor's credentials must be seen where the service is looked after.
        match &outcome {
            Ok(said) => tracing::info!("polling: {said}"),
            Err(why) => tracing::warn!(
                "polling was cut short: {why}; the next poll, in {}, goes on from there",
                crate::alerts::shown_duration(every)
            ),
        }
        slot.finish_until(outcome, Some(next_at));
        // Cut short, the next poll goes on after the last user asked (or from where this one
        // started, when it asked nobody).
        match cut_short {
            true => last_asked.or(resume),
            false => None,
        }
    }
}

impl Poller {
    /// Whether the monitor has heard of the user since its page was read.
    async fn heard_since(&self, seen: &UserRecord) -> Result<bool, StoreError> {
        let id = seen.external_id.clone();
        let now = self.readers.read(move |reader| reader.user(&id)).await?;
        Ok(now.is_some_and(|user| user.last_seen_at != seen.last_seen_at))
    }
}

/// "1 user", "2 users".
pub(super) fn users(count: u64) -> String {
    match count {
        1 => "1 user".to_owned(),
        _ => format!("{count} users"),
    }
}

fn key_of(user: &UserRecord) -> UserKey {
    (user.last_seen_at, user.external_id.clone())
}

/// The users one poll asks, page by page: those not CLOSED heard of before it `began`,
/// unheard of longest first, from after the place the last poll was cut short to the end, then
/// from the start up to that place.
struct PollOrder {
    began: i64,
    /// The parts still to go, each `(after, up to and including)`.
    parts: VecDeque<(Option<UserKey>, Option<UserKey>)>,
}

impl PollOrder {
    fn new(began: i64, resume: Option<UserKey>) -> PollOrder {
        let parts = match resume {
            Some(place) => VecDeque::from([(Some(place.clone()), None), (None, Some(place))]),
            None => VecDeque::from([(None, None)]),
        };
        PollOrder { began, parts }
    }

    /// The next users to ask; none when the poll has asked them all.
    async fn next_page(
        &mut self,
        readers: &Arc<ReaderPool>,
    ) -> Result<Vec<UserRecord>, StoreError> {
        while let Some((after, until)) = self.parts.front().cloned() {
            let began = self.began;
            let mut page = readers
                .read(move |reader| reader.unclosed_users_unheard_longest(began, after, POLL_PAGE))
                .await?;
            let full = page.len() == POLL_PAGE as usize;
            if let Some(until) = &until {
                page.retain(|user| &key_of(user) <= until);
            }
            match page.last() {
                Some(last) if full && page.len() == POLL_PAGE as usize => {
                    self.parts[0].0 = Some(key_of(last));
                }
                _ => {
                    self.parts.pop_front();
                }
            }
            if !page.is_empty() {
                return Ok(page);
            }
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Every id a poll in `order` asks, page by page.
    async fn asked(mut order: PollOrder, readers: &Arc<ReaderPool>) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let page = order.next_page(readers).await.unwrap();
            if page.is_empty() {
                return ids;
            }
            ids.extend(page.into_iter().map(|user| user.external_id));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_poll_cut_short_goes_on_after_the_last_user_asked_then_comes_round() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(&folder.path().join("poll.db")).unwrap();
        let writer = store.start_writer().unwrap();
        // More than two pages, watched in this order: unheard of longest first is id order.
        let ids: Vec<String> = (0..450).map(|n| format!("u{n:03}")).collect();
        crate::provider::watch::watch(&writer, &ids).await.unwrap();
        writer.projected(Duration::from_secs(30)).await;
        let readers = Arc::new(ReaderPool::new(store));
        let began = crate::time::now_millis() + 1;

        let whole = asked(PollOrder::new(began, None), &readers).await;
        assert_eq!(whole, ids);

        // Cut short after u100: the next poll asks u101 to the end, then u000 to u100, each once.
        let cut = readers
            .read(|reader| reader.user("u100"))
            .await
            .unwrap()
            .unwrap();
        let resumed = asked(PollOrder::new(began, Some(key_of(&cut))), &readers).await;
        let expected: Vec<String> = ids[101..].iter().chain(&ids[..=100]).cloned().collect();
        assert_eq!(resumed, expected);

        writer.finish().await;
    }
}
