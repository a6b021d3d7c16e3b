//! The desktop app as a window onto a team monitor (`serve --auth oidc`): signing in as a
//! native app (RFC 8252: the system browser, a one-time `127.0.0.1` port, PKCE; see
//! `auth/desktop.rs` for the server's half), then every declared operation relayed to the team
//! monitor's HTTP API with the session as `Authorization: Bearer`, and its live feed read as
//! Server-Sent Events. No listener of the app's own but the one-time sign-in port. Headless (no
//! Tauri here), so that it is tested against the real server.

mod feed;
mod sign_in;
mod webhook;

use std::time::Duration;

use serde::Deserialize;
use url::Url;

pub use feed::{follow, FeedItem};
pub use sign_in::{open_in_browser, sign_in};
pub use webhook::TeamWebhookUrl;

use crate::access::Role;
use crate::monitor::operations::{self, Method};
use crate::monitor::{ErrorBody, ErrorCode};

/// A team monitor's session secret, as the app keeps it (keychain) and sends it. Its `Debug`
/// never shows it.
#[derive(Clone)]
pub struct Bearer(String);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(redacted)")
    }
}

impl Bearer {
    pub fn new(secret: String) -> Bearer {
        Bearer(secret.trim().to_owned())
    }

    /// The secret itself, for the keychain.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Who the team monitor says is signed in (`GET /api/session`, or the sign-in's answer).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, ts_rs::TS)]
pub struct TeamPerson {
    pub user: String,
    pub name: String,
    pub role: Role,
}

/// Where the desktop app's link to a team monitor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum TeamConnection {
    /// Not connected to a team monitor: the app runs its own.
    Local,
    /// A team monitor is set, but nobody is signed in to it.
    SignedOut,
    /// Signing in, or opening the feed.
    Connecting,
    Connected,
    /// The team monitor cannot be reached; the app keeps trying.
    Lost,
    /// The team monitor ended the session (signed out, expired, ended by an admin).
    Ended,
}

/// The desktop window's view of its team monitor link (never the session itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub state: TeamConnection,
    pub url: Option<String>,
    pub person: Option<TeamPerson>,
    /// What went wrong last, in a sentence.
    pub message: Option<String>,
}

/// The app's link to one team monitor, signed in.
#[derive(Clone)]
pub struct TeamLink {
    base: Url,
    bearer: Bearer,
    http: reqwest::Client,
}

/// A team monitor's address as typed in Settings: `http(s)://host[:port]`, with any path,
/// query or trailing slash dropped.
pub fn team_url(text: &str) -> Result<Url, ErrorBody> {
    let invalid = |why: &str| ErrorBody {
        code: ErrorCode::Invalid,
        message: format!(
            "the team monitor's address {why}: give it as https://monitor.example.com"
        ),
    };
    let mut url = Url::parse(text.trim()).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("must be http or https with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry a name or password"));
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// What the client sends with every request.
fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    crate::trust::https_client(|| {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kyc-monitor-desktop/", env!("CARGO_PKG_VERSION")));
        match timeout {
            Some(timeout) => builder.timeout(timeout),
            None => builder,
        }
    })
    .expect("an HTTP client")
}

/// A failure to reach the team monitor, in a sentence.
fn unreachable(base: &Url, error: &reqwest::Error) -> ErrorBody {
    if let Some(tls) = crate::trust::https_failure(error) {
        return ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("the team monitor at {base} cannot be reached: {tls}"),
        };
    }
    let mut why = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        why = format!("{why}: {inner}");
        source = inner.source();
    }
    ErrorBody {
        code: ErrorCode::Unavailable,
        message: format!("the team monitor at {base} cannot be reached ({why})"),
    }
}

/// The team monitor's refusal, as it said it (or in a sentence when it said nothing usable).
async fn refusal(response: reqwest::Response) -> ErrorBody {
    let status = response.status();
    #[derive(Deserialize)]
    struct Said {
        code: ErrorCode,
        message: String,
    }
    let said = response.json::<Said>().await.ok();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return ErrorBody {
            code: ErrorCode::Unauthorized,
            message: "the team monitor ended this session (signed out, expired, or ended by an admin): sign in again".into(),
        };
    }
    match said {
        Some(said) => ErrorBody {
            code: said.code,
            message: said.message,
        },
        None => ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("the team monitor answered {status}"),
        },
    }
}

impl TeamLink {
    pub fn new(base: Url, bearer: Bearer) -> TeamLink {
        TeamLink {
            base,
            bearer,
            http: http_client(Some(Duration::from_secs(60))),
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.bearer.expose())
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ErrorBody> {
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        response.json::<T>().await.map_err(|error| ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("the team monitor's answer could not be read ({error})"),
        })
    }

    /// Who this session signs in, with which role (`GET /api/session`).
    pub async fn person(&self) -> Result<TeamPerson, ErrorBody> {
        let url = self.base.join("api/session").expect("a relative path");
        self.answer(self.request(reqwest::Method::GET, url)).await
    }

    /// Ends this session at the team monitor (best effort: the app forgets it anyway).
    pub async fn sign_out(&self) {
        let url = self.base.join("auth/logout").expect("a relative path");
        let _ = self.request(reqwest::Method::POST, url).send().await;
    }

    /// Runs the declared operation `name` on the team monitor, as the window's `operation`
    /// command does locally: the path parameters in its route, the input as its query (GET) or
    /// JSON body (POST). The team monitor checks the role.
    pub async fn operation(
        &self,
        name: &str,
        path: serde_json::Value,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ErrorBody> {
        let spec = operations::specs()
            .into_iter()
            .find(|spec| spec.name == name)
            .ok_or_else(|| ErrorBody {
                code: ErrorCode::NotFound,
                message: format!("there is no operation `{name}`"),
            })?;
        let url = self.route(spec.path, &path, &input, spec.method)?;
        let request = match spec.method {
            Method::Get => self.request(reqwest::Method::GET, url),
            Method::Post => {
                let body = if input.is_null() {
                    serde_json::json!({})
                } else {
                    input
                };
                self.request(reqwest::Method::POST, url).json(&body)
            }
        };
        self.answer(request).await
    }

    /// The operation's address: `{key}`s from `path`, a GET's input as its query. As the
    /// browser's client does, empty and null values are left out but an empty `decision`
    /// ("no decision", which is not the same as any).
    fn route(
        &self,
        route: &str,
        path: &serde_json::Value,
        input: &serde_json::Value,
        method: Method,
    ) -> Result<Url, ErrorBody> {
        let mut address = String::new();
        for (i, part) in route.trim_start_matches('/').split('/').enumerate() {
            if i > 0 {
                address.push('/');
            }
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(key) => {
                    let value = scalar(path.get(key)).ok_or_else(|| ErrorBody {
                        code: ErrorCode::Invalid,
                        message: format!(
                            "the request is not what this operation takes: its path has no `{key}`"
                        ),
                    })?;
                    address.push_str(
                        &url::form_urlencoded::byte_serialize(value.as_bytes())
                            .collect::<String>()
                            .replace('+', "%20"),
                    );
                }
                None => address.push_str(part),
            }
        }
        let mut url = self.base.join(&address).map_err(|error| ErrorBody {
            code: ErrorCode::Invalid,
            message: format!("the operation's address could not be made ({error})"),
        })?;
        if method == Method::Get {
            if let Some(fields) = input.as_object() {
                let mut query = url.query_pairs_mut();
                for (key, value) in fields {
                    match scalar(Some(value)) {
                        Some(text) if !text.is_empty() || key == "decision" => {
                            query.append_pair(key, &text);
                        }
                        _ => {}
                    }
                }
            }
            if url.query() == Some("") {
                url.set_query(None);
            }
        }
        Ok(url)
    }
}

/// A JSON scalar as it goes in a URL.
fn scalar(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_monitor_s_address_is_its_origin() {
        assert_eq!(
            team_url(" https://kyc.example.com/board?x=1 ")
                .unwrap()
                .as_str(),
            "https://kyc.example.com/"
        );
        assert!(team_url("ftp://kyc.example.com").is_err());
        assert!(team_url("https://me:pw@kyc.example.com").is_err());
        assert!(team_url("kyc.example.com").is_err());
    }

    #[test]
    fn an_operation_s_address_has_its_path_and_query() {
        let link = TeamLink::new(
            team_url("http://127.0.0.1:9").unwrap(),
            Bearer::new("x".into()),
        );
        let url = link
            .route(
                "/api/users/{externalId}",
                &serde_json::json!({"externalId": "a b/c"}),
                &serde_json::json!({}),
                Method::Get,
            )
            .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/users/a%20b%2Fc");
        let url = link
            .route(
                "/api/review",
                &serde_json::json!({}),
                &serde_json::json!({"q": "", "limit": 5, "decision": "", "x": null}),
                Method::Get,
            )
            .unwrap();
        assert_eq!(url.query(), Some("decision=&limit=5"));
        assert!(!format!("{:?}", Bearer::new("secret".into())).contains("secret"));
    }
}
