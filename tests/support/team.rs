//! A team monitor behind a sign-in proxy, with the test as the proxy: one group per role, people
//! who send the proxy's headers and their session's cookie and CSRF token, and their live feed.

use std::process::Command;
use std::time::Duration;

use kyc_monitor::access::Role;
use serde_json::{json, Value};

use super::idp::{Browser, Seen};
use super::*;

/// A team monitor behind a sign-in proxy at 127.0.0.1, one group per role.
pub struct Team {
    pub monitor: Monitor,
    pub ui: String,
    _scratch: Scratch,
}

impl Team {
    /// `serve --auth proxy` on a free port with `extra` options.
    pub fn start(extra: &[&str]) -> Team {
        let scratch = Scratch::new();
        let port = free_port();
        let ui = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "--auth",
            "proxy",
            "--trusted-proxy",
            "127.0.0.1/32",
            "--public-ui-url",
            &ui,
            "--role",
            "admin=g-admin",
            "--role",
            "compliance=g-comp",
            "--role",
            "support=g-sup",
            "--role",
            "viewer=g-view",
        ];
        args.extend_from_slice(extra);
        let mut monitor = Monitor::start_on(
            &scratch.db(),
            &format!("127.0.0.1:{port}"),
            &args,
            &mut Command::new(BIN),
        );
        assert_eq!(monitor.team_ui(), ui);
        Team {
            monitor,
            ui,
            _scratch: scratch,
        }
    }

    /// Delivers `body` to the webhook as the provider would, and waits until it is projected.
    pub async fn deliver(&self, external_id: &str, body: String) {
        assert_eq!(post(&self.monitor.webhook_url, body).await.status, 200);
        let db = self.monitor.db.clone();
        eventually(&format!("{external_id} on the board"), || {
            let found = lookup(&db, external_id);
            async move { found.ok_or_else(|| "not yet".to_owned()) }
        })
        .await;
    }

    /// Delivers a user on hold for review, and waits until it is projected.
    pub async fn hold(&self, external_id: &str) {
        let body = json!({
            "externalId": external_id, "decision": "REVIEW", "status": "ON_HOLD",
            "subStatus": "", "participantId": format!("firms/P/users/{external_id}"),
            "account": "firms/ISV/accounts/acc-991234",
        });
        self.deliver(external_id, body.to_string()).await;
    }

    /// A person of `role` named `{role}@example.com`.
    pub async fn person(&self, role: Role) -> Person {
        self.person_as(&format!("{role}@example.com"), role).await
    }

    /// A person of `role` as the proxy presents `email`, with the CSRF token of their session.
    pub async fn person_as(&self, email: &str, role: Role) -> Person {
        let group = match role {
            Role::Admin => "g-admin",
            Role::Compliance => "g-comp",
            Role::Support => "g-sup",
            Role::Viewer => "g-view",
        };
        let mut person = Person {
            browser: Browser::new(),
            email: email.to_owned(),
            groups: format!("staff, {group}"),
            ui: self.ui.clone(),
            csrf: String::new(),
        };
        let session = person.get("/api/session").await;
        assert_eq!(session.status, 200, "{}", session.body);
        let session: Value = serde_json::from_str(&session.body).unwrap();
        assert_eq!(session["role"], role.as_str());
        person.csrf = session["csrfToken"].as_str().unwrap().to_owned();
        person
    }

    /// The audit log, as `audit export --format jsonl` gives it.
    pub fn audit(&self) -> Vec<Value> {
        let output = cli(&self.monitor.db, &["audit", "export", "--format", "jsonl"]);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

/// Someone behind the proxy: every request carries their headers and their session's cookie.
pub struct Person {
    pub browser: Browser,
    pub email: String,
    pub groups: String,
    pub ui: String,
    pub csrf: String,
}

impl Person {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .browser
            .client
            .request(method.clone(), format!("{}{path}", self.ui))
            .header("X-Forwarded-Email", &self.email)
            .header("X-Forwarded-Groups", &self.groups);
        if method == reqwest::Method::GET {
            return request;
        }
        request
            .header("Origin", &self.ui)
            .header("X-CSRF-Token", &self.csrf)
    }

    pub async fn get(&self, path: &str) -> Seen {
        self.browser
            .see(self.request(reqwest::Method::GET, path))
            .await
    }

    /// A GET answered 200: its JSON and its text.
    pub async fn get_json(&self, path: &str) -> (Value, String) {
        let seen = self.get(path).await;
        assert_eq!(seen.status, 200, "{path}: {}", seen.body);
        (serde_json::from_str(&seen.body).unwrap(), seen.body)
    }

    pub async fn json(&self, path: &str) -> Value {
        self.get_json(path).await.0
    }

    /// POSTs `body` as JSON; the status and the answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let seen = self
            .browser
            .see(self.request(reqwest::Method::POST, path).json(&body))
            .await;
        let answer = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        (seen.status, answer)
    }

    /// POSTs `body` as JSON, answered 200.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, 200, "{} {path}: {answer}", self.email);
        answer
    }

    /// The live feed, replayed from the first delivery.
    pub async fn feed(&self) -> Feed {
        let response = self
            .request(reqwest::Method::GET, "/api/feed?after=0")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Feed {
            response,
            buffer: String::new(),
            seen: Vec::new(),
        }
    }
}

/// An open live feed, read event by event.
pub struct Feed {
    response: reqwest::Response,
    buffer: String,
    /// Every event read so far: its name and data.
    pub seen: Vec<(String, Value)>,
}

impl Feed {
    /// Reads until an event for which `wanted` holds, and returns it.
    pub async fn until(&mut self, what: &str, wanted: impl Fn(&str, &Value) -> bool) -> Value {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data: Value = serde_json::from_str(&data).expect("JSON data");
                self.seen.push((name.clone(), data.clone()));
                if wanted(&name, &data) {
                    return data;
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("waited a minute on the feed for {what}"))
                .expect("the feed goes on")
                .unwrap_or_else(|| panic!("the feed ended before {what}"));
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until a `case` event for which `wanted` holds, and returns it.
    pub async fn case(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.until(what, |name, data| name == "case" && wanted(data))
            .await
    }

    /// Reads until the monitor ends the feed.
    pub async fn ends(&mut self, what: &str) {
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("waited a minute for the feed to end: {what}"));
            match chunk {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// The names of the events read so far.
    pub fn names(&self) -> Vec<&str> {
        self.seen.iter().map(|(name, _)| name.as_str()).collect()
    }
}
