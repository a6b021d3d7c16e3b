//! The team monitor's webhook URL, for the desktop tray's "Copy webhook URL" while the app is a
//! window onto a team monitor: the URL its own top bar shows (the tunnel's public URL once it is
//! up, else the webhook URL), when the team monitor shows it to this person's role whole. Below
//! admin its secret token is hidden (`monitor::masking`): then there is nothing worth copying,
//! and the tray item says so instead.

use super::TeamLink;

/// What "Copy webhook URL" can copy from the team monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamWebhookUrl {
    /// The URL to give the provider.
    Shown(String),
    /// The team monitor hides the URL's secret token from this role.
    Withheld,
    /// The team monitor did not say (not answering, or no URL in its answer): why.
    Unknown(String),
}

impl TeamWebhookUrl {
    /// From the team monitor's overview (`GET /api/overview`), as this session's role sees it.
    pub fn of_overview(overview: &serde_json::Value) -> TeamWebhookUrl {
        let status = &overview["tunnel"]["status"];
        let public = match status["state"].as_str() {
            Some("up") => status["publicUrl"].as_str(),
            _ => None,
        };
        match public.or_else(|| overview["webhookUrl"].as_str()) {
            Some(url) if crate::monitor::masking::hides_token(url) => TeamWebhookUrl::Withheld,
            Some(url) if !url.is_empty() => TeamWebhookUrl::Shown(url.to_owned()),
            _ => TeamWebhookUrl::Unknown(
                "the team monitor's overview names no webhook URL".to_owned(),
            ),
        }
    }

    /// The tray item's label, and whether it can be chosen.
    pub fn menu_item(&self) -> (&'static str, bool) {
        match self {
            TeamWebhookUrl::Shown(_) => ("Copy webhook URL", true),
            TeamWebhookUrl::Withheld => ("Copy webhook URL (team admins only)", false),
            TeamWebhookUrl::Unknown(_) => ("Copy webhook URL (team monitor not answering)", false),
        }
    }

    /// The URL to copy, if there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            TeamWebhookUrl::Shown(url) => Some(url),
            _ => None,
        }
    }
}

impl TeamLink {
    /// The team monitor's webhook URL as this session may copy it.
    pub async fn webhook_url(&self) -> TeamWebhookUrl {
        match self
            .operation("overview", serde_json::json!({}), serde_json::json!({}))
            .await
        {
            Ok(overview) => TeamWebhookUrl::of_overview(&overview),
            Err(error) => TeamWebhookUrl::Unknown(error.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TeamWebhookUrl;
    use serde_json::json;

    #[test]
    fn the_public_url_once_the_tunnel_is_up_else_the_webhook_url() {
        let local = "http://10.0.0.5:8788/kyc-webhook/Zm9vYmFyYmF6";
        let public = "https://abc.example.net/kyc-webhook/Zm9vYmFyYmF6";
        let down = json!({"webhookUrl": local, "tunnel": {"kind": "bore", "status": {"state": "starting"}}});
        assert_eq!(
            TeamWebhookUrl::of_overview(&down),
            TeamWebhookUrl::Shown(local.into())
        );
        let up = json!({"webhookUrl": local, "tunnel": {"kind": "bore", "status": {"state": "up", "publicUrl": public}}});
        assert_eq!(
            TeamWebhookUrl::of_overview(&up),
            TeamWebhookUrl::Shown(public.into())
        );
        // As a role below admin sees it: the token hidden, nothing worth copying.
        let masked = crate::monitor::masking::without_token(local);
        let hidden =
            json!({"webhookUrl": masked, "tunnel": {"kind": "none", "status": {"state": "off"}}});
        assert_eq!(
            TeamWebhookUrl::of_overview(&hidden),
            TeamWebhookUrl::Withheld
        );
        assert!(!TeamWebhookUrl::Withheld.menu_item().1);
        assert!(matches!(
            TeamWebhookUrl::of_overview(&json!({})),
            TeamWebhookUrl::Unknown(_)
        ));
    }
}
