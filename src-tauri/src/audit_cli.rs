//! `audit verify` and `audit export`: the audit log read from the database file, which they
//! never create or write to (a missing file is refused, as `lookup` refuses it).

use std::io::Write;
use std::path::Path;

use kyc_monitor::export::{self, ExportError, Format};
use kyc_monitor::store::Store;

use crate::data_cli::terminal_safe;
use crate::Silent;

/// Prints `audit: N entries, chain intact`; or, exit 1, the sentence naming the first entry
/// that breaks the chain on stderr, where every command's reason for exit 1 goes.
pub(crate) fn verify(db: &Path) -> anyhow::Result<()> {
    let verdict = Store::open_existing(db)?.reader()?.verify_audit_log()?;
    match verdict.broken {
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "audit: {} entries, chain intact", verdict.entries)?;
            out.flush()?;
            Ok(())
        }
        Some(broken) => {
            // Stored texts (an actor, an action) may have been changed to anything: escaped.
            eprintln!("audit: {}", terminal_safe(&broken.to_string()));
            Err(Silent.into())
        }
    }
}

/// Writes the entries at or after `since` (Unix ms) to stdout, oldest first.
pub(crate) fn export(db: &Path, format: Format, since: Option<i64>) -> anyhow::Result<()> {
    let reader = Store::open_existing(db)?.reader()?;
    let exported = export::export_audit(&reader, since, format, std::io::stdout().lock(), |_| {});
    exported.map_err(|error| match error {
        ExportError::Write(io) => anyhow::Error::from(io),
        other => other.into(),
    })
}

/// `--since`: an RFC 3339 time, as Unix milliseconds.
pub(crate) fn parse_since(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| time.timestamp_millis())
        .map_err(|_| format!("{text:?} is not an RFC 3339 time such as 2026-11-26T10:00:00Z"))
}
