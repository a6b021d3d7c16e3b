//! The desktop app's settings: what the user changes in the Settings view, kept in a small JSON
//! file in the OS config folder (the database path is one of them, so they cannot live in the
//! database). No password or key is ever kept here; the file is its owner's only, as an alert
//! target's URL (a Slack webhook's) works as a credential.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tunnel::TunnelSpec;

use crate::config::DEFAULT_LISTEN;

mod alerts;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct DesktopSettings {
    /// The database file; `None` is the OS data folder's default.
    pub db: Option<PathBuf>,
    /// The webhook listener's address.
    pub listen: String,
    /// `none`, `cloudflared`, `ngrok`, `bore:HOST[:PORT]` or `url:https://...`.
    pub tunnel: String,
    pub cloudflared_path: Option<PathBuf>,
    pub ngrok_domain: Option<String>,
    /// ngrok: only these source networks may call the webhook (empty: anyone).
    pub ngrok_allow_cidrs: Vec<String>,
    pub bore_public_base: Option<String>,
    /// Every accepted delivery is forwarded to each of these URLs too (`serve --forward-to`);
    /// the signing secret for them is in the keychain.
    pub forward_to: Vec<String>,
    /// Raw deliveries older than this many days lose their body and headers
    /// (`serve --keep-deliveries`); `None` keeps everything.
    pub keep_deliveries_days: Option<f64>,
    /// When set, the only folder backups are written into (`serve --backup-dir`).
    pub backup_dir: Option<PathBuf>,
    /// A review case waiting longer than this is over its SLA (`serve --review-sla`), such as
    /// `24h` or `4h30m`.
    pub review_sla: String,
    /// Where alerts go (`serve --alert-to`): `slack:URL`, `mailto:ADDRESS` or a URL;
    /// `KYC_MONITOR_ALERT_TO` wins when set.
    pub alert_to: Vec<String>,
    /// The mail server for `mailto:` targets (`serve --smtp-url`), `smtp://USER@HOST:PORT`; its
    /// password is in the keychain. `KYC_MONITOR_SMTP_URL` wins when set.
    pub smtp_url: Option<String>,
    /// Alerts when no delivery came for this long (`serve --alert-silence`); `None`: off.
    /// `KYC_MONITOR_ALERT_SILENCE` wins when set.
    pub alert_silence: Option<String>,
    pub notify_review: bool,
    pub notify_reject: bool,
    pub notify_accept: bool,
    /// Set from the tray; kept across restarts.
    pub notifications_paused: bool,
    /// When set, the app is a window onto this team monitor (`serve --auth oidc`): no listener
    /// or tunnel of its own. The session is in the keychain, never here.
    pub team_url: Option<String>,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings {
            db: None,
            listen: DEFAULT_LISTEN.to_string(),
            tunnel: "none".to_owned(),
            cloudflared_path: None,
            ngrok_domain: None,
            ngrok_allow_cidrs: Vec::new(),
            bore_public_base: None,
            forward_to: Vec::new(),
            keep_deliveries_days: None,
            backup_dir: None,
            review_sla: "24h".to_owned(),
            alert_to: Vec::new(),
            smtp_url: None,
            alert_silence: None,
            notify_review: true,
            notify_reject: true,
            notify_accept: true,
            notifications_paused: false,
            team_url: None,
        }
    }
}

/// What the desktop window shows about the app itself: where things are, what failed at start.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DesktopStatus {
    pub settings: DesktopSettings,
    pub settings_path: PathBuf,
    pub settings_error: Option<String>,
    /// The database this run uses.
    pub db: PathBuf,
    /// Why the monitor could not start (the window then shows the settings to fix it).
    pub startup_error: Option<String>,
    pub webhook_url: Option<String>,
}

/// What saving the settings came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsSaved {
    /// Some of them apply from the next start only.
    pub restart_needed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the settings file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is damaged ({reason}); the defaults are used until you save the settings again")]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot save the settings to {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl DesktopSettings {
    /// Where the settings live: `~/.config/kyc-monitor/desktop-settings.json` on Linux.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|dir| dir.join("kyc-monitor").join("desktop-settings.json"))
    }

    /// Reads the settings; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<DesktopSettings, SettingsError> {
        match crate::named_file::read_text(path, crate::named_file::MAX_SETTINGS_FILE) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SettingsError::Damaged {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(DesktopSettings::default())
            }
            Err(source) => Err(SettingsError::Unreadable {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Checks, then writes the file atomically (a crash never leaves half a file), readable by its
    /// owner only.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        self.validate()?;
        let unwritable = |source| SettingsError::Unwritable {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(unwritable)?;
        }
        let text = serde_json::to_string_pretty(self).expect("settings serialise");
        // The owner's only: an alert target's URL (a Slack webhook's) is a credential.
        crate::private_file::replace(path, text.as_bytes()).map_err(unwritable)
    }

    /// Every value usable, or one sentence saying which is not.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.problem().map_err(SettingsError::Invalid)
    }

    fn problem(&self) -> Result<(), String> {
        let sentence = |error: SettingsError| error.to_string();
        self.listen_addr().map_err(sentence)?;
        self.tunnel_spec().map_err(sentence)?;
        for cidr in &self.ngrok_allow_cidrs {
            crate::tunnel::parse_allowed_cidr(cidr)
                .map_err(|e| format!("ngrok allowed sources: {e}"))?;
        }
        let listener = self.listen_addr().map_err(sentence)?;
        let public = match self.tunnel_spec().map_err(sentence)? {
            crate::tunnel::TunnelSpec::Url(url) => Some(url),
            _ => None,
        };
        for url in &self.forward_to {
            crate::config::forward_url(url).map_err(|e| format!("forward to: {e}"))?;
            if crate::forward::forwards_to_itself(url, listener, public.as_deref(), false) {
                return Err(format!("forward to: {} is this monitor's own webhook; every delivery would come back to it without end: forward to your backend's URL instead", crate::forward::shown_url(url)));
            }
        }
        self.keep_deliveries().map_err(sentence)?;
        self.review_sla().map_err(sentence)?;
        self.alert_problem()?;
        if let Some(folder) = &self.backup_dir {
            if !folder.is_absolute() || !folder.is_dir() {
                return Err(format!(
                    "backup folder: {} is not an existing folder given by its full path",
                    folder.display()
                ));
            }
        }
        if let Some(db) = &self.db {
            if db.as_os_str().is_empty() {
                return Err("the database path is empty: leave it unset for the default".into());
            }
            if db.is_dir() {
                return Err(format!(
                    "{} is a folder: the database is a file",
                    db.display()
                ));
            }
        }
        Ok(())
    }

    /// Whether going from `self` to `saved` needs a restart: everything but the notification
    /// choices, which apply at once.
    pub fn restart_needed_for(&self, saved: &DesktopSettings) -> bool {
        let without_notifications = |settings: &DesktopSettings| DesktopSettings {
            notify_review: false,
            notify_reject: false,
            notify_accept: false,
            notifications_paused: false,
            ..settings.clone()
        };
        without_notifications(self) != without_notifications(saved)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.listen.trim().parse().map_err(|_| {
            SettingsError::Invalid(format!(
                "the listener address {:?} is not an address and port such as {DEFAULT_LISTEN}",
                self.listen
            ))
        })
    }

    /// How long raw deliveries are kept; `None`: for ever.
    /// The review SLA, checked.
    pub fn review_sla(&self) -> Result<std::time::Duration, SettingsError> {
        crate::config::review_sla(&self.review_sla)
            .map_err(|e| SettingsError::Invalid(format!("review SLA: {e}")))
    }

    pub fn keep_deliveries(&self) -> Result<Option<std::time::Duration>, SettingsError> {
        self.keep_deliveries_days
            .map(crate::config::days_kept)
            .transpose()
            .map_err(|e| SettingsError::Invalid(format!("keep deliveries: {e}")))
    }

    pub fn tunnel_spec(&self) -> Result<TunnelSpec, SettingsError> {
        self.tunnel.trim().parse().map_err(SettingsError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_settings_load_back_and_a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/desktop-settings.json");
        assert_eq!(
            DesktopSettings::load(&path).unwrap(),
            DesktopSettings::default()
        );
        let settings = DesktopSettings {
            db: Some(dir.path().join("kyc.db")),
            listen: "127.0.0.1:9999".into(),
            tunnel: "cloudflared".into(),
            forward_to: vec!["https://backend.example/kyc".into()],
            keep_deliveries_days: Some(0.25),
            notify_accept: false,
            ..DesktopSettings::default()
        };
        settings.save(&path).unwrap();
        assert_eq!(DesktopSettings::load(&path).unwrap(), settings);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the owner's only");
        }
    }

    #[test]
    fn bad_values_are_refused_with_a_sentence_and_damaged_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desktop-settings.json");
        let bad_listen = DesktopSettings {
            listen: "localhost".into(),
            ..DesktopSettings::default()
        };
        assert!(bad_listen
            .save(&path)
            .unwrap_err()
            .to_string()
            .contains("not an address and port"));
        let bad_tunnel = DesktopSettings {
            tunnel: "teleport".into(),
            ..DesktopSettings::default()
        };
        assert!(bad_tunnel
            .validate()
            .unwrap_err()
            .to_string()
            .contains("is not a tunnel"));
        let folder = DesktopSettings {
            db: Some(dir.path().to_owned()),
            ..DesktopSettings::default()
        };
        assert!(folder
            .validate()
            .unwrap_err()
            .to_string()
            .contains("is a folder"));
        let cidrs = DesktopSettings {
            ngrok_allow_cidrs: vec!["203.0.113.0/24".into(), "2001:db8::/129".into()],
            ..DesktopSettings::default()
        };
        assert_eq!(
            cidrs.validate().unwrap_err().to_string(),
            "ngrok allowed sources: \"2001:db8::/129\" is not a network such as 203.0.113.0/24 or 2001:db8::/32"
        );
        for good in ["203.0.113.7/32", "0.0.0.0/0", "2001:db8::/32"] {
            assert!(crate::tunnel::parse_allowed_cidr(good).is_ok(), "{good}");
        }
        for bad in [
            "203.0.113.0",
            "203.0.113.0/33",
            "example.com/8",
            "/24",
            "10.0.0.0/x",
        ] {
            assert!(crate::tunnel::parse_allowed_cidr(bad).is_err(), "{bad}");
        }
        let forward = DesktopSettings {
            forward_to: vec![
                "http://localhost:3000/kyc".into(),
                "ftp://example.com".into(),
            ],
            ..DesktopSettings::default()
        };
        assert_eq!(
            forward.validate().unwrap_err().to_string(),
            "forward to: \"ftp://example.com\" is not an http(s) URL such as http://localhost:3000/webhooks/kyc"
        );
        // The monitor's own webhook, however spelled, would loop.
        let itself = DesktopSettings {
            listen: "127.0.0.1:8787".into(),
            forward_to: vec!["http://localhost:8787/kyc-webhook/abc".into()],
            ..DesktopSettings::default()
        };
        assert!(itself
            .validate()
            .unwrap_err()
            .to_string()
            .contains("is this monitor's own webhook"));
        let public = DesktopSettings {
            tunnel: "url:https://hooks.example.org".into(),
            forward_to: vec!["https://hooks.example.org/kyc-webhook/abc".into()],
            ..DesktopSettings::default()
        };
        assert!(public
            .validate()
            .unwrap_err()
            .to_string()
            .contains("is this monitor's own webhook"));
        let backup_dir = DesktopSettings {
            backup_dir: Some("backups".into()),
            ..DesktopSettings::default()
        };
        assert!(backup_dir
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("backup folder: backups is not an existing folder"));
        for days in [0.0, -1.0, f64::NAN, f64::INFINITY, 40_000.0] {
            let keep = DesktopSettings {
                keep_deliveries_days: Some(days),
                ..DesktopSettings::default()
            };
            assert!(
                keep.validate()
                    .unwrap_err()
                    .to_string()
                    .starts_with("keep deliveries: "),
                "{days}"
            );
        }
        let kept = DesktopSettings {
            keep_deliveries_days: Some(0.5),
            ..DesktopSettings::default()
        };
        assert_eq!(
            kept.keep_deliveries().unwrap(),
            Some(std::time::Duration::from_secs(43_200))
        );
        assert!(!path.exists(), "nothing was written");

        std::fs::write(&path, "{ not json").unwrap();
        assert!(DesktopSettings::load(&path)
            .unwrap_err()
            .to_string()
            .contains("is damaged"));
        // Unknown or missing keys are fine: older and newer files both load.
        std::fs::write(&path, r#"{"listen": "127.0.0.1:1234", "someday": 1}"#).unwrap();
        assert_eq!(
            DesktopSettings::load(&path).unwrap().listen,
            "127.0.0.1:1234"
        );
    }
}
