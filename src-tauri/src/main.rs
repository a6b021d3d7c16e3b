//! The `kyc-monitor` command line: thin adapters over the core library.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use kyc_monitor::config::{self, ByteSize, TunnelFlags, DEFAULT_LISTEN, DEFAULT_MAX_BODY};
use kyc_monitor::export::{Format, Table};
use kyc_monitor::logs::LogFormat;
use kyc_monitor::provider::{ApiGeneration, FlowConfig};
use kyc_monitor::serve::{self, ServeConfig, Server};
use kyc_monitor::signature::SigningSecret;
use kyc_monitor::store::Store;
use kyc_monitor::tunnel::TunnelSpec;

mod ask_monitor;
mod audit_cli;
mod data_cli;
mod emulate_cli;
mod progress;
mod provider_cli;
mod watch_cli;

#[derive(Parser)]
#[command(
    name = "kyc-monitor",
    version,
    about = "Receives KYC-status webhooks, keeps every delivery in SQLite and shows where each user stands.",
    after_help = "Without a command, opens the desktop app (in builds with the desktop shell)."
)]
struct Cli {
    /// The database file [default: the OS data folder, e.g. ~/.local/share/kyc-monitor/kyc-monitor.db]
    #[arg(long, global = true, env = "KYC_MONITOR_DB", value_name = "PATH")]
    db: Option<PathBuf>,

    /// Desktop app: the webhook listener's address for this run [default: from the settings, 127.0.0.1:8787]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_addr)]
    listen: Option<SocketAddr>,

    /// Desktop app: the tunnel for this run (none, ngrok, cloudflared, bore:HOST[:PORT], url:https://...)
    #[arg(long, value_name = "PROVIDER")]
    tunnel: Option<TunnelSpec>,

    /// Log lines on stderr as text, or as one JSON object a line (for a log shipper).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "KYC_MONITOR_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs headless: the webhook listener until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Shows one user's current state and full timeline, oldest first.
    Lookup {
        /// The user's externalId, exactly as the provider sends it.
        external_id: String,
        /// Prints JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Writes users (with their case: assignee and notes), events, deliveries or case notes to
    /// stdout.
    Export {
        #[arg(value_enum, default_value = "users")]
        table: Table,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
    /// Derives events and users again from the stored deliveries alone.
    Rebuild,
    /// Copies the database to a new file, also while the monitor runs; prints what it copied.
    Backup {
        /// The new file (refused if it exists; its folder must exist). Restore by using it as --db.
        dest: PathBuf,
    },
    /// Checks or exports the audit log (who looked at what, and did what).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Registers the webhook URL with the provider's API; prints validated and message.
    Register(provider_cli::RegisterArgs),
    /// Asks the provider about every user not CLOSED and records what the webhooks missed.
    Reconcile(provider_cli::ProviderArgs),
    /// Adds users to watch (the newer API names a user only once final); prints how many were new.
    Watch(watch_cli::WatchArgs),
    /// Runs a local stand-in for the provider: its API, and onboarding flows as real webhooks.
    Emulate(emulate_cli::EmulateArgs),
    /// Prints the configuration `serve` would run with (same options and --config file): each
    /// value with where it came from, secrets masked; exit 2 naming the first invalid value.
    Config(ServeArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks the audit log's hash chain: exit 0 when intact, exit 1 naming the first entry
    /// that was changed, removed or reordered.
    Verify,
    /// Writes the audit log to stdout, oldest first.
    Export {
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Only entries at or after this time (RFC 3339, e.g. 2026-11-26T10:00:00Z).
        #[arg(long, value_name = "RFC3339", value_parser = audit_cli::parse_since)]
        since: Option<i64>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Reads options from this TOML file, each by its long name (listen = "0.0.0.0:8787",
    /// forward-to = ["https://..."]); flags and the environment win over it.
    #[arg(long, env = "KYC_MONITOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Webhook listener address; port 0 takes any free port.
    #[arg(long, default_value_t = DEFAULT_LISTEN, value_name = "ADDR:PORT", value_parser = parse_addr)]
    listen: SocketAddr,
    /// Local web UI address (loopback only), or "off" [default: 127.0.0.1:8788, or a free port
    /// when that one is taken]
    #[arg(long, value_name = "ADDR:PORT|off", value_parser = parse_ui_listen)]
    ui_listen: Option<UiListen>,
    /// How the provider reaches the listener: none, ngrok, cloudflared, bore:HOST[:PORT] or url:https://...
    #[arg(long, default_value = "none", value_name = "PROVIDER")]
    tunnel: TunnelSpec,
    #[command(flatten)]
    tunnel_options: TunnelFlags,
    /// Serves the webhook at the bare /kyc-webhook instead of /kyc-webhook/TOKEN.
    #[arg(long)]
    no_webhook_token: bool,
    /// Requires deliveries signed with this Standard Webhooks secret: whsec_... (with or without
    /// the prefix and padding; v1 entries) or a whpk_... Ed25519 public key (v1a entries).
    /// Repeat it during a rotation: a delivery signed with any of them is accepted (in the
    /// environment variable, separate them with commas or spaces).
    #[arg(
        long,
        env = "KYC_MONITOR_SIGNING_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    signing_secret: Vec<String>,
    /// How long a registration with a new signing secret (register, the UI's form) keeps the
    /// replaced one valid: a duration such as 24h, 90m or 2s, or 0 for none
    #[arg(long, value_name = "DURATION", value_parser = config::rotation_grace, default_value = "24h")]
    rotation_grace: std::time::Duration,
    /// Largest body accepted, in bytes (K, KiB, M, MiB suffixes accepted).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY, value_name = "SIZE")]
    max_body: ByteSize,
    /// Runs the built-in provider emulator, registers this listener with it and lets simulated
    /// users flow in. Without --db, uses a demo database of its own.
    #[arg(long)]
    demo: bool,
    /// How many simulated users the demo brings (this and the other --demo-* options also set
    /// what the UI's Start demo runs).
    #[arg(long, default_value_t = FlowConfig::demo().users, value_name = "N")]
    demo_users: u32,
    /// Divides the demo's simulated delays (1: watchable; 20: brisk).
    #[arg(long, default_value_t = 1.0, value_name = "F", value_parser = emulate_cli::parse_positive)]
    demo_speed: f64,
    /// Share of the demo's users rejected.
    #[arg(long, default_value_t = FlowConfig::demo().reject_rate, value_name = "SHARE", value_parser = emulate_cli::parse_rate)]
    demo_reject_rate: f64,
    /// Share of the demo's users left ON_HOLD for review (they wait in the review queue).
    #[arg(long, default_value_t = FlowConfig::demo().hold_rate, value_name = "SHARE", value_parser = emulate_cli::parse_rate)]
    demo_hold_rate: f64,
    /// Share of the demo's users who stop at NOT_STARTED or OPEN and never finish; the users
    /// not rejected, held or abandoned are approved.
    #[arg(long, default_value_t = FlowConfig::demo().abandon_rate, value_name = "SHARE", value_parser = emulate_cli::parse_rate)]
    demo_abandon_rate: f64,
    /// Which provider API the demo's emulator behaves as: `documented` (every status change
    /// delivered) or `beta` (only final outcomes delivered; the rest read by polling).
    #[arg(long, value_enum, default_value = "documented", value_name = "API")]
    demo_api: ApiGeneration,
    /// Forwards every accepted delivery to this URL too (repeat for more): body byte for byte,
    /// in order per user, retried for up to 24 hours, also across restarts.
    #[arg(long = "forward-to", value_name = "URL", value_parser = config::forward_url)]
    forward_to: Vec<String>,
    /// Signs forwarded deliveries (and the JSON of URL alert targets) with this Standard
    /// Webhooks secret (whsec_...), so the backend can verify them.
    #[arg(
        long,
        env = "KYC_MONITOR_FORWARD_SIGNING_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    forward_signing_secret: Option<String>,
    /// Removes the raw body and headers of deliveries older than DAYS (a decimal such as 0.5
    /// is taken); users and their timelines stay [default: keep everything]
    #[arg(long, value_name = "DAYS", value_parser = config::keep_days)]
    keep_deliveries: Option<std::time::Duration>,
    /// The only folder backups asked for from the UI may be written into (symbolic links out
    /// of it are refused) [default: any absolute path the process may write]
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// A review case whose clock (time in the queue, waits on the customer left out) passes this
    /// is over its SLA: marked in the queue, counted in the top bar and the tray
    #[arg(long, value_name = "DURATION", value_parser = config::review_sla, default_value = "24h")]
    review_sla: std::time::Duration,
    /// The longest the UI API takes to answer before it says 504 (a change asked for, such as a
    /// reconcile, goes on to its end after it; `kyc-monitor reconcile` follows it there)
    #[arg(long, value_name = "DURATION", value_parser = config::ui_deadline, default_value = "2m")]
    ui_deadline: std::time::Duration,
    /// How often to ask the provider for the state of users not CLOSED, those unheard of
    /// longest first (`off` to stop); once a provider is registered, or the demo runs
    #[arg(long, value_name = "DURATION", value_parser = config::poll_every, default_value = "5m")]
    poll_every: config::PollEvery,
    /// Most status requests a second while polling (`N` or `N/s`)
    #[arg(long, value_name = "N", value_parser = config::poll_rate, default_value = "5")]
    poll_rate: u32,
    #[command(flatten)]
    team: config::team::TeamFlags,
    #[command(flatten)]
    alerts: config::alerts::AlertFlags,
    /// Serves /metrics (Prometheus), /healthz and /readyz on this address (loopback only unless
    /// people sign in); the next start-up line says where [default: off]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_addr)]
    metrics_listen: Option<SocketAddr>,
}

/// A mistake in how the command was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(String);

/// Exit code 1 with nothing more to say (the command already printed why).
#[derive(Debug, thiserror::Error)]
#[error("")]
pub(crate) struct Silent;

/// A lookup or similar that found nothing: exit code 1, message only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotFound(pub(crate) String);

/// The `--config` file's layer, for `kyc-monitor config` to say where each value came from.
struct FileLayer {
    matches: clap::ArgMatches,
    path: Option<PathBuf>,
    from_file: Vec<String>,
}

/// The command line, with a `serve` or `config` command's `--config` file read in as the
/// flags it names (behind the command line and the environment). Exits 2 on a usage error.
fn parse_command_line() -> (Cli, Option<FileLayer>) {
    use clap::{CommandFactory, FromArgMatches};
    let usage = |message: String| -> ! {
        eprintln!("kyc-monitor: {message}");
        std::process::exit(2)
    };
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    command.build();
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .unwrap_or_else(|error| error.exit());
    let mut layer = None;
    let matches = match matches.subcommand() {
        Some((name @ ("serve" | "config"), given)) => {
            let serve = command.find_subcommand(name).expect("serve is a command");
            let path = given.get_one::<PathBuf>("config").cloned();
            let (extra, from_file) = match &path {
                Some(path) => config::file::file_arguments(serve, given, path)
                    .unwrap_or_else(|error| usage(error.to_string())),
                None => (Vec::new(), Vec::new()),
            };
            let matches = if extra.is_empty() {
                matches.clone()
            } else {
                let mut argv = argv.clone();
                argv.extend(extra);
                command
                    .clone()
                    .try_get_matches_from(argv)
                    .unwrap_or_else(|error| {
                        let path = path.as_deref().unwrap_or(Path::new("")).display();
                        let rendered = error.render().to_string();
                        // The sentence only, without clap's pointer to --help.
                        let sentence = rendered.split("\n\n").next().unwrap_or_default();
                        usage(format!(
                            "in {path}: {}",
                            sentence.trim_start_matches("error: ")
                        ))
                    })
            };
            let (_, given) = matches.subcommand().expect("the same command");
            layer = Some(FileLayer {
                matches: given.clone(),
                path,
                from_file,
            });
            matches
        }
        _ => matches,
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    if let (Some(Command::Serve(args)), Some(layer)) = (&mut cli.command, &layer) {
        beta_demo_polls_briskly(args, &layer.matches);
    }
    (cli, layer)
}

/// How often the beta demo polls unless `--poll-every` says: its story (users opening, held for
/// review) is told only by polling, and a demo is watched for minutes, not hours.
const BETA_DEMO_POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// `serve --demo --demo-api beta` with no `--poll-every` from any layer polls every
/// [`BETA_DEMO_POLL_EVERY`] rather than the 5 minutes a real provider is asked at.
fn beta_demo_polls_briskly(args: &mut ServeArgs, given: &clap::ArgMatches) {
    if polls_as_the_beta_demo(args, given) {
        args.poll_every = config::PollEvery(Some(BETA_DEMO_POLL_EVERY));
    }
}

/// Whether `--poll-every` is the beta demo's own default: the demo of the newer API with no
/// `--poll-every` from any layer.
fn polls_as_the_beta_demo(args: &ServeArgs, given: &clap::ArgMatches) -> bool {
    let defaulted =
        given.value_source("poll_every") == Some(clap::parser::ValueSource::DefaultValue);
    args.demo && args.demo_api == ApiGeneration::Beta && defaulted
}

fn main() -> ExitCode {
    let (cli, layer) = parse_command_line();
    let quiet = !matches!(
        cli.command,
        Some(Command::Serve(_)) | Some(Command::Emulate(_)) | None
    );
    kyc_monitor::logs::init(cli.log_format, if quiet { "warn" } else { "info" });
    match run(cli, layer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.is::<Silent>() => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("kyc-monitor: {}", describe(&error));
            if error.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli, layer: Option<FileLayer>) -> anyhow::Result<()> {
    // `config --demo` shows the database `serve --demo` would use.
    let demo = matches!(
        &cli.command,
        Some(Command::Serve(args) | Command::Config(args)) if args.demo
    );
    if cli.command.is_none() {
        return run_desktop(cli.db, cli.listen, cli.tunnel);
    }
    let db = match cli.db {
        Some(db) => db,
        None if demo => kyc_monitor::provider::actions::demo_db_beside(&default_db()?),
        None => default_db()?,
    };
    match cli.command {
        None => unreachable!("the desktop app is started above"),
        Some(Command::Serve(args)) => run_serve(db, args),
        Some(Command::Config(args)) => print_config(db, args, layer.expect("config is layered")),
        Some(Command::Lookup { external_id, json }) => {
            data_cli::lookup(&Store::open_existing(&db)?, &external_id, json)
        }
        Some(Command::Export { table, format }) => data_cli::export_table(&db, table, format),
        Some(Command::Backup { dest }) => data_cli::backup(&Store::open_existing(&db)?, &dest),
        Some(Command::Register(args)) => provider_cli::register(db, args),
        Some(Command::Reconcile(args)) => provider_cli::reconcile(db, args),
        Some(Command::Watch(args)) => watch_cli::watch(db, args),
        Some(Command::Emulate(args)) => emulate_cli::emulate(args),
        Some(Command::Rebuild) => data_cli::rebuild(&Store::open_existing(&db)?),
        Some(Command::Audit { command }) => match command {
            AuditCommand::Verify => audit_cli::verify(&db),
            AuditCommand::Export { format, since } => audit_cli::export(&db, format, since),
        },
    }
}

#[cfg(feature = "desktop")]
fn run_desktop(
    db: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tunnel: Option<TunnelSpec>,
) -> anyhow::Result<()> {
    use kyc_monitor::desktop;
    if !desktop::has_display() {
        return Err(UsageError(
            "there is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set): run `kyc-monitor serve` and open the ui: URL it prints in a browser".into(),
        )
        .into());
    }
    desktop::run(desktop::DesktopArgs {
        overrides: kyc_monitor::config::DesktopOverrides { db, listen, tunnel },
        settings_path: desktop::settings_path(),
        default_db: default_db()?,
    })
}

#[cfg(not(feature = "desktop"))]
fn run_desktop(
    _db: Option<PathBuf>,
    _listen: Option<SocketAddr>,
    _tunnel: Option<TunnelSpec>,
) -> anyhow::Result<()> {
    Err(UsageError(
        "this build has no desktop window (it was built without the desktop feature); run `kyc-monitor serve` for the headless monitor".into(),
    )
    .into())
}

fn default_db() -> anyhow::Result<PathBuf> {
    let data = dirs::data_dir().context("no data folder is known for this user; pass --db PATH")?;
    Ok(data.join("kyc-monitor").join("kyc-monitor.db"))
}

/// `kyc-monitor config`: checks the configuration as `serve` would, then prints each option
/// with its value and where it came from (TOML, so it can start a --config file).
fn print_config(db: PathBuf, args: ServeArgs, layer: FileLayer) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let beta_demo = polls_as_the_beta_demo(&args, &layer.matches);
    serve_config(db.clone(), args)?;
    let mut command = Cli::command();
    command.build();
    let serve = command
        .find_subcommand("config")
        .expect("config is a command");
    let mut out = std::io::stdout().lock();
    for (name, value, source) in config::file::resolved(
        serve,
        &layer.matches,
        layer.path.as_deref(),
        &layer.from_file,
    ) {
        let source = source.to_string();
        let (line, source) = match (name.as_str(), value.as_str()) {
            ("db", config::file::NOT_SET) => {
                (format!("db = {:?}", db.display().to_string()), source)
            }
            // What `serve` with these options polls at, not the default it replaces.
            ("poll-every", _) if beta_demo => (
                format!("poll-every = \"{}s\"", BETA_DEMO_POLL_EVERY.as_secs()),
                "default for the beta demo".to_owned(),
            ),
            // Commented out: the file stays TOML, and says the option exists (or, for a
            // secret, that it is set: its value is never printed).
            (_, config::file::NOT_SET) => (format!("# {name} ="), source),
            (_, config::file::SET_NOT_SHOWN) => (format!("# {name} = {value}"), source),
            // Masked targets are not the ones given: a file holding them would send alerts and
            // deliveries elsewhere. Commented out, like a secret.
            ("alert-to" | "forward-to", _) if value.contains("***") => (
                format!("# {name} = {value}"),
                format!("{source}; masked, not usable as written"),
            ),
            _ => (format!("{name} = {value}"), source),
        };
        writeln!(out, "{line:<48} # {source}")?;
    }
    out.flush()?;
    Ok(())
}

/// `serve`'s options as the core takes them, every value checked (a usage error names the first
/// one that is not usable).
fn serve_config(db: PathBuf, args: ServeArgs) -> anyhow::Result<ServeConfig> {
    // One value may hold several (the environment variable's commas or spaces). The secret's
    // value never goes into a message.
    let signing_secrets = args
        .signing_secret
        .iter()
        .flat_map(|value| value.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|text| !text.is_empty())
        .enumerate()
        .map(|(n, text)| {
            text.parse::<SigningSecret>()
                .map_err(|e| UsageError(format!("--signing-secret (secret number {}): {e}", n + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ui_listen = args.ui_listen.map_or(Some(DEFAULT_UI_LISTEN), |ui| ui.0);
    let public_ui_url = args.team.public_ui_url.clone();
    let team = config::team::team_config(args.team, ui_listen).map_err(UsageError)?;
    let mut alerts =
        config::alerts::alert_config(args.alerts, public_ui_url).map_err(UsageError)?;
    if let Some(shown) = kyc_monitor::forward::twin_destinations(&args.forward_to) {
        return Err(UsageError(format!("--forward-to {shown} and another --forward-to differ only in their credentials or query values, which the monitor keeps masked (***), so it would take them for one destination: give each destination once, telling them apart in the path")).into());
    }
    if let Some(addr) = args
        .metrics_listen
        .filter(|a| team.is_none() && !a.ip().is_loopback())
    {
        return Err(UsageError(format!("--metrics-listen {addr} is not a loopback address: the metrics name forwarding destinations and counts users, so on the network they need people to sign in (--auth oidc or --auth proxy); listen on 127.0.0.1 and scrape through a proxy otherwise")).into());
    }
    let forward_signing_secret: Option<kyc_monitor::signature::SharedSecret> =
        match args.forward_signing_secret.as_deref() {
            // The secret's value never goes into a message.
            Some(text) => Some(
                text.parse()
                    .map_err(|e| UsageError(format!("--forward-signing-secret: {e}")))?,
            ),
            None => None,
        };
    alerts.signing_secret = forward_signing_secret.clone();
    Ok(ServeConfig {
        db,
        listen: args.listen,
        ui_listen,
        team,
        metrics_listen: args.metrics_listen,
        ui_port_fallback: args.ui_listen.is_none(),
        webhook_token: !args.no_webhook_token,
        max_body: args.max_body.0,
        signing_secrets,
        rotation_grace: args.rotation_grace,
        demo: serve::DemoOptions {
            at_start: args.demo,
            flows: emulate_cli::outcome_shares_checked(
                FlowConfig {
                    users: args.demo_users,
                    speed: args.demo_speed,
                    reject_rate: args.demo_reject_rate,
                    hold_rate: args.demo_hold_rate,
                    abandon_rate: args.demo_abandon_rate,
                    api: args.demo_api,
                    ..FlowConfig::demo()
                },
                "--demo-reject-rate, --demo-hold-rate and --demo-abandon-rate",
            )?,
        },
        tunnel_options: config::tunnel_options(args.tunnel_options, &args.tunnel, None),
        tunnel: args.tunnel,
        outbound: serve::Outbound {
            forward_to: args.forward_to,
            forward_signing_secret: forward_signing_secret.clone(),
            keep_deliveries: args.keep_deliveries,
            backup_dir: args.backup_dir,
            alerts,
        },
        polling: kyc_monitor::monitor::Polling {
            every: args.poll_every.0,
            rate: args.poll_rate,
        },
        review_sla: args.review_sla,
        ui_deadline: args.ui_deadline,
    })
}

fn run_serve(db: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let config = serve_config(db, args)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(config).await.map_err(|error| match error {
            // A mistake in how it was called, like any other usage error: exit 2.
            error @ (serve::ServeError::ForwardsToItself { .. }
            | serve::ServeError::TwinDestinations(_)) => {
                anyhow::Error::new(UsageError(error.to_string()))
            }
            error => error.into(),
        })?;
        let stop = serve::stop_signal().context("cannot listen for Ctrl-C and SIGTERM")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "webhook: {}", server.webhook_url())?;
        if let Some(ui) = server.ui_url() {
            writeln!(stdout, "ui: {ui}")?;
        }
        if let Some(metrics) = server.metrics_url() {
            writeln!(stdout, "metrics: {metrics}/metrics")?;
        }
        stdout.flush()?;
        drop(stdout);
        tokio::spawn(serve::print_public_urls(server.tunnel_state()));
        tracing::info!("listening for KYC webhooks");
        server.run(stop).await?;
        Ok(())
    })
}

const DEFAULT_UI_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8788);

/// `--ui-listen`: an address, or `None` for "off".
#[derive(Debug, Clone, Copy)]
struct UiListen(Option<SocketAddr>);

fn parse_ui_listen(text: &str) -> Result<UiListen, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(UiListen(None));
    }
    parse_addr(text).map(|addr| UiListen(Some(addr)))
}

/// `--forward-to`: an http or https URL with a host.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{text:?} is not an address and port such as 127.0.0.1:8787"))
}

/// The error and its causes, each said once: a message that already names its cause (`cannot
/// listen on …: Address already in use`) is not followed by that cause again.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
