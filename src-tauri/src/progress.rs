//! How far long work is (rebuild, backup, reconcile, export), on stderr only: a bar where
//! stderr is a terminal, plain lines every few seconds where it is a log or a pipe. stdout
//! keeps carrying nothing but results.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// How often a plain line is written while the work goes on.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    /// A plural noun: "deliveries", "users".
    Items(&'static str),
}

pub struct Progress {
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    Lines(PlainLines),
}

impl Progress {
    /// Starts showing the progress of `task` ("backup", "export"); `total` when known.
    pub fn start(task: &'static str, unit: Unit, total: Option<u64>) -> Progress {
        let shown = if std::io::stderr().is_terminal() {
            Shown::Bar(bar(task, unit, total))
        } else {
            Shown::Lines(PlainLines::new(task, unit, total))
        };
        Progress { shown }
    }

    pub fn set_total(&mut self, total: u64) {
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_length(total),
            Shown::Lines(lines) => lines.total = Some(total),
        }
    }

    /// How much is done so far.
    pub fn set(&mut self, done: u64) {
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_position(done),
            Shown::Lines(lines) => {
                if let Some(line) = lines.update(done, Instant::now()) {
                    print_line(&line)
                }
            }
        }
    }

    /// The work moved on to a step that cannot say how far it is ("checking the copy").
    pub fn step(&mut self, what: &str) {
        match &mut self.shown {
            Shown::Bar(bar) => {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12.cyan.bold} {spinner} {msg} ({elapsed})",
                    )
                    .expect("a valid progress template"),
                );
                bar.set_message(what.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
            }
            Shown::Lines(lines) => print_line(&format!("{}: {what}", lines.task)),
        }
    }

    /// The work is over: the bar goes away; plain lines end with the final count.
    pub fn finish(self) {
        match self.shown {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines(mut lines) => {
                if let Some(line) = lines.last() {
                    print_line(&line)
                }
            }
        }
    }
}

fn print_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "kyc-monitor: {line}");
}

fn bar(task: &'static str, unit: Unit, total: Option<u64>) -> ProgressBar {
    let Some(total) = total else {
        let bar = ProgressBar::new_spinner()
            .with_style(spinner_style())
            .with_prefix(task);
        bar.enable_steady_tick(Duration::from_millis(100));
        return bar;
    };
    let counts = match unit {
        Unit::Bytes => "{bytes}/{total_bytes}".to_owned(),
        Unit::Items(noun) => format!("{{human_pos}}/{{human_len}} {noun}"),
    };
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:>12.cyan.bold}} [{{bar:30}}] {counts} ({{eta}} left)"
    ))
    .expect("a valid progress template")
    .progress_chars("=> ");
    ProgressBar::new(total).with_style(style).with_prefix(task)
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>12.cyan.bold} {spinner} {human_pos} {msg} ({elapsed})")
        .expect("a valid progress template")
}

/// The plain form: one line when the work starts, one every [`PLAIN_EVERY`], one at the end.
struct PlainLines {
    task: &'static str,
    unit: Unit,
    total: Option<u64>,
    done: u64,
    printed: Option<(Instant, u64)>,
}

impl PlainLines {
    fn new(task: &'static str, unit: Unit, total: Option<u64>) -> PlainLines {
        PlainLines {
            task,
            unit,
            total,
            done: 0,
            printed: None,
        }
    }

    /// The line to write now, if one is due.
    fn update(&mut self, done: u64, now: Instant) -> Option<String> {
        self.done = done;
        let due = self
            .printed
            .is_none_or(|(at, _)| now.duration_since(at) >= PLAIN_EVERY);
        due.then(|| {
            self.printed = Some((now, done));
            self.describe()
        })
    }

    /// The final line, unless the last one written already said the same.
    fn last(&mut self) -> Option<String> {
        let said = self.printed.is_some_and(|(_, done)| done == self.done);
        (!said).then(|| self.describe())
    }

    fn describe(&self) -> String {
        let amount = |n: u64| match self.unit {
            Unit::Bytes => HumanBytes(n).to_string(),
            Unit::Items(_) => n.to_string(),
        };
        let noun = match self.unit {
            Unit::Bytes => String::new(),
            Unit::Items(noun) => format!(" {noun}"),
        };
        match self.total {
            Some(total) => {
                let percent = (self.done.min(total) * 100)
                    .checked_div(total)
                    .unwrap_or(100);
                format!(
                    "{}: {} of {}{noun} ({percent}%)",
                    self.task,
                    amount(self.done),
                    amount(total)
                )
            }
            None => format!("{}: {}{noun} so far", self.task, amount(self.done)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_come_at_the_start_every_two_seconds_and_at_the_end() {
        let mut lines = PlainLines::new("export", Unit::Items("users"), Some(400));
        let start = Instant::now();
        assert_eq!(
            lines.update(0, start).as_deref(),
            Some("export: 0 of 400 users (0%)")
        );
        assert_eq!(lines.update(100, start + Duration::from_millis(1500)), None);
        assert_eq!(
            lines.update(200, start + Duration::from_secs(2)).as_deref(),
            Some("export: 200 of 400 users (50%)")
        );
        assert_eq!(lines.update(300, start + Duration::from_secs(3)), None);
        assert_eq!(
            lines.last().as_deref(),
            Some("export: 300 of 400 users (75%)")
        );
    }

    #[test]
    fn the_end_is_not_repeated_and_unknown_totals_are_counted() {
        let mut lines = PlainLines::new("backup", Unit::Bytes, Some(2048));
        lines.update(2048, Instant::now());
        assert_eq!(lines.last(), None);
        let mut open = PlainLines::new("rebuild", Unit::Items("deliveries"), None);
        assert_eq!(
            open.update(7, Instant::now()).as_deref(),
            Some("rebuild: 7 deliveries so far")
        );
    }
}
