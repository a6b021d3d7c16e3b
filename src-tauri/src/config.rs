//! Configuration, resolved in one place and one order: the command line's flags, then the
//! environment (clap reads both, see [`TunnelFlags`]), then the desktop app's settings file,
//! then the OS keychain for a tunnel secret still missing. The defaults are written here once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use clap::Parser;

pub mod alerts;
pub mod file;
pub mod team;

use crate::keychain;
use crate::secret::TunnelSecret;
use crate::serve::{Outbound, ServeConfig};
use crate::settings::{DesktopSettings, SettingsError};
use crate::tunnel::{TunnelOptions, TunnelSpec};

/// The webhook listener's address unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);
/// The largest body a delivery may have unless told otherwise.
pub const DEFAULT_MAX_BODY: ByteSize = ByteSize(64 * 1024);
/// The most `--max-body` may be.
const MAX_MAX_BODY: usize = 64 * 1024 * 1024;

/// A size in bytes, written `65536`, `64K`, `64KiB`, `1M` or `1MiB` (any case; binary multiples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<ByteSize, String> {
        let unreadable = || format!("{text:?} is not a size such as 65536, 64K, 64KiB or 1MiB");
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, suffix) = trimmed.split_at(split);
        let multiplier: usize = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1024,
            "m" | "mib" => 1024 * 1024,
            _ => return Err(unreadable()),
        };
        let size = digits
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .ok_or_else(unreadable)?;
        if size == 0 || size > MAX_MAX_BODY {
            return Err(format!(
                "{text:?} is out of range: choose from 1 byte to 64MiB"
            ));
        }
        Ok(ByteSize(size))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n > 0 && n % (1024 * 1024) == 0 => write!(f, "{}MiB", n / (1024 * 1024)),
            n if n > 0 && n % 1024 == 0 => write!(f, "{}KiB", n / 1024),
            n => write!(f, "{n}"),
        }
    }
}

/// A `--forward-to` destination (and the desktop setting's): an http(s) URL with a host.
pub fn forward_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an http(s) URL such as http://localhost:3000/webhooks/kyc"
        )),
    }
}

/// Where `serve` and the desktop app read the forward signing secret from the environment.
pub const FORWARD_SECRET_VARIABLE: &str = "KYC_MONITOR_FORWARD_SIGNING_SECRET";

/// The most days `--keep-deliveries` takes: a hundred years.
const MAX_KEEP_DAYS: f64 = 36_500.0;

/// `--keep-deliveries` (and the desktop setting): a positive number of days, decimals taken.
pub fn keep_days(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|days| days_kept(days).ok())
        .ok_or_else(|| format!("{text:?} is not a number of days such as 30 (or 0.5), up to 36500"))
}

/// `days` as a duration, when it is a positive number of days up to [`MAX_KEEP_DAYS`].
pub fn days_kept(days: f64) -> Result<std::time::Duration, String> {
    if days > 0.0 && days <= MAX_KEEP_DAYS {
        Ok(std::time::Duration::from_secs_f64(days * 86_400.0))
    } else {
        Err(format!(
            "{days} is not a number of days kept: choose more than 0, up to 36500"
        ))
    }
}

/// `--poll-every`: a duration such as `5m` or `30s`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollEvery(pub Option<std::time::Duration>);

pub fn poll_every(text: &str) -> Result<PollEvery, String> {
    if text.trim() == "off" {
        return Ok(PollEvery(None));
    }
    match team::parse_duration(text) {
        Ok(every) if every >= std::time::Duration::from_secs(1) => Ok(PollEvery(Some(every))),
        Ok(_) => Err(format!(
            "{text:?} is too short: poll at most every second (1s)"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a duration such as 5m or 30s, nor off"
        )),
    }
}

/// The longest `--rotation-grace`: a year.
const MAX_ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// `--rotation-grace`: a duration such as `24h` or `2s`, up to a year, or `0` for none.
pub fn rotation_grace(text: &str) -> Result<std::time::Duration, String> {
    if matches!(text.trim(), "0" | "0s") {
        return Ok(std::time::Duration::ZERO);
    }
    match team::parse_duration(text) {
        Ok(grace) if grace <= MAX_ROTATION_GRACE => Ok(grace),
        Ok(_) => Err(format!("{text:?} is too long: at most a year (365d)")),
        Err(_) => Err(format!(
            "{text:?} is not a duration such as 24h, 90m or 2s, nor 0"
        )),
    }
}

/// `--ui-deadline`: a duration from a second to an hour.
pub fn ui_deadline(text: &str) -> Result<std::time::Duration, String> {
    match team::parse_duration(text) {
        Ok(deadline)
            if (std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(3600))
                .contains(&deadline) =>
        {
            Ok(deadline)
        }
        Ok(_) => Err(format!("{text:?} is not between 1s and 1h")),
        Err(_) => Err(format!("{text:?} is not a duration such as 2m or 90s")),
    }
}

/// `--review-sla`: a duration from a second to a year.
pub fn review_sla(text: &str) -> Result<std::time::Duration, String> {
    match team::parse_duration(text) {
        Ok(sla) if sla <= std::time::Duration::from_secs(366 * 86_400) => Ok(sla),
        Ok(_) => Err(format!(
            "{text:?} is too long: a review SLA is at most a year (366d)"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a duration such as 24h, 4h30m or 2d"
        )),
    }
}

/// `--poll-rate`: requests a second, `N` or `N/s`, from 1 to 100.
pub fn poll_rate(text: &str) -> Result<u32, String> {
    let number = text.trim().trim_end_matches("/s");
    match number.parse::<u32>() {
        Ok(rate @ 1..=100) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate such as 5 (or 5/s), from 1 to 100 requests a second"
        )),
    }
}

/// What the tunnel providers take from the command line, each with its environment variable.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Tunnel options")]
pub struct TunnelFlags {
    /// ngrok: your account's authtoken [default: the OS keychain's] (flags show in ps: prefer the environment or the keychain)
    #[arg(
        long,
        env = "NGROK_AUTHTOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub ngrok_authtoken: Option<String>,
    /// ngrok: a reserved domain, for a URL that never changes.
    #[arg(long, env = "KYC_MONITOR_NGROK_DOMAIN", value_name = "DOMAIN")]
    pub ngrok_domain: Option<String>,
    /// ngrok: only these source addresses may call the webhook (repeat for more).
    #[arg(long = "ngrok-allow-cidr", value_name = "CIDR", value_parser = crate::tunnel::parse_allowed_cidr)]
    pub ngrok_allow_cidrs: Vec<String>,
    /// cloudflared: the program to run [default: cloudflared on PATH]
    #[arg(long, env = "KYC_MONITOR_CLOUDFLARED", value_name = "PATH")]
    pub cloudflared_path: Option<PathBuf>,
    /// bore: the server's shared secret [default: the OS keychain's] (flags show in ps: prefer the environment or the keychain)
    #[arg(
        long,
        env = "KYC_MONITOR_BORE_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub bore_secret: Option<String>,
    /// bore: the https:// base that a TLS proxy in front of the bore server serves.
    #[arg(long, env = "KYC_MONITOR_BORE_PUBLIC_BASE", value_name = "URL")]
    pub bore_public_base: Option<String>,
    /// bore: the public port to ask for [default: any free port, then kept on reconnects]
    #[arg(
        long,
        env = "KYC_MONITOR_BORE_PORT",
        default_value_t = 0,
        value_name = "PORT"
    )]
    pub bore_port: u16,
}

/// [`TunnelFlags`] alone, to read them from the environment where the command line has none.
#[derive(Parser)]
struct EnvironmentOnly {
    #[command(flatten)]
    tunnel: TunnelFlags,
}

impl TunnelFlags {
    /// What the environment gives (the desktop app, whose command line has no tunnel options).
    pub fn from_environment() -> TunnelFlags {
        EnvironmentOnly::try_parse_from(["kyc-monitor"])
            .map(|only| only.tunnel)
            .unwrap_or_else(|error| {
                tracing::warn!("the tunnel options in the environment are ignored: {error}");
                TunnelFlags::default()
            })
    }
}

/// The tunnel's options: the flags and the environment first, then `settings` for what they
/// left out, then the keychain for `spec`'s secret. Asks the keychain over D-Bus: call it off
/// the async workers, before the tunnel starts.
pub fn tunnel_options(
    flags: TunnelFlags,
    spec: &TunnelSpec,
    settings: Option<&DesktopSettings>,
) -> TunnelOptions {
    let mut options = TunnelOptions {
        ngrok_authtoken: TunnelSecret::given(flags.ngrok_authtoken),
        ngrok_domain: flags.ngrok_domain,
        ngrok_allow_cidrs: flags.ngrok_allow_cidrs,
        cloudflared_path: flags.cloudflared_path,
        bore_secret: TunnelSecret::given(flags.bore_secret),
        bore_public_base: flags.bore_public_base,
        bore_port: flags.bore_port,
        ..TunnelOptions::default()
    };
    if let Some(settings) = settings {
        options.cloudflared_path = options
            .cloudflared_path
            .or_else(|| settings.cloudflared_path.clone());
        options.ngrok_domain = options
            .ngrok_domain
            .or_else(|| settings.ngrok_domain.clone());
        options.bore_public_base = options
            .bore_public_base
            .or_else(|| settings.bore_public_base.clone());
        if options.ngrok_allow_cidrs.is_empty() {
            options
                .ngrok_allow_cidrs
                .clone_from(&settings.ngrok_allow_cidrs);
        }
    }
    let (slot, item) = match spec {
        TunnelSpec::Ngrok => (&mut options.ngrok_authtoken, keychain::Item::NgrokAuthtoken),
        TunnelSpec::Bore { .. } => (&mut options.bore_secret, keychain::Item::BoreSecret),
        _ => return options,
    };
    if slot.is_none() {
        match keychain::get(item) {
            Ok(found) => *slot = found,
            Err(reason) => options.keychain_unread = Some(reason.to_string()),
        }
    }
    options
}

/// What the desktop app's command line says for this run; it wins over the saved settings,
/// without changing them.
#[derive(Debug, Default)]
pub struct DesktopOverrides {
    pub db: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub tunnel: Option<TunnelSpec>,
}

/// The database the desktop app opens: the command line's, the settings', or the default.
pub fn desktop_db(
    overrides: &DesktopOverrides,
    settings: &DesktopSettings,
    default: PathBuf,
) -> PathBuf {
    overrides
        .db
        .clone()
        .or_else(|| settings.db.clone())
        .unwrap_or(default)
}

/// How the desktop app serves: the command line, the environment, the settings, the keychain.
pub fn desktop_serve_config(
    overrides: DesktopOverrides,
    settings: &DesktopSettings,
    db: PathBuf,
) -> Result<ServeConfig, SettingsError> {
    let tunnel = match overrides.tunnel {
        Some(tunnel) => tunnel,
        None => settings.tunnel_spec()?,
    };
    let listen = match overrides.listen {
        Some(listen) => listen,
        None => settings.listen_addr()?,
    };
    Ok(ServeConfig {
        db,
        listen,
        // The window calls the core in-process: no UI port.
        ui_listen: None,
        ui_port_fallback: false,
        webhook_token: true,
        max_body: DEFAULT_MAX_BODY.0,
        signing_secrets: Vec::new(),
        rotation_grace: crate::secret_file::DEFAULT_GRACE,
        demo: Default::default(),
        tunnel_options: tunnel_options(TunnelFlags::from_environment(), &tunnel, Some(settings)),
        outbound: {
            let mut outbound = desktop_outbound(settings)?;
            outbound.alerts = desktop_alerts(settings, outbound.forward_signing_secret.clone())?;
            outbound
        },
        tunnel,
        team: None,
        metrics_listen: None,
        // The default: every 5 minutes once a provider is registered.
        polling: Default::default(),
        review_sla: settings.review_sla()?,
        ui_deadline: crate::serve::UI_REQUEST_DEADLINE,
    })
}

/// The desktop app's forwarding and retention: the settings' destinations and days, signed with
/// `KYC_MONITOR_FORWARD_SIGNING_SECRET` or else the keychain's forward signing secret. Asks the
/// keychain over D-Bus (only when there is somewhere to forward to).
fn desktop_outbound(settings: &DesktopSettings) -> Result<Outbound, SettingsError> {
    let keep_deliveries = settings.keep_deliveries()?;
    let forward_to = settings
        .forward_to
        .iter()
        .map(|url| forward_url(url).map_err(|e| SettingsError::Invalid(format!("forward to: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if forward_to.is_empty() {
        return Ok(Outbound {
            keep_deliveries,
            backup_dir: settings.backup_dir.clone(),
            ..Outbound::default()
        });
    }
    let secret = match TunnelSecret::given(std::env::var(FORWARD_SECRET_VARIABLE).ok()) {
        Some(secret) => Some((secret, FORWARD_SECRET_VARIABLE)),
        None => match keychain::get(keychain::Item::ForwardSigningSecret) {
            Ok(found) => found.map(|secret| (secret, "the keychain's forward signing secret")),
            Err(reason) => {
                tracing::warn!(
                    "forwarded deliveries go unsigned: the keychain cannot be read ({reason})"
                );
                None
            }
        },
    };
    let forward_signing_secret = match secret {
        Some((secret, source)) => Some(secret.expose().parse().map_err(|e| {
            SettingsError::Invalid(format!("{source}: {e}; replace it in Settings"))
        })?),
        None => None,
    };
    Ok(Outbound {
        forward_to,
        forward_signing_secret,
        keep_deliveries,
        backup_dir: settings.backup_dir.clone(),
        ..Outbound::default()
    })
}

/// The desktop app's alerts: the same options as `serve`'s, from the environment
/// (`KYC_MONITOR_ALERT_TO`, space-separated; `KYC_MONITOR_SMTP_URL`; `KYC_MONITOR_ALERT_SILENCE`)
/// where set, else from the Settings; the SMTP password from the environment or the keychain.
/// Without targets the rules still run, for the desktop's notifications.
pub fn desktop_alerts(
    settings: &DesktopSettings,
    signing_secret: Option<crate::signature::SharedSecret>,
) -> Result<crate::alerts::AlertConfig, SettingsError> {
    let flags = alerts::AlertFlags::from_environment().map_err(SettingsError::Invalid)?;
    let flags = desktop_alert_flags(flags, settings)?;
    let mut config = alerts::alert_config(flags, None).map_err(SettingsError::Invalid)?;
    config.signing_secret = signing_secret;
    Ok(config)
}

/// The environment's alert options, the Settings' filling in what it leaves out.
fn desktop_alert_flags(
    mut flags: alerts::AlertFlags,
    settings: &DesktopSettings,
) -> Result<alerts::AlertFlags, SettingsError> {
    if flags.alert_to.is_empty() {
        flags.alert_to.clone_from(&settings.alert_to);
    }
    if flags.smtp_url.is_none() {
        flags.smtp_url = settings
            .smtp_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
    }
    if flags.alert_silence.is_none() {
        flags.alert_silence = settings
            .alert_silence
            .as_deref()
            .map(crate::alerts::parse_alert_duration)
            .transpose()
            .map_err(|e| SettingsError::Invalid(format!("alert silence: {e}")))?;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_show_in_binary_multiples() {
        for (text, bytes) in [
            ("65536", 65536),
            ("64K", 65536),
            ("64kib", 65536),
            ("1MiB", 1 << 20),
        ] {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in ["", "64KB", "0", "65MiB", "-1", "1.5M"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(DEFAULT_MAX_BODY.to_string(), "64KiB");
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }

    #[test]
    fn flags_and_environment_win_over_settings() {
        let settings = DesktopSettings {
            ngrok_domain: Some("from-settings.example".into()),
            bore_public_base: Some("https://settings.example".into()),
            ..DesktopSettings::default()
        };
        let flags = TunnelFlags {
            ngrok_domain: Some("from-flags.example".into()),
            ..TunnelFlags::default()
        };
        let options = tunnel_options(flags, &TunnelSpec::None, Some(&settings));
        assert_eq!(options.ngrok_domain.as_deref(), Some("from-flags.example"));
        assert_eq!(
            options.bore_public_base.as_deref(),
            Some("https://settings.example")
        );
    }

    #[test]
    fn the_environment_s_alert_options_win_over_the_settings_one_by_one() {
        let settings = DesktopSettings {
            alert_to: vec!["mailto:oncall@example.com".into()],
            smtp_url: Some(" smtp://alerts@127.0.0.1:2525 ".into()),
            alert_silence: Some("2h".into()),
            ..DesktopSettings::default()
        };
        let environment = alerts::AlertFlags {
            alert_to: Vec::new(),
            smtp_url: None,
            alert_from: crate::alerts::DEFAULT_FROM.into(),
            alert_silence: None,
            alert_refused_window: std::time::Duration::from_secs(300),
            alert_forward_failing_for: std::time::Duration::from_secs(900),
            alert_settle: std::time::Duration::from_secs(30),
        };
        let from_settings = desktop_alert_flags(environment.clone(), &settings).unwrap();
        assert_eq!(from_settings.alert_to, ["mailto:oncall@example.com"]);
        assert_eq!(
            from_settings.smtp_url.as_deref(),
            Some("smtp://alerts@127.0.0.1:2525")
        );
        assert_eq!(
            from_settings.alert_silence,
            Some(std::time::Duration::from_secs(7200))
        );
        let config = alerts::alert_config_with(from_settings, None, None).unwrap();
        assert_eq!(config.targets.len(), 1);
        assert_eq!(
            config.rules.silence,
            Some(std::time::Duration::from_secs(7200))
        );

        let set = alerts::AlertFlags {
            alert_to: vec!["slack:https://hooks.slack.com/services/T/B/X".into()],
            smtp_url: Some("smtp://other@127.0.0.1:25".into()),
            alert_silence: Some(std::time::Duration::from_secs(60)),
            ..environment
        };
        let from_environment = desktop_alert_flags(set, &settings).unwrap();
        assert_eq!(
            from_environment.alert_to,
            ["slack:https://hooks.slack.com/services/T/B/X"]
        );
        assert_eq!(
            from_environment.smtp_url.as_deref(),
            Some("smtp://other@127.0.0.1:25")
        );
        assert_eq!(
            from_environment.alert_silence,
            Some(std::time::Duration::from_secs(60))
        );
    }

    #[test]
    fn the_desktop_settings_backup_folder_and_retention_reach_the_monitor() {
        let settings = DesktopSettings {
            backup_dir: Some("/var/backups/kyc".into()),
            keep_deliveries_days: Some(0.5),
            ..DesktopSettings::default()
        };
        let config = desktop_serve_config(
            DesktopOverrides::default(),
            &settings,
            PathBuf::from("/tmp/kyc.db"),
        )
        .unwrap();
        assert_eq!(
            config.outbound.backup_dir,
            Some(PathBuf::from("/var/backups/kyc"))
        );
        assert_eq!(
            config.outbound.keep_deliveries,
            Some(std::time::Duration::from_secs(43_200))
        );
    }
}
