//! The `--config FILE` layer: a TOML file whose keys are `serve`'s options by their long names
//! (`listen = "0.0.0.0:8787"`, `forward-to = ["https://..."]`, `keep-deliveries = 30`). Each
//! value becomes the flag it names, read by the very parser the flag has, so a file can say
//! nothing a flag could not. Precedence: the command line, then the environment, then the
//! file, then the defaults; a key the command line or the environment already set is left out.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches};

/// The largest configuration file read.
const MAX_CONFIG_FILE: u64 = 1024 * 1024;

/// What [`resolved`] says of an option without a value.
pub const NOT_SET: &str = "(not set)";

/// What `config` shows for a secret that is set.
pub const SET_NOT_SHOWN: &str = "(set, not shown)";

/// Where a resolved value came from, as `kyc-monitor config` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment(String),
    File(PathBuf),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "flag"),
            Source::Environment(name) => write!(f, "environment {name}"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Default => write!(f, "default"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not TOML: {reason}")]
    NotToml { path: PathBuf, reason: String },
    #[error("{path}: {key:?} is not an option of serve; the keys are its options' long names, such as listen, forward-to or keep-deliveries")]
    UnknownKey { path: PathBuf, key: String },
    #[error("{path}: {key} = {value}: {reason}")]
    BadValue {
        path: PathBuf,
        key: String,
        value: String,
        reason: &'static str,
    },
}

/// The file's options as command-line arguments for `command` (the `serve` command as clap
/// describes it, global options included), leaving out those `given` already has from the
/// command line or the environment. Returns them with the ids of the options they set.
pub fn file_arguments(
    command: &clap::Command,
    given: &ArgMatches,
    path: &Path,
) -> Result<(Vec<OsString>, Vec<String>), ConfigFileError> {
    let text = crate::named_file::read_text(path, MAX_CONFIG_FILE).map_err(|source| {
        ConfigFileError::Unreadable {
            path: path.to_owned(),
            source,
        }
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigFileError::NotToml {
                path: path.to_owned(),
                reason: error.message().to_owned(),
            })?;
    let mut arguments = Vec::new();
    let mut set = Vec::new();
    for (key, value) in &table {
        let bad = |reason| ConfigFileError::BadValue {
            path: path.to_owned(),
            key: key.clone(),
            value: value.to_string(),
            reason,
        };
        let Some(arg) = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(key.as_str()) && key != "config")
        else {
            return Err(ConfigFileError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
            });
        };
        let id = arg.get_id().as_str();
        if matches!(
            given.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{key}");
        let is_switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        match value {
            toml::Value::Boolean(on) if is_switch => {
                if *on {
                    arguments.push(flag.into());
                }
            }
            _ if is_switch => return Err(bad("this option is true or false")),
            toml::Value::Array(items) if repeats => {
                for item in items {
                    arguments.push(
                        format!(
                            "{flag}={}",
                            scalar(item).ok_or_else(|| bad("a list of strings or numbers"))?
                        )
                        .into(),
                    );
                }
            }
            toml::Value::Array(_) => return Err(bad("this option takes one value, not a list")),
            other => {
                let text = scalar(other).ok_or_else(|| bad("a string, a number or true/false"))?;
                arguments.push(format!("{flag}={text}").into());
            }
        }
        set.push(id.to_owned());
    }
    Ok((arguments, set))
}

/// A TOML scalar as a flag's value.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(on) => Some(on.to_string()),
        _ => None,
    }
}

/// Each option of `command` as resolved in `matches`: its long name, its value as given
/// (secrets masked), and where it came from; `from_file` names the ids the file set.
pub fn resolved(
    command: &clap::Command,
    matches: &ArgMatches,
    file: Option<&Path>,
    from_file: &[String],
) -> Vec<(String, String, Source)> {
    let mut shown = BTreeMap::new();
    for arg in command.get_arguments() {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else {
            continue;
        };
        if matches!(long, "help" | "version" | "config") {
            continue;
        }
        let source = match (matches.value_source(id), file) {
            (_, Some(path)) if from_file.iter().any(|set| set == id) => {
                Source::File(path.to_owned())
            }
            (Some(ValueSource::CommandLine), _) => Source::Flag,
            (Some(ValueSource::EnvVariable), _) => Source::Environment(
                arg.get_env()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => Source::Default,
        };
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|raw| {
                raw.map(|value| value.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // A Slack URL's path is its token: alert targets are shown masked.
        let values: Vec<String> = match long {
            "alert-to" => values
                .iter()
                .map(|v| crate::alerts::shown_target(v))
                .collect(),
            // A destination's credentials, as everywhere it is shown.
            "forward-to" => values
                .iter()
                .map(|v| crate::forward::shown_url(v))
                .collect(),
            _ => values,
        };
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        // Alert targets hide their environment's value from --help but are shown masked here.
        let secret =
            !switch && long != "alert-to" && (arg.is_hide_env_values_set() || is_secret_name(long));
        let value = match (
            values.as_slice(),
            matches!(arg.get_action(), ArgAction::Append),
        ) {
            ([], _) if switch => "false".to_owned(),
            ([], _) => NOT_SET.to_owned(),
            (_, _) if secret => SET_NOT_SHOWN.to_owned(),
            (values, true) => format!(
                "[{}]",
                values
                    .iter()
                    .map(|v| quoted(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ([one, ..], false) => quoted(one),
        };
        shown.insert(long.to_owned(), (value, source));
    }
    shown
        .into_iter()
        .map(|(name, (value, source))| (name, value, source))
        .collect()
}

fn is_secret_name(long: &str) -> bool {
    ["secret", "authtoken", "password"]
        .iter()
        .any(|part| long.contains(part))
}

/// A value as TOML would write it: numbers and booleans bare, the rest as a string.
fn quoted(value: &str) -> String {
    if value == "true" || value == "false" || value.parse::<f64>().is_ok() {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}
