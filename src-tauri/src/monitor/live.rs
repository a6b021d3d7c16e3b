//! The live feed as a typed stream: every projected delivery (with the user's new state), the
//! tunnel's and the store's changes, each new audit entry, case work, each alert rule's start
//! and resolve, and a resync when a follower fell
//! too far behind. The
//! browser reads it as Server-Sent Events, the desktop window as Tauri events, the tray and the
//! notifications as it is.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::{
    AuditEntryView, CaseView, ChangeView, CoreError, LiveEvent, Monitor, Resync, StoreHealth,
    UserView, WorkBoard,
};
use crate::alerts::{AlertEvent, AlertMessage};
use crate::store::{AuditRecord, Change, StoreProblem};
use crate::tunnel::TunnelState;

/// Past this many missed changes, a resuming follower is told to reload instead.
const CATCH_UP_LIMIT: u32 = 1000;
/// Case-work events a slow follower may fall behind before it is told to reload.
pub(super) const CASE_BACKLOG: usize = 1024;

pub type LiveStream = Pin<Box<dyn Stream<Item = LiveEvent> + Send>>;

impl Monitor {
    /// Follows the monitor from now on, or, with `resume`, from just after that delivery id
    /// (what a follower saw last). Ends when the monitor stops.
    pub async fn changes(self: &Arc<Self>, resume: Option<i64>) -> Result<LiveStream, CoreError> {
        // Subscribe before reading the backlog, so nothing falls between the two.
        let live = self.writer.subscribe();
        let audit = self.writer.audit_appended();
        let cases = self.cases.subscribe();
        let alerts = self.alerts().messages();
        let (after, backlog) = self
            .read(move |reader| {
                let after = match resume {
                    Some(after) => after,
                    None => reader.projected_through()?,
                };
                Ok((after, reader.changes_after(after, CATCH_UP_LIMIT + 1)?))
            })
            .await?;
        let behind = backlog.len() > CATCH_UP_LIMIT as usize;
        let mut tunnel = self.tunnel.clone();
        tunnel.mark_unchanged();
        let mut health = self.writer.health();
        health.mark_unchanged();
        let mut work = self.work.subscribe();
        work.mark_unchanged();
        let follower = Follower {
            monitor: self.clone(),
            tunnel,
            health,
            work,
            live,
            audit,
            cases,
            alerts,
            stopping: self.stopping.clone(),
            backlog: backlog.into_iter(),
            last_sent: after,
            behind,
        };
        Ok(Box::pin(stream::unfold(
            follower,
            |mut follower| async move {
                let event = follower.next_event().await?;
                Some((event, follower))
            },
        )))
    }
}

struct Follower {
    monitor: Arc<Monitor>,
    tunnel: watch::Receiver<TunnelState>,
    health: watch::Receiver<Option<StoreProblem>>,
    work: watch::Receiver<WorkBoard>,
    live: broadcast::Receiver<Change>,
    audit: broadcast::Receiver<AuditRecord>,
    cases: broadcast::Receiver<CaseView>,
    alerts: broadcast::Receiver<AlertMessage>,
    stopping: watch::Receiver<bool>,
    backlog: std::vec::IntoIter<Change>,
    last_sent: i64,
    behind: bool,
}

impl Follower {
    async fn next_event(&mut self) -> Option<LiveEvent> {
        if std::mem::take(&mut self.behind) {
            self.backlog = Vec::new().into_iter();
            return Some(self.resync().await);
        }
        loop {
            let change = match self.backlog.next() {
                Some(change) => change,
                None => {
                    let received = tokio::select! {
                        received = self.live.recv() => received,
                        Ok(()) = self.tunnel.changed() => {
                            self.tunnel.mark_unchanged();
                            return Some(LiveEvent::Tunnel(self.monitor.tunnel()));
                        }
                        Ok(()) = self.health.changed() => {
                            let problem = self.health.borrow_and_update().clone();
                            return Some(LiveEvent::Store(StoreHealth { problem }));
                        }
                        Ok(()) = self.work.changed() => {
                            let works = self.work.borrow_and_update().values().cloned().collect();
                            return Some(LiveEvent::Work(works));
                        }
                        appended = self.audit.recv() => match appended {
                            Ok(entry) => return Some(LiveEvent::Audit(AuditEntryView::from(entry))),
                            // An Audit view that missed entries reloads, as after any resync.
                            Err(missed) => Err(missed),
                        },
                        case = self.cases.recv() => match case {
                            Ok(case) => return Some(LiveEvent::Case(case)),
                            // Missed case work: the views reload, as after any resync.
                            Err(missed) => Err(missed),
                        },
                        // Alerts missed by a slow follower are in the overview it reloads anyway.
                        Ok(message) = self.alerts.recv() => match AlertEvent::of(&message) {
                            Some(alert) => return Some(LiveEvent::Alert(alert)),
                            None => continue,
                        },
                        _ = self.stopping.wait_for(|stop| *stop) => return None,
                    };
                    match received {
                        Ok(change) => change,
                        Err(RecvError::Lagged(_)) => return Some(self.resync().await),
                        Err(RecvError::Closed) => return None,
                    }
                }
            };
            if change.delivery_id <= self.last_sent {
                continue;
            }
            self.last_sent = change.delivery_id;
            return Some(LiveEvent::Change(Box::new(self.describe(change).await)));
        }
    }

    /// Tells the follower to reload its views; the feed goes on from the newest delivery.
    async fn resync(&mut self) -> LiveEvent {
        if let Ok(latest) = self
            .monitor
            .read(|reader| Ok(reader.projected_through()?))
            .await
        {
            self.last_sent = latest;
        }
        LiveEvent::Resync(Resync {
            through: self.last_sent,
        })
    }

    /// The change with the user's state after it.
    async fn describe(&self, change: Change) -> ChangeView {
        let user = match change.external_id.clone() {
            Some(id) => self
                .monitor
                .read(move |reader| Ok(reader.user(&id)?))
                .await
                .ok()
                .flatten()
                .map(UserView::from),
            None => None,
        };
        let mut user = user;
        if let Some(user) = user.as_mut() {
            // Without its case the card would lose its assignee; a failed read leaves it out.
            let _ = self.monitor.with_cases(std::slice::from_mut(user)).await;
        }
        ChangeView {
            delivery_id: change.delivery_id,
            outcome: change.outcome,
            external_id: change.external_id,
            user,
        }
    }
}
