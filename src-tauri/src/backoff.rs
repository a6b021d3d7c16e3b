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
    crate::random::unit()
}

/// The longest wait a `Retry-After` may ask for: a peer asking for more is waited for an hour
/// and asked again, rather than trusted to mean days (or, wrapped, a time in the past).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The wait a response's `Retry-After` asks for (RFC 9110 §10.2.3), at most
/// [`MAX_RETRY_AFTER`]: delta-seconds of any size, or an HTTP-date (a date already past asks for
/// no wait). `None` when absent or malformed: the caller's own backoff applies.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, std::time::SystemTime::now())
}

/// [`retry_after`] on the header's text, with the clock passed in.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: past u64 (or past the cap) it is the cap, never a wrap.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or_default()
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_takes_delta_seconds_of_any_size_without_wrapping() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_takes_http_dates_in_every_form_rfc_9110_allows() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_717); // Sun, 06 Nov 1994 08:48:37 GMT
        for later in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(later, now),
                Some(Duration::from_secs(60)),
                "{later}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn a_malformed_retry_after_is_none_so_backoff_applies() {
        let now = SystemTime::now();
        for garbage in [
            "",
            "-1",
            "1.5",
            "soon",
            "0x10",
            "Sun, 99 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_its_ceiling() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(backoff.wait(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff.wait(3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff.wait(50, 1.0), Duration::from_secs(60));
        assert_eq!(backoff.wait(1, 0.0), Duration::from_millis(500));
    }
}
