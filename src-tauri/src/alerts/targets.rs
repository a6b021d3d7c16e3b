//! Where alerts go (`--alert-to`): `slack:URL` (a Slack-compatible incoming webhook, JSON
//! `{"text": ...}`), `mailto:ADDRESS` (through `--smtp-url`, see `email.rs`), or a URL (JSON,
//! signed like forwarded deliveries when `--forward-signing-secret` is set). URLs are https, or
//! http on a loopback host: an alert says what is wrong with the monitor, and a Slack URL is
//! itself a secret, so neither crosses a network in the clear.

use std::time::Duration;

use super::engine::{AlertMessage, MessageKind};

/// One `--alert-to` target. Its `Debug` and [`AlertTarget::shown`] mask its secret parts.
#[derive(Clone, PartialEq, Eq)]
pub enum AlertTarget {
    Slack(String),
    Email(String),
    Webhook(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(String);

impl std::str::FromStr for AlertTarget {
    type Err = TargetError;

    /// Reads a target; the error names it masked (a Slack URL's path is its token).
    fn from_str(text: &str) -> Result<AlertTarget, TargetError> {
        let text = text.trim();
        if let Some(url) = text.strip_prefix("slack:") {
            let target = AlertTarget::Slack(url.to_owned());
            check_url(url, &target.shown())?;
            return Ok(target);
        }
        if let Some(address) = text.strip_prefix("mailto:") {
            return match address.parse::<lettre::Address>() {
                Ok(_) => Ok(AlertTarget::Email(address.to_owned())),
                Err(_) => Err(TargetError(format!(
                    "mailto:{address} is not an email address such as mailto:oncall@example.com"
                ))),
            };
        }
        let target = AlertTarget::Webhook(text.to_owned());
        check_url(text, &target.shown())?;
        Ok(target)
    }
}

/// A target as given, as it may be shown: masked, whether or not it is valid.
pub fn shown_target(text: &str) -> String {
    match text.parse::<AlertTarget>() {
        Ok(target) => target.shown(),
        Err(_) if text.trim().starts_with("mailto:") => text.trim().to_owned(),
        Err(_) => "(not a valid target; not shown)".to_owned(),
    }
}

/// An https URL, or http on a loopback host.
fn check_url(url: &str, shown: &str) -> Result<(), TargetError> {
    let unusable = |why: &str| {
        TargetError(format!(
            "--alert-to {shown}: {why}; give slack:https://..., mailto:ADDRESS or an https URL (http only on a loopback host such as 127.0.0.1)"
        ))
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| unusable("not a URL"))?;
    match (parsed.scheme(), parsed.host()) {
        (_, None) => Err(unusable("the URL has no host")),
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if is_loopback(&host) => Ok(()),
        ("http", Some(_)) => Err(unusable(
            "plain http goes only to a loopback host (alerts and a Slack URL's token would cross the network in the clear)",
        )),
        _ => Err(unusable("only https (or http on a loopback host) is sent to")),
    }
}

/// A loopback host: 127.0.0.0/8, ::1 or `localhost`.
pub(super) fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

impl AlertTarget {
    /// `slack`, `email` or `webhook`.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertTarget::Slack(_) => "slack",
            AlertTarget::Email(_) => "email",
            AlertTarget::Webhook(_) => "webhook",
        }
    }

    /// The target as it may be shown or logged: a Slack URL without its path (the token), a
    /// URL without credentials or query values.
    pub fn shown(&self) -> String {
        match self {
            AlertTarget::Slack(url) => match reqwest::Url::parse(url) {
                Ok(parsed) => format!(
                    "slack:{}://{}/***",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or_default()
                ),
                Err(_) => "slack:(not a URL)".to_owned(),
            },
            AlertTarget::Email(address) => format!("mailto:{address}"),
            AlertTarget::Webhook(url) => crate::forward::shown_url(url),
        }
    }
}

impl std::fmt::Debug for AlertTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlertTarget({})", self.shown())
    }
}

/// Why a send did not work, and whether trying again may help.
#[derive(Debug, Clone)]
pub(super) struct SendFailure {
    pub error: String,
    /// Refused for good (a 4xx other than 408 and 429): not retried.
    pub permanent: bool,
    pub retry_after: Option<Duration>,
}

impl SendFailure {
    pub(super) fn retry(error: String) -> SendFailure {
        SendFailure {
            error,
            permanent: false,
            retry_after: None,
        }
    }
}

/// The text of an alert, for Slack and email: what happened and where to look.
pub(super) fn alert_text(message: &AlertMessage) -> String {
    let head = match message.kind {
        MessageKind::Started => "KYC Monitor alert",
        MessageKind::Resolved => "KYC Monitor resolved",
        MessageKind::Test => "KYC Monitor test alert",
    };
    let mut text = format!("{head}: {}", message.summary);
    if let Some(link) = &message.link {
        text.push_str(&format!("\nOpen: {link}"));
    }
    text
}

/// Posts `body` as JSON to `url`, signed when a secret is given.
pub(super) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signing: Option<(&crate::signature::SharedSecret, &str)>,
) -> Result<(), SendFailure> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some((secret, id)) = signing {
        let timestamp = crate::time::now_millis() / 1000;
        request = request
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", secret.sign(id, timestamp, &body));
    }
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = crate::backoff::retry_after(response.headers());
            let permanent = (400..500).contains(&status) && !matches!(status, 408 | 429);
            Err(SendFailure {
                error: format!("the target answered HTTP {status}"),
                permanent,
                retry_after,
            })
        }
        // Without the URL: a Slack URL's path is its token.
        Err(error) if crate::trust::https_failure(&error).is_some() => {
            Err(SendFailure::retry(format!(
                "the target: {}; nothing was sent",
                crate::trust::https_failure(&error).unwrap_or_default()
            )))
        }
        Err(error) if error.is_timeout() => Err(SendFailure::retry("no answer in time".into())),
        Err(error) if error.is_connect() => Err(SendFailure::retry(
            "the target could not be reached (connection refused or no route)".into(),
        )),
        Err(error) => Err(SendFailure::retry(format!(
            "the request failed: {}",
            error.without_url()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_and_show_without_their_secrets() {
        let slack: AlertTarget = "slack:https://hooks.slack.com/services/T0/B0/SECRET"
            .parse()
            .unwrap();
        assert_eq!(slack.shown(), "slack:https://hooks.slack.com/***");
        assert!(!format!("{slack:?}").contains("SECRET"));
        let hook: AlertTarget = "https://ops.example.com/alerts?token=SECRET"
            .parse()
            .unwrap();
        assert_eq!(hook.kind(), "webhook");
        assert!(!hook.shown().contains("SECRET"));
        let mail: AlertTarget = "mailto:oncall@example.com".parse().unwrap();
        assert_eq!(mail.shown(), "mailto:oncall@example.com");
        assert!("http://127.0.0.1:9/alerts".parse::<AlertTarget>().is_ok());
        assert!("slack:http://localhost:9/x".parse::<AlertTarget>().is_ok());
    }

    #[test]
    fn plain_http_off_loopback_and_bad_addresses_are_refused_without_the_token() {
        let error = "slack:http://hooks.example.com/services/SECRET"
            .parse::<AlertTarget>()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("loopback") && !error.contains("SECRET"),
            "{error}"
        );
        assert!("ftp://example.com/x".parse::<AlertTarget>().is_err());
        assert!("mailto:not an address".parse::<AlertTarget>().is_err());
    }
}
