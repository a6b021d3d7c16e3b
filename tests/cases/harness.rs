//! The case tests' people: a team monitor behind a sign-in proxy (the test is the proxy), a
//! person's requests and live feed, and the local UI of a single-person monitor.

use std::process::Command;

use kyc_monitor::access::Role;
use serde_json::{json, Value};

use crate::support::idp::{Browser, Seen};
use crate::support::*;

/// A team monitor behind a sign-in proxy at 127.0.0.1, one group per role.
pub struct Team {
    pub monitor: Monitor,
    pub ui: String,
    pub _scratch: Scratch,
}

impl Team {
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

    /// Delivers a user on hold for review, and waits until it is projected.
    pub async fn hold(&self, external_id: &str) {
        let body = json!({
            "externalId": external_id, "decision": "REVIEW", "status": "ON_HOLD",
            "subStatus": "", "participantId": format!("firms/P/users/{external_id}"),
            "account": "firms/ISV/accounts/acc-991234",
        });
        assert_eq!(
            post(&self.monitor.webhook_url, body.to_string())
                .await
                .status,
            200
        );
        let db = self.monitor.db.clone();
        eventually(&format!("{external_id} projected"), || {
            let found = lookup(&db, external_id);
            async move { found.ok_or_else(|| "not yet".to_owned()) }
        })
        .await;
    }

    /// A person with `role`, signed in through the proxy as `email`.
    pub async fn person(&self, email: &str, role: Role) -> Person {
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
        person.csrf = session["csrfToken"].as_str().unwrap().to_owned();
        person
    }

    pub fn audit(&self) -> Vec<Value> {
        let output = cli(&self.monitor.db, &["audit", "export", "--format", "jsonl"]);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

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

    pub async fn json(&self, path: &str) -> Value {
        let seen = self.get(path).await;
        assert_eq!(seen.status, 200, "{path}: {}", seen.body);
        serde_json::from_str(&seen.body).unwrap()
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

    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, 200, "{} {path}: {answer}", self.email);
        answer
    }

    pub async fn feed(&self) -> Feed {
        let response = self
            .request(reqwest::Method::GET, "/api/feed")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Feed {
            response,
            buffer: String::new(),
        }
    }
}

/// An open live feed, read event by event.
pub struct Feed {
    pub response: reqwest::Response,
    pub buffer: String,
}

impl Feed {
    /// Reads until a `case` event for which `wanted` holds, and returns it.
    pub async fn case(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let name = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if name == Some("case") {
                    let data: Value = serde_json::from_str(&data).unwrap();
                    if wanted(&data) {
                        return data;
                    }
                }
            }
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(60), self.response.chunk())
                    .await
                    .unwrap_or_else(|_| panic!("waited a minute on the feed for {what}"))
                    .expect("the feed goes on")
                    .unwrap_or_else(|| panic!("the feed ended before {what}"));
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

pub struct Local {
    pub base: String,
    pub token: String,
}

impl Local {
    pub async fn json(&self, path: &str) -> Value {
        let answer = send(
            client()
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let answer = send(
            client()
                .post(format!("{}{path}", self.base))
                .header("Origin", &self.base)
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    }

    /// The queue's card of `external_id`.
    pub async fn card(&self, external_id: &str) -> Value {
        let queue = self.json("/api/review").await;
        queue["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["externalId"] == external_id)
            .unwrap_or_else(|| panic!("{external_id} in the queue: {queue}"))["case"]
            .clone()
    }
}

pub fn local(monitor: &mut Monitor) -> Local {
    let (base, token) = monitor.ui();
    Local { base, token }
}
