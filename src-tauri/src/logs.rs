//! The process's log lines on stderr, from the same events either way: text for a person
//! (coloured on a terminal), or with `--log-format json` one JSON object a line (`timestamp`,
//! `level`, `target`, `message` and the event's fields at the top level) for a log shipper.

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the process's logger: `RUST_LOG` filters, else `default_filter` (such as `info`).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logger
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logger
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// A failure that may repeat many times a second (a full disk fails every commit and every
/// checkpoint): said when it starts, then at most once every `every` with how many times it
/// happened meanwhile, so the log (often on that same disk) is not flooded; and said once more
/// when it ends.
#[derive(Debug)]
pub struct Throttled {
    every: std::time::Duration,
    last_said: Option<std::time::Instant>,
    unsaid: u64,
}

impl Throttled {
    pub const fn new(every: std::time::Duration) -> Throttled {
        Throttled {
            every,
            last_said: None,
            unsaid: 0,
        }
    }

    /// It happened again: `Some(n)` when it is to be said now, `n` the times it happened
    /// since it was last said; `None` when it is to be counted only.
    pub fn failed(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.last_said {
            Some(at) if now.duration_since(at) < self.every => {
                self.unsaid += 1;
                None
            }
            _ => {
                self.last_said = Some(now);
                Some(std::mem::take(&mut self.unsaid))
            }
        }
    }

    /// It worked: `Some(n)` when it had been failing (`n` the failures not said), to be said.
    pub fn worked(&mut self) -> Option<u64> {
        self.last_said.take()?;
        Some(std::mem::take(&mut self.unsaid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_said_once_a_while_with_its_count_and_when_it_ends() {
        let mut throttled = Throttled::new(std::time::Duration::from_secs(60));
        assert_eq!(throttled.worked(), None, "nothing failed");
        assert_eq!(throttled.failed(), Some(0));
        assert_eq!(throttled.failed(), None);
        assert_eq!(throttled.failed(), None);
        assert_eq!(throttled.worked(), Some(2));
        assert_eq!(throttled.worked(), None);
        assert_eq!(
            throttled.failed(),
            Some(0),
            "a new run of failures is said at once"
        );
        let mut every_time = Throttled::new(std::time::Duration::ZERO);
        assert_eq!(every_time.failed(), Some(0));
        assert_eq!(every_time.failed(), Some(0));
    }
}
