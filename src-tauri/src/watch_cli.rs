//! `kyc-monitor watch`: the partner names users to watch, on the command line or from a CSV
//! file; through a monitor of its own, or the one that holds the database.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kyc_monitor::provider::watch::{id_problem, WatchAnswer};

use crate::provider_cli::Through;
use crate::UsageError;

/// The largest CSV file taken (about a million ids).
const MAX_CSV_FILE: u64 = 64 * 1024 * 1024;
/// Bad lines named in one refusal; the rest are counted.
const BAD_LINES_NAMED: usize = 10;

#[derive(Args)]
pub struct WatchArgs {
    /// The users' externalIds, exactly as the provider knows them.
    #[arg(
        value_name = "EXTERNAL_ID",
        required_unless_present = "from_csv",
        conflicts_with = "from_csv"
    )]
    external_ids: Vec<String>,
    /// Reads the ids from a CSV file: an `externalId` column, or one id a line without a header.
    #[arg(long, value_name = "FILE")]
    from_csv: Option<PathBuf>,
}

pub fn watch(db: PathBuf, args: WatchArgs) -> anyhow::Result<()> {
    let ids = match &args.from_csv {
        Some(path) => ids_from_csv(path)?,
        None => {
            let problems = args.external_ids.iter().enumerate().filter_map(|(n, id)| {
                id_problem(id).map(|problem| format!("argument {}: {problem}", n + 1))
            });
            refuse_bad(problems.collect())?;
            args.external_ids
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let answer = runtime.block_on(async {
        let through = Through::open(&db, "watch").await?;
        let answer = match &through {
            Through::Own(monitor) => monitor.watch(ids).await.map_err(anyhow::Error::from),
            Through::Running(running) => running.watch(&ids).await,
        };
        through.close().await;
        answer
    })?;
    let WatchAnswer { asked, new } = answer;
    writeln!(std::io::stdout().lock(), "{new} new of {asked}")?;
    Ok(())
}

/// The ids of an `externalId` column (the header names it), or one id a line. A first line of
/// several columns none of which is `externalId` refuses the file (its header would be watched
/// as an id, and its first column may be anything), as does a file with no id. Empty lines are
/// skipped; any other bad row refuses the file.
fn ids_from_csv(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = kyc_monitor::named_file::read_text(path, MAX_CSV_FILE)
        .map_err(|error| UsageError(format!("--from-csv {}: {error}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let (mut ids, mut problems, mut column) = (Vec::new(), Vec::new(), 0);
    let mut first = true;
    for record in &mut records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: not CSV ({error})"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        // A line of blanks is skipped, as an empty one is (a spreadsheet ends its export with
        // rows of empty cells, `,,`).
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) {
            if let Some(named) = record.iter().position(names_external_id) {
                column = named;
                continue;
            }
            if record.len() > 1 {
                let named: Vec<&str> = record.iter().map(str::trim).take(5).collect();
                return Err(UsageError(format!(
                    "--from-csv {}: nothing was watched: its first line has columns ({}{}) but none is named externalId; name the column of ids externalId, or give one id a line",
                    path.display(),
                    named.join(", "),
                    if record.len() > 5 { ", …" } else { "" }
                ))
                .into());
            }
        }
        match record.get(column).map(str::trim) {
            Some(id) => match id_problem(id) {
                None => ids.push(id.to_owned()),
                Some(problem) => problems.push(format!("line {line}: {problem}")),
            },
            None => problems.push(format!(
                "line {line}: no externalId (column {})",
                column + 1
            )),
        }
    }
    refuse_bad(problems)
        .map_err(|error| UsageError(format!("--from-csv {}: {error}", path.display())))?;
    if ids.is_empty() {
        return Err(UsageError(format!(
            "--from-csv {}: nothing was watched: the file holds no id (nothing, or a header alone)",
            path.display()
        ))
        .into());
    }
    Ok(ids)
}

/// Whether a header cell names the column of ids: `externalId`, however spelt (`ExternalID`,
/// `external_id`, `external id`), lest a one-column file's header be watched as a user.
fn names_external_id(cell: &str) -> bool {
    let letters: String = cell
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    letters == "externalid"
}

/// Refuses the whole list (nothing is watched) when any id in it is bad, naming where.
fn refuse_bad(problems: Vec<String>) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut sentence = problems[..problems.len().min(BAD_LINES_NAMED)].join("; ");
    if problems.len() > BAD_LINES_NAMED {
        sentence.push_str(&format!("; and {} more", problems.len() - BAD_LINES_NAMED));
    }
    Err(UsageError(format!("nothing was watched: {sentence}")).into())
}
