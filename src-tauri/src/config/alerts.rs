//! `serve`'s alert options (`--alert-to`, `--smtp-url`, the rules' windows), checked together.
//! Targets and the SMTP URL are read here rather than by clap's value parsers, whose errors
//! repeat the value: a Slack URL's path is its token.

use std::time::Duration;

use crate::alerts::{
    parse_alert_duration, AlertConfig, AlertTarget, RuleSettings, SmtpSettings, DEFAULT_FROM,
};
use crate::secret::TunnelSecret;

/// Where `serve` (and the desktop app) read the SMTP password: never a flag or the file.
pub const SMTP_PASSWORD_VARIABLE: &str = "KYC_MONITOR_SMTP_PASSWORD";
/// The environment's `--smtp-url`.
pub const SMTP_URL_VARIABLE: &str = "KYC_MONITOR_SMTP_URL";

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Alerts")]
pub struct AlertFlags {
    /// Sends alerts here (repeat for more): slack:URL (a Slack-compatible incoming webhook),
    /// mailto:ADDRESS (through --smtp-url) or a URL (JSON, signed with --forward-signing-secret
    /// when set); URLs are https, or http on a loopback host
    #[arg(
        long = "alert-to",
        value_name = "TARGET",
        env = "KYC_MONITOR_ALERT_TO",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub alert_to: Vec<String>,
    /// The mail server for mailto: targets, smtp://USER@HOST:PORT (STARTTLS, required off
    /// loopback) or smtps://...; the password in KYC_MONITOR_SMTP_PASSWORD. Its certificate must
    /// chain to the system's roots (SSL_CERT_FILE/SSL_CERT_DIR when set) or Mozilla's
    #[arg(long, value_name = "URL", env = SMTP_URL_VARIABLE)]
    pub smtp_url: Option<String>,
    /// The From of alert emails
    #[arg(long, value_name = "ADDRESS", default_value = DEFAULT_FROM)]
    pub alert_from: String,
    /// Alerts when no delivery came for this long (such as 2h) [default: off]
    #[arg(long, value_name = "DURATION", value_parser = parse_alert_duration, env = "KYC_MONITOR_ALERT_SILENCE")]
    pub alert_silence: Option<Duration>,
    /// The window of the refused-signature rule: 10 or more refused within it alert
    #[arg(long, value_name = "DURATION", value_parser = parse_alert_duration, default_value = "5m")]
    pub alert_refused_window: Duration,
    /// How long a forwarding destination fails (nothing delivered) before it alerts
    #[arg(long, value_name = "DURATION", value_parser = parse_alert_duration, default_value = "15m")]
    pub alert_forward_failing_for: Duration,
    /// How long a condition must hold (or stay cleared) before it alerts (or resolves): a
    /// flapping condition alerts nobody
    #[arg(long, value_name = "DURATION", value_parser = parse_alert_duration, default_value = "30s")]
    pub alert_settle: Duration,
}

#[derive(clap::Parser)]
struct EnvironmentOnly {
    #[command(flatten)]
    alerts: AlertFlags,
}

impl AlertFlags {
    /// What the environment gives (the desktop app, whose command line has no alert options).
    pub fn from_environment() -> Result<AlertFlags, String> {
        use clap::Parser;
        EnvironmentOnly::try_parse_from(["kyc-monitor"])
            .map(|only| only.alerts)
            .map_err(|error| format!("the alert options in the environment: {error}"))
    }
}

/// The alert options checked; an error names the first unusable one (never a secret). The SMTP
/// password comes from `KYC_MONITOR_SMTP_PASSWORD`, else the keychain's `smtp-password` (asked
/// over D-Bus only when `--smtp-url` names a user).
pub fn alert_config(
    flags: AlertFlags,
    public_ui_url: Option<String>,
) -> Result<AlertConfig, String> {
    let mut password = TunnelSecret::given(std::env::var(SMTP_PASSWORD_VARIABLE).ok());
    let names_user = flags
        .smtp_url
        .as_deref()
        .is_some_and(|url| reqwest::Url::parse(url.trim()).is_ok_and(|u| !u.username().is_empty()));
    if password.is_none() && names_user {
        match crate::keychain::get(crate::keychain::Item::SmtpPassword) {
            Ok(found) => password = found,
            Err(reason) => tracing::warn!(
                "alert emails go without a password: the keychain cannot be read ({reason})"
            ),
        }
    }
    alert_config_with(flags, public_ui_url, password)
}

/// As [`alert_config`], with the SMTP password already found.
pub fn alert_config_with(
    flags: AlertFlags,
    public_ui_url: Option<String>,
    password: Option<TunnelSecret>,
) -> Result<AlertConfig, String> {
    let targets = flags
        .alert_to
        .iter()
        .map(|text| text.parse::<AlertTarget>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let smtp = match &flags.smtp_url {
        Some(url) => Some(SmtpSettings::new(url, password).map_err(|e| e.to_string())?),
        None if password.is_some() && targets.iter().any(|t| t.kind() == "email") => {
            return Err(format!(
                "{SMTP_PASSWORD_VARIABLE} is set but there is no --smtp-url"
            ));
        }
        None => None,
    };
    if smtp.is_none() {
        if let Some(target) = targets.iter().find(|t| t.kind() == "email") {
            return Err(format!(
                "--alert-to {} needs --smtp-url smtp://USER@HOST:PORT to send through",
                target.shown()
            ));
        }
    }
    if flags
        .alert_from
        .parse::<lettre::message::Mailbox>()
        .is_err()
    {
        return Err(format!(
            "--alert-from {:?} is not an address such as \"KYC Monitor <kyc@example.com>\"",
            flags.alert_from
        ));
    }
    Ok(AlertConfig {
        targets,
        smtp,
        from: flags.alert_from,
        rules: RuleSettings {
            silence: flags.alert_silence,
            refused_window: flags.alert_refused_window,
            forward_failing_for: flags.alert_forward_failing_for,
            settle: flags.alert_settle,
        },
        public_ui_url,
        signing_secret: None,
    })
}
