//! The commands that read or derive, on a database a monitor may be running on: `lookup`,
//! `export`, `rebuild` and `backup`. What they print is the contract's; progress goes to
//! stderr.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use kyc_monitor::export::{self, ExportError, Format, Table};
use kyc_monitor::kyc::{NamedState, UserState};
use kyc_monitor::store::{BackupStep, EventRecord, EventSource, RebuildStep, Store, UserRecord};
use kyc_monitor::time::rfc3339_millis;
use serde::Serialize;

use crate::progress::{Progress, Unit};
use crate::NotFound;

/// Exports smaller than this show no progress: they are over before anyone would look.
const EXPORT_PROGRESS_FROM_ROWS: u64 = 1_000;

pub(crate) fn export_table(db: &Path, table: Table, format: Format) -> anyhow::Result<()> {
    let reader = settled_reader(&Store::open_existing(db)?)?;
    let noun = match table {
        Table::Users => "users",
        Table::Events => "events",
        Table::Deliveries => "deliveries",
        Table::Notes => "notes",
    };
    let mut progress = None;
    let exported = export::export(&reader, table, format, std::io::stdout().lock(), |at| {
        if at.total >= EXPORT_PROGRESS_FROM_ROWS {
            progress
                .get_or_insert_with(|| Progress::start("export", Unit::Items(noun), Some(at.total)))
                .set(at.rows);
        }
    });
    if let Some(progress) = progress {
        progress.finish()
    }
    exported.map_err(|error| match error {
        ExportError::Write(io) => anyhow::Error::from(io),
        other => other.into(),
    })
}

pub(crate) fn rebuild(store: &Store) -> anyhow::Result<()> {
    // Deliveries that arrive while it runs (a monitor on the file) are projected too.
    let mut total = store.reader()?.delivery_total()?;
    let mut progress = Progress::start("rebuild", Unit::Items("deliveries"), Some(total));
    let events = store.rebuild_with_progress(|step| match step {
        RebuildStep::Projected(projected) => {
            let projected = projected.max(0) as u64;
            if projected > total {
                total = projected;
                progress.set_total(total);
            }
            progress.set(projected);
        }
        RebuildStep::Swapping => progress.step("building the indexes and swapping the tables in"),
    });
    progress.finish();
    println!("rebuilt events and users from {} deliveries", events?);
    Ok(())
}

pub(crate) fn backup(store: &Store, dest: &Path) -> anyhow::Result<()> {
    // Ctrl-C or SIGTERM while it copies: the copy stops at its next step and removes its
    // temporary file, rather than leave it for the next backup to the same path.
    let stop = Arc::new(AtomicBool::new(false));
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stopped = signals.block_on(async { kyc_monitor::serve::stop_signal() })?;
    let told = stop.clone();
    std::thread::spawn(move || {
        signals.block_on(stopped);
        told.store(true, Ordering::Relaxed);
    });
    let mut progress = None;
    let summary = store.backup_to_until(dest, &stop, |step| match step {
        BackupStep::Copying { copied, total } => progress
            .get_or_insert_with(|| Progress::start("backup", Unit::Bytes, Some(total)))
            .set(copied),
        BackupStep::Checking => {
            if let Some(progress) = &mut progress {
                progress.step("checking the copy")
            }
        }
    });
    if let Some(progress) = progress {
        progress.finish()
    }
    let summary = summary?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "backup: {}", summary.path.display())?;
    writeln!(out, "pages: {}", summary.pages)?;
    writeln!(out, "bytes: {}", summary.bytes)?;
    writeln!(out, "deliveries: {}", summary.deliveries)?;
    writeln!(out, "users: {}", summary.users)?;
    out.flush()?;
    Ok(())
}

/// `lookup --json` (its shape is fixed by the contract): the user as every output names it,
/// then its times, count and timeline.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LookupJson<'a> {
    #[serde(flatten)]
    user: NamedState<'a>,
    first_seen_at: String,
    last_seen_at: String,
    event_count: i64,
    /// Why the provider rejected the user, and when it set the status (the newer envelope).
    rejection_reason: Option<&'a str>,
    status_set_at: Option<String>,
    events: Vec<LookupEventJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LookupEventJson<'a> {
    received_at: String,
    #[serde(flatten)]
    state: &'a UserState,
    duplicate: bool,
    rejection_reason: Option<&'a str>,
    status_set_at: Option<String>,
    /// `webhook`, `poll` (asked of the provider's status route) or `watch` (named by the
    /// partner's side).
    source: &'static str,
    /// Only on a replay sent from the UI: the delivery it replayed, and whether it was edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_of: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited: Option<bool>,
}

/// A reader on a projection that holds every delivery journaled when it was asked for: a
/// running monitor projects within milliseconds. One left behind by a crash is said so.
pub(crate) fn settled_reader(store: &Store) -> anyhow::Result<kyc_monitor::store::Reader> {
    let reader = store.reader()?;
    let lacking = reader.settle(std::time::Duration::from_secs(2))?;
    if lacking > 0 {
        eprintln!(
            "kyc-monitor: the users and events of {} lack its {lacking} newest deliveries (kept, not yet projected): start the monitor on it, which catches up, or run `kyc-monitor rebuild`",
            store.path().display()
        );
    }
    Ok(reader)
}

pub(crate) fn lookup(store: &Store, external_id: &str, json: bool) -> anyhow::Result<()> {
    let reader = settled_reader(store)?;
    let user = reader.user(external_id)?.ok_or_else(|| {
        NotFound(format!(
            "no user with externalId {external_id:?} in {}",
            store.path().display()
        ))
    })?;
    let events = reader.user_events(external_id)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &lookup_json(&user, &events))?;
        writeln!(out)?;
    } else {
        write_lookup_text(&mut out, &user, &events)?;
    }
    out.flush()?;
    Ok(())
}

fn lookup_json<'a>(user: &'a UserRecord, events: &'a [EventRecord]) -> LookupJson<'a> {
    LookupJson {
        user: NamedState {
            external_id: &user.external_id,
            state: &user.state,
        },
        first_seen_at: rfc3339_millis(user.first_seen_at),
        last_seen_at: rfc3339_millis(user.last_seen_at),
        event_count: user.event_count,
        rejection_reason: user.rejection_reason.as_deref(),
        status_set_at: user.status_set_at.map(rfc3339_millis),
        events: events
            .iter()
            .map(|e| LookupEventJson {
                received_at: rfc3339_millis(e.received_at),
                state: &e.state,
                duplicate: e.duplicate,
                rejection_reason: e.rejection_reason.as_deref(),
                status_set_at: e.status_set_at.map(rfc3339_millis),
                source: e.source.as_str(),
                replay_of: e.replay_of,
                edited: e.replay_of.map(|_| e.edited),
            })
            .collect(),
    }
}

fn write_lookup_text(
    out: &mut impl Write,
    user: &UserRecord,
    events: &[EventRecord],
) -> std::io::Result<()> {
    let shown = |value: &str| {
        if value.is_empty() {
            "-".to_owned()
        } else {
            terminal_safe(value)
        }
    };
    let s = &user.state;
    writeln!(out, "{}", terminal_safe(&user.external_id))?;
    writeln!(out, "  decision       {}", shown(&s.decision))?;
    writeln!(out, "  status         {}", shown(&s.status))?;
    writeln!(out, "  subStatus      {}", shown(&s.sub_status))?;
    writeln!(out, "  participantId  {}", shown(&s.participant_id))?;
    writeln!(out, "  account        {}", shown(&s.account))?;
    writeln!(
        out,
        "  first seen     {}",
        rfc3339_millis(user.first_seen_at)
    )?;
    writeln!(
        out,
        "  last seen      {}",
        rfc3339_millis(user.last_seen_at)
    )?;
    writeln!(
        out,
        "  in status since {}",
        rfc3339_millis(user.status_since)
    )?;
    if let Some(set_at) = user.status_set_at {
        writeln!(
            out,
            "  status set at  {} (the provider's time)",
            rfc3339_millis(set_at)
        )?;
    }
    if let Some(reason) = &user.rejection_reason {
        writeln!(out, "  rejected for   {}", terminal_safe(reason))?;
    }
    writeln!(out)?;
    writeln!(out, "timeline ({} events, oldest first)", events.len())?;
    for e in events {
        let mut line = format!(
            "  {}  {:<11}  {:<8}",
            rfc3339_millis(e.received_at),
            shown(&e.state.status),
            shown(&e.state.decision)
        );
        if !e.state.sub_status.is_empty() {
            line.push_str(&format!("  subStatus={}", shown(&e.state.sub_status)));
        }
        if !e.state.participant_id.is_empty() {
            line.push_str(&format!(
                "  participantId={}",
                shown(&e.state.participant_id)
            ));
        }
        if !e.state.account.is_empty() {
            line.push_str(&format!("  account={}", shown(&e.state.account)));
        }
        if e.duplicate {
            line.push_str("  (duplicate)");
        }
        match e.source {
            EventSource::Poll => line.push_str("  (learned by polling)"),
            EventSource::Watch => line.push_str("  (added by watching)"),
            EventSource::Webhook => {}
        }
        if let Some(original) = e.replay_of {
            let what = if e.edited { "edited replay" } else { "replay" };
            line.push_str(&format!("  ({what} of #{original}, sent from the UI)"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A stored value as it may reach a terminal: control characters (C0, DEL, C1) and the
/// invisible and bidirectional formatting characters are written as `\u001b`-style escapes, so
/// that a payload can neither drive the terminal (clear it, retitle it) nor make text look
/// other than it is.
pub(crate) fn terminal_safe(value: &str) -> String {
    let mut safe = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() || is_invisible_format(c) {
            safe.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            safe.push(c);
        }
    }
    safe
}

/// Bidirectional marks, embeddings, overrides and isolates, zero-width characters, line and
/// paragraph separators, and the other formatting characters that show as nothing.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}
