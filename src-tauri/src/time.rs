//! Times are kept as Unix milliseconds (UTC) and shown as RFC 3339 with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2026-11-26T10:00:00.123Z`.
pub fn rfc3339_millis(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_milliseconds_and_z() {
        assert_eq!(
            super::rfc3339_millis(1_795_687_200_123),
            "2026-11-26T10:00:00.123Z"
        );
        assert_eq!(super::rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
