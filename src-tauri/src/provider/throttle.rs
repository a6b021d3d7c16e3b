//! The provider's rate limit is the partner's, not one client's: once the provider throttles a
//! request (429 with `Retry-After`), every request from this process to that provider waits
//! until the time it named. A poll and a reconcile running at once then share the limit,
//! rather than each spending its retries on the requests the other let through.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// One gate per provider (its API base), for the life of the process.
static GATES: LazyLock<Mutex<HashMap<String, Arc<Gate>>>> = LazyLock::new(Default::default);

#[derive(Debug, Default)]
pub(super) struct Gate {
    /// No request before this time.
    open_at: Mutex<Option<Instant>>,
}

impl Gate {
    /// The gate every client of the provider at `api_base` shares.
    pub(super) fn for_provider(api_base: &str) -> Arc<Gate> {
        GATES
            .lock()
            .expect("throttle gates")
            .entry(api_base.to_owned())
            .or_default()
            .clone()
    }

    /// Waits until the provider's last `Retry-After` has passed.
    pub(super) async fn wait(&self) {
        loop {
            let open_at = *self.open_at.lock().expect("throttle gate");
            match open_at {
                Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
                _ => return,
            }
        }
    }

    /// The provider asked for `wait` before the next request.
    pub(super) fn throttled(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut open_at = self.open_at.lock().expect("throttle gate");
        if open_at.is_none_or(|at| at < until) {
            *open_at = Some(until);
        }
    }
}
