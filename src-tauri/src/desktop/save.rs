//! Files the window hands to the user (the review queue's CSV). A web page's download link has no
//! good home in WebKitGTK: without a Downloads folder it lands in whatever folder the app was
//! started from, and the user is not told where. The window asks the app instead, which writes
//! into the user's Downloads folder under a name that replaces nothing, readable by the user
//! only (it lists users), and says where it went.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Desktop;
use crate::access::{AuditAction, AuditOutcome};
use crate::monitor::operations::{check_role, Caller, Spec, HTTP_ONLY};
use crate::monitor::queue_csv::queue_csv_name;
use crate::monitor::{ErrorBody, ErrorCode, ReviewQuery};

/// The longest name taken.
const MAX_NAME: usize = 120;

/// Saves the review queue, as its filters in `query` let users through, as CSV in the user's
/// Downloads folder (by the one CSV rule, `monitor/queue_csv.rs`), audited as an export with its
/// row count; returns the file's path.
#[tauri::command]
pub async fn save_review_csv(
    desktop: tauri::State<'_, Desktop>,
    query: ReviewQuery,
) -> Result<String, ErrorBody> {
    let monitor = super::commands::monitor(&desktop)?.clone();
    let caller = Caller::local();
    let check = check_role(&monitor, &caller, &review_csv_spec(), "review queue".into());
    check.map_err(|error| error.body())?;
    let audit = |outcome, detail: String| {
        monitor.audit(caller.entry(AuditAction::Export, "review queue", outcome, detail))
    };
    let (csv, rows) = match monitor.review_csv(query, "local").await {
        Ok(made) => made,
        Err(error) => {
            audit(AuditOutcome::Failed, error.to_string());
            return Err(error.body());
        }
    };
    let name = queue_csv_name();
    let saved = crate::blocking::off_worker(move || {
        let folder = downloads_folder().map_err(|message| ErrorBody {
            code: ErrorCode::Unavailable,
            message,
        })?;
        let (stem, extension) = checked_name(&name).map_err(|message| ErrorBody {
            code: ErrorCode::Invalid,
            message,
        })?;
        save_in(&folder, stem, extension, &csv)
            .map(|path| path.display().to_string())
            .map_err(|message| ErrorBody {
                code: ErrorCode::Unavailable,
                message,
            })
    })
    .await;
    match &saved {
        Ok(_) => audit(AuditOutcome::Ok, format!("{rows} rows")),
        Err(error) => audit(AuditOutcome::Failed, error.message.clone()),
    }
    saved
}

/// The export's declaration (its role), the same as the browser's download.
fn review_csv_spec() -> Spec {
    *HTTP_ONLY
        .iter()
        .find(|spec| spec.name == "review_csv")
        .expect("review_csv is declared")
}

/// `$XDG_DOWNLOAD_DIR` (the user's Downloads folder), or `~/Downloads`.
fn downloads_folder() -> Result<PathBuf, String> {
    dirs::download_dir()
        .or_else(|| dirs::home_dir().map(|home| home.join("Downloads")))
        .ok_or_else(|| "there is no home folder to save the file in".to_owned())
}

/// Writes `bytes` as a new file named `name` in `folder` (made if missing); when that name is
/// taken, as `name (2)`, `name (3)`, and so on.
fn save_in(folder: &Path, stem: &str, extension: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot make the folder {}: {e}", folder.display()))?;
    for copy in 1..1000 {
        let file_name = match copy {
            1 => format!("{stem}{extension}"),
            n => format!("{stem} ({n}){extension}"),
        };
        let path = folder.join(file_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        let _ = std::fs::remove_file(&path);
                        format!("cannot write {}: {e}", path.display())
                    })?;
                return Ok(path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(format!("cannot write {}: {error}", path.display())),
        }
    }
    Err(format!(
        "{} already holds 999 files named {stem}{extension}: clear some",
        folder.display()
    ))
}

/// The name split into its stem and extension, when it is a plain file name.
fn checked_name(name: &str) -> Result<(&str, &str), String> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain {
        return Err(format!(
            "{name:?} is not a file name of letters, digits, '.', '-' and '_'"
        ));
    }
    Ok(match name.rfind('.') {
        Some(dot) => name.split_at(dot),
        None => (name, ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_under_a_new_name_each_time_and_refuses_paths() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("Downloads");
        let first = save_in(&folder, "review-queue", ".csv", b"a,b\n").unwrap();
        let second = save_in(&folder, "review-queue", ".csv", b"c,d\n").unwrap();
        assert_eq!(first, folder.join("review-queue.csv"));
        assert_eq!(second, folder.join("review-queue (2).csv"));
        assert_eq!(
            std::fs::read(&first).unwrap(),
            b"a,b\n",
            "the first is kept"
        );
        assert_eq!(std::fs::read(&second).unwrap(), b"c,d\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "it lists users: the owner's only");
        }
        for bad in [
            "../escape.csv",
            "/etc/passwd",
            ".hidden.csv",
            "",
            "a b.csv",
            "x\n.csv",
        ] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 2);
    }
}
