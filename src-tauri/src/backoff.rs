//! Waits between attempts: doubling from a first wait up to a ceiling, with jitter (between half
//! and all of the wait) so that many clients retrying the same thing do not retry in step.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `attempt` failures in a row (1 for the first); `unit` is a random number
    /// in [0, 1] that picks where between half and all of it.
    pub fn wait(&self, attempt: u32, unit: f64) -> Duration {
        let full = self
            .first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        full.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// A random number in [0, 1) from the operating system, for [`Backoff::wait`].
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
