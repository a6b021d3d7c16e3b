//! A real OpenID Provider for the team tests (node's `oidc-provider`, `tests/idp/server.mjs`,
//! installed by ./scripts/test with `npm ci`), and a browser that walks its sign-in by hand:
//! a cookie jar, redirects followed one at a time, the login and consent forms filled in.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};

use super::{free_port, Monitor, Scratch, BIN};

/// The monitor's client at the provider, and a second one the provider also knows.
pub const CLIENT_ID: &str = "kyc-monitor";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789abcdef";
pub const OTHER_CLIENT_ID: &str = "other-app";

/// A running `tests/idp/server.mjs`; stopped when dropped.
pub struct Idp {
    child: Child,
    pub issuer: String,
}

impl Idp {
    /// Starts the provider with the monitor's client redirecting to `public_ui_url`.
    pub fn start(public_ui_url: &str) -> Idp {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            folder.join("node_modules/oidc-provider").is_dir(),
            "the test identity provider is not installed: run ./scripts/test (npm ci in tests/idp)"
        );
        let redirect = format!("{public_ui_url}/auth/callback");
        let clients = serde_json::json!([
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect]},
            {"client_id": OTHER_CLIENT_ID, "client_secret": "another-secret-0123456789abcdef",
             "redirect_uris": ["http://127.0.0.1:9/elsewhere"]},
        ]);
        let mut child = Command::new("node")
            .arg(folder.join("server.mjs"))
            .env("IDP_CLIENTS", clients.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node tests/idp/server.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the issuer line");
        let issuer = line
            .strip_prefix("issuer: ")
            .unwrap_or_else(|| panic!("the provider printed {line:?} instead of its issuer"))
            .trim()
            .to_owned();
        Idp { child, issuer }
    }

    /// The provider signs with a new key from now on.
    pub async fn rotate_keys(&self) {
        let answer =
            super::send(super::client().post(format!("{}/__test/rotate", self.issuer))).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// The next ID token the provider hands out is changed and signed again (see server.mjs).
    pub async fn tamper_next_id_token(&self, change: serde_json::Value) {
        let answer = super::send(
            super::client()
                .post(format!("{}/__test/tamper", self.issuer))
                .body(change.to_string()),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: its own cookies, redirects followed by hand.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

/// One answer as the browser saw it.
pub struct Seen {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub body: String,
}

impl Browser {
    pub fn new() -> Browser {
        Browser::from(None)
    }

    /// A browser whose connections come from `local` (such as 127.0.0.2).
    pub fn from(local: Option<std::net::IpAddr>) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Browser { client, jar }
    }

    pub async fn see(&self, request: reqwest::RequestBuilder) -> Seen {
        let response = request.send().await.expect("request");
        let url = response.url().clone();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(LOCATION).map(|to| url.join(&to).expect("a URL").to_string());
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let set_cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        Seen {
            status: response.status().as_u16(),
            location,
            set_cookies,
            content_type,
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, url: &str) -> Seen {
        self.see(self.client.get(url)).await
    }

    /// Starts signing in at `ui` and walks the provider's forms as `user`, up to the redirect
    /// back to the monitor: returns that callback URL, not yet followed.
    pub async fn sign_in_until_callback(&self, ui: &str, user: &str) -> String {
        self.sign_in_from(
            &format!("{ui}/auth/login"),
            user,
            &format!("{ui}/auth/callback"),
        )
        .await
    }

    /// Opens `start` (a sign-in's first address) and walks the provider's forms as `user`,
    /// following redirects until one goes to an address starting with `until`: returns it, not
    /// yet followed.
    pub async fn sign_in_from(&self, start: &str, user: &str, until: &str) -> String {
        let started = self.get(start).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let mut next = started.location.expect("a redirect to the provider");
        for _ in 0..20 {
            if next.starts_with(until) {
                return next;
            }
            let seen = self.get(&next).await;
            if let Some(location) = seen.location {
                next = location;
                continue;
            }
            assert_eq!(seen.status, 200, "the provider answered {}", seen.body);
            let action = form_action(&seen.body);
            let action = reqwest::Url::parse(&next).unwrap().join(&action).unwrap();
            let token = hidden_value(&seen.body, "token");
            let form: Vec<(&str, &str)> = if seen.body.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", user), ("password", "any")]
            } else if let Some(token) = &token {
                // The monitor's own question: may the desktop app sign in as you? Yes.
                vec![("token", token.as_str()), ("answer", "yes")]
            } else {
                vec![("prompt", "consent")]
            };
            let posted = self.see(self.client.post(action).form(&form)).await;
            next = posted
                .location
                .unwrap_or_else(|| panic!("the form answered {}: {}", posted.status, posted.body));
        }
        panic!("the sign-in did not come back to the monitor");
    }

    /// Signs in at `ui` as `user` all the way: the callback followed, the session cookie set.
    pub async fn sign_in(&self, ui: &str, user: &str) -> Seen {
        let callback = self.sign_in_until_callback(ui, user).await;
        self.get(&callback).await
    }

    /// `GET /api/session`, parsed when it answers 200.
    pub async fn session(&self, ui: &str) -> (u16, serde_json::Value) {
        let seen = self.get(&format!("{ui}/api/session")).await;
        let body = serde_json::from_str(&seen.body).unwrap_or(serde_json::Value::Null);
        (seen.status, body)
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

/// The value of the hidden input `name` of a page, if it has one.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[start..];
    let at = rest.find("value=\"")? + "value=\"".len();
    let end = rest[at..].find('"')?;
    Some(rest[at..at + end].to_owned())
}

/// The `action` of the first form in a page.
fn form_action(html: &str) -> String {
    let start = html.find("<form").expect("a form on the page");
    let rest = &html[start..];
    let at = rest.find("action=\"").expect("a form action") + "action=\"".len();
    let end = rest[at..].find('"').expect("the action's end");
    rest[at..at + end].replace("&amp;", "&")
}

/// A team monitor (`serve --auth oidc`) signing in through its own provider, with admins
/// and support by group.
pub struct OidcTeam {
    pub idp: Idp,
    pub monitor: Monitor,
    pub ui: String,
    _scratch: Scratch,
}

impl OidcTeam {
    pub fn start(extra: &[&str]) -> OidcTeam {
        let scratch = Scratch::new();
        let port = free_port();
        let ui = format!("http://127.0.0.1:{port}");
        let idp = Idp::start(&ui);
        let mut args = vec![
            "--auth",
            "oidc",
            "--oidc-issuer",
            &idp.issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--public-ui-url",
            &ui,
            "--role",
            "admin=kyc-admins",
            "--role",
            "support=kyc-support",
        ];
        args.extend_from_slice(extra);
        let mut monitor = Monitor::start_on(
            &scratch.db(),
            &format!("127.0.0.1:{port}"),
            &args,
            Command::new(BIN).env("KYC_MONITOR_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        );
        assert_eq!(monitor.team_ui(), ui);
        OidcTeam {
            idp,
            monitor,
            ui,
            _scratch: scratch,
        }
    }

    /// A browser signed in as `user`.
    pub async fn signed_in(&self, user: &str) -> Browser {
        let browser = Browser::new();
        let seen = browser.sign_in(&self.ui, user).await;
        assert_eq!(seen.status, 303, "{}", seen.body);
        browser
    }

    /// A state-changing request from the monitor's own page, with `csrf` as its token.
    pub fn post(&self, browser: &Browser, path: &str, csrf: &str) -> reqwest::RequestBuilder {
        browser
            .client
            .post(format!("{}{path}", self.ui))
            .header("Origin", &self.ui)
            .header("X-CSRF-Token", csrf)
    }
}
