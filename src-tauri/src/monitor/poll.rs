//! Polling that keeps the board true when the provider delivers only final outcomes (its newer
//! API): every `--poll-every`, and at once at start (the monitor may have been down), ask the
//! status route about each user not CLOSED, those unheard of longest first, at most
//! `--poll-rate` requests a second (the client waits out 429 and `Retry-After`). What differs
//! is recorded as a polled delivery; a state already known stores nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::readers::ReaderPool;
use super::work::{WorkKind, WorkSlot};
use super::WorkBoard;
use crate::provider::actions::{record_polled, ProviderHub};
use crate::provider::ProviderClient;
use crate::store::Writer;

/// Users read per page while polling.
const POLL_PAGE: u32 = 200;

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
    /// registered yet (nor a demo) asks nobody and looks again at the next turn.
    pub async fn run(self, polling: Polling, mut stopping: watch::Receiver<bool>) {
        let Some(every) = polling.every else { return };
        let rate = polling.rate.max(1);
        loop {
            let turn = async {
                match self.hub.client().await {
                    Ok(Some(client)) => self.poll(&client, rate, every).await,
                    Ok(None) => {}
                    Err(error) => tracing::warn!("polling: no provider to ask: {error}"),
                }
                tokio::time::sleep(every).await;
            };
            tokio::select! {
                () = turn => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One poll: every user not CLOSED heard of before it began, at most `rate` a second.
    async fn poll(&self, client: &ProviderClient, rate: u32, every: Duration) {
        let began = crate::time::now_millis();
        let total = self
            .readers
            .read(|reader| reader.unclosed_user_total())
            .await;
        let Ok(slot) = WorkSlot::claim(&self.work, WorkKind::Poll, "users", total.ok()) else {
            return;
        };
        let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut asked, mut learned, mut after) = (0u64, 0u64, None);
        let outcome = loop {
            let from = after.clone();
            let page = self
                .readers
                .read(move |reader| reader.unclosed_users_unheard_longest(began, from, POLL_PAGE))
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => break Err(error.to_string()),
            };
            let Some(last) = page.last() else {
                break Ok(());
            };
            after = Some((last.last_seen_at, last.external_id.clone()));
            for user in page {
                pace.tick().await;
                asked += 1;
                match client.status(&user.external_id).await {
                    Ok(Some(state)) if state != user.state => {
                        if let Err(error) =
                            record_polled(&self.writer, client, &user.external_id, &state).await
                        {
                            return slot.finish(Err(error.to_string()));
                        }
                        learned += 1;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        return slot.finish(Err(format!("stopped after {asked} users: {error}")))
                    }
                }
                slot.progress(asked, None);
            }
        };
        slot.finish(outcome.map(|()| {
            format!(
                "{asked} users asked, {learned} learned; the next poll in {}s",
                every.as_secs()
            )
        }));
    }
}
