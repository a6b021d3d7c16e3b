//! The desktop Settings' alert options: the targets (`--alert-to`), the SMTP URL (`--smtp-url`)
//! and the silence rule (`--alert-silence`), checked by the same parsers as `serve`'s. The SMTP
//! password is never here: it is the keychain's `smtp-password` (or `KYC_MONITOR_SMTP_PASSWORD`).
//!
//! A Slack URL's path is its token, and a URL target may carry one in its query: the window is
//! sent each target masked ([`AlertTarget::shown`]), and a masked line that comes back unchanged
//! stands for the saved target it shows ([`DesktopSettings::with_saved_targets`]).

use crate::alerts::{parse_alert_duration, shown_target, AlertTarget, SmtpSettings};
use crate::config::alerts::SMTP_URL_VARIABLE;

use super::DesktopSettings;

impl DesktopSettings {
    /// The alert options usable, or one sentence naming the first that is not (a target by its
    /// place and masked, never with a secret).
    pub(super) fn alert_problem(&self) -> Result<(), String> {
        let mut email = None;
        for (index, text) in self.alert_to.iter().enumerate() {
            let target = text.parse::<AlertTarget>().map_err(|error| {
                let reason = error.to_string();
                let reason = reason.strip_prefix("--alert-to ").unwrap_or(&reason);
                format!("alert target {}: {reason}", index + 1)
            })?;
            if target.kind() == "email" && email.is_none() {
                email = Some(target.shown());
            }
        }
        let smtp_url = self.smtp_url.as_deref().map(str::trim);
        if let Some(url) = smtp_url.filter(|url| !url.is_empty()) {
            SmtpSettings::new(url, None).map_err(|error| {
                let reason = error.to_string();
                let reason = reason.strip_prefix("--smtp-url: ").unwrap_or(&reason);
                format!(
                    "SMTP URL: {}",
                    reason.replace(
                        "KYC_MONITOR_SMTP_PASSWORD",
                        "the SMTP password (Secrets below)"
                    )
                )
            })?;
        } else if let Some(shown) = email {
            if std::env::var_os(SMTP_URL_VARIABLE).is_none() {
                return Err(format!(
                    "alert target {shown} needs an SMTP URL to send through, such as smtp://alerts@mail.example.com:587"
                ));
            }
        }
        if let Some(silence) = self.alert_silence.as_deref() {
            parse_alert_duration(silence).map_err(|e| format!("alert silence: {e}"))?;
        }
        Ok(())
    }

    /// The settings as the window gets them: each alert target masked.
    pub fn for_window(&self) -> DesktopSettings {
        DesktopSettings {
            alert_to: self.alert_to.iter().map(|t| shown_target(t)).collect(),
            ..self.clone()
        }
    }

    /// `self` as the window sent it, each target line that is a saved target's masked form (as
    /// [`DesktopSettings::for_window`] gave it) replaced by that saved target, in order.
    pub fn with_saved_targets(mut self, saved: &DesktopSettings) -> DesktopSettings {
        let mut unused: Vec<(String, &String)> = saved
            .alert_to
            .iter()
            .map(|target| (shown_target(target), target))
            .collect();
        for line in &mut self.alert_to {
            let trimmed = line.trim();
            if let Some(at) = unused.iter().position(|(shown, _)| shown == trimmed) {
                *line = unused.remove(at).1.clone();
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: &str = "slack:https://hooks.slack.com/services/T0/B0/sEcReTtOkEn";

    #[test]
    fn alert_options_are_checked_and_a_bad_target_is_named_without_its_secret() {
        let good = DesktopSettings {
            alert_to: vec![
                SLACK.into(),
                "mailto:oncall@example.com".into(),
                "http://127.0.0.1:9000/alerts?token=abc".into(),
            ],
            smtp_url: Some("smtp://alerts@127.0.0.1:2525".into()),
            alert_silence: Some("2h".into()),
            ..DesktopSettings::default()
        };
        good.validate().unwrap();

        let refused = |settings: DesktopSettings| settings.validate().unwrap_err().to_string();
        let plain = refused(DesktopSettings {
            alert_to: vec![
                SLACK.into(),
                "slack:http://hooks.example.com/services/T/B/hidden".into(),
            ],
            ..DesktopSettings::default()
        });
        assert!(
            plain.starts_with("alert target 2: slack:http://hooks.example.com/***: plain http goes only to a loopback host"),
            "{plain}"
        );
        assert!(!plain.contains("hidden"), "{plain}");
        let not_url = refused(DesktopSettings {
            alert_to: vec!["slack:hooks.slack.com/services/T/B/hidden".into()],
            ..DesktopSettings::default()
        });
        assert!(
            not_url.starts_with("alert target 1: slack:(not a URL): not a URL"),
            "{not_url}"
        );
        assert!(!not_url.contains("hidden"), "{not_url}");
        assert_eq!(
            refused(DesktopSettings {
                alert_to: vec!["mailto:nobody".into()],
                smtp_url: Some("smtp://a@127.0.0.1:25".into()),
                ..DesktopSettings::default()
            }),
            "alert target 1: mailto:nobody is not an email address such as mailto:oncall@example.com"
        );
        let password = refused(DesktopSettings {
            smtp_url: Some("smtp://alerts:hunter2@mail.example.com:587".into()),
            ..DesktopSettings::default()
        });
        assert!(
            password.starts_with("SMTP URL: a password does not go in the URL"),
            "{password}"
        );
        assert!(
            password.contains("the SMTP password (Secrets below)"),
            "{password}"
        );
        assert!(!password.contains("hunter2"));
        assert_eq!(
            refused(DesktopSettings {
                smtp_url: Some("imap://mail.example.com".into()),
                ..DesktopSettings::default()
            }),
            "SMTP URL: the scheme is smtp:// (STARTTLS when offered) or smtps:// (TLS)"
        );
        if std::env::var_os(SMTP_URL_VARIABLE).is_none() {
            assert_eq!(
                refused(DesktopSettings {
                    alert_to: vec!["mailto:oncall@example.com".into()],
                    ..DesktopSettings::default()
                }),
                "alert target mailto:oncall@example.com needs an SMTP URL to send through, such as smtp://alerts@mail.example.com:587"
            );
        }
        assert!(refused(DesktopSettings {
            alert_silence: Some("soon".into()),
            ..DesktopSettings::default()
        })
        .starts_with("alert silence: \"soon\" is not a duration"));
    }

    #[test]
    fn the_window_sees_targets_masked_and_an_unchanged_masked_line_keeps_the_saved_target() {
        let saved = DesktopSettings {
            alert_to: vec![
                SLACK.into(),
                "mailto:oncall@example.com".into(),
                "slack:https://hooks.slack.com/services/T1/B1/second".into(),
            ],
            ..DesktopSettings::default()
        };
        let shown = saved.for_window();
        assert_eq!(
            shown.alert_to,
            [
                "slack:https://hooks.slack.com/***",
                "mailto:oncall@example.com",
                "slack:https://hooks.slack.com/***"
            ]
        );
        assert!(!serde_json::to_string(&shown).unwrap().contains("sEcReT"));
        // Sent back as shown: the saved targets, in their order.
        assert_eq!(shown.clone().with_saved_targets(&saved), saved);
        // One removed, one added, one kept (the first masked line is the first saved one).
        let edited = DesktopSettings {
            alert_to: vec![
                "slack:https://hooks.slack.com/***".into(),
                "https://ops.example.com/kyc-alerts".into(),
            ],
            ..DesktopSettings::default()
        }
        .with_saved_targets(&saved);
        assert_eq!(
            edited.alert_to,
            [SLACK, "https://ops.example.com/kyc-alerts"]
        );
    }
}
