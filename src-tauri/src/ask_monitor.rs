//! `register`, `reconcile` and `watch` while a monitor holds the database: the CLI asks that monitor over
//! its UI API on loopback (the address and token it keeps in the database's settings) rather
//! than starting a second writer beside it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kyc_monitor::monitor::RegisterForm;
use kyc_monitor::provider::watch::{WatchAnswer, WatchRequest};
use kyc_monitor::store::{Store, UI_ADDRESS_SETTING, UI_TOKEN_SETTING};

use crate::progress::{Progress, Unit};

/// Longer than the UI API's own deadline for an answer (registration waits on the provider).
const ASK_LIMIT: Duration = Duration::from_secs(150);

/// The ids' bytes sent in one `POST /api/watch`: half the UI API's 1 MiB body limit, leaving
/// room for JSON's quotes and escapes.
const WATCH_REQUEST_BYTES: usize = 512 * 1024;

/// A running monitor's UI API.
pub struct RunningMonitor {
    base: String,
    token: String,
}

/// What a registration came to, as the CLI prints it.
pub struct Registered {
    pub validated: bool,
    pub message: String,
    pub new_secret_stored: bool,
}

impl RunningMonitor {
    /// The monitor that holds `db` (`pid` says which, for messages), when its UI listens.
    pub fn find(db: &Path, pid: &str, command: &str) -> anyhow::Result<RunningMonitor> {
        let store = Store::open_existing(db)?;
        let address = store
            .setting(UI_ADDRESS_SETTING)?
            .and_then(|text| text.parse::<SocketAddr>().ok());
        let token = store.setting(UI_TOKEN_SETTING)?;
        match (address, token) {
            (Some(address), Some(token)) => Ok(RunningMonitor {
                base: format!("http://{address}"),
                token,
            }),
            _ => Err(anyhow::anyhow!(
                "a KYC Monitor{pid} is running on {} with its web UI off, and {command} asks a running monitor through that UI: stop it, or run it with the UI on (serve --ui-listen), then {command} again",
                db.display()
            )),
        }
    }

    /// `POST /api/register` with `form`.
    pub async fn register(&self, form: &RegisterForm) -> anyhow::Result<Registered> {
        let answer = self.post("/api/register", Some(form)).await?;
        Ok(Registered {
            validated: answer["attempt"]["validated"] == serde_json::Value::Bool(true),
            message: answer["attempt"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            new_secret_stored: answer["newSecretStored"] == serde_json::Value::Bool(true),
        })
    }

    /// `POST /api/reconcile`, its progress on stderr meanwhile (from `/api/work`, as the
    /// strip shows it). A reconcile that outlives the UI API's deadline (the monitor answers
    /// 504 and goes on to its end) is followed there to its end: a cron job sees how it ended,
    /// not the deadline.
    pub async fn reconcile(&self) -> anyhow::Result<Reconciled> {
        let asked_at = kyc_monitor::time::now_millis();
        let mut progress = Progress::start("reconcile", Unit::Items("users"), None);
        let request = self.send_post("/api/reconcile", None::<&()>);
        tokio::pin!(request);
        let mut look = tokio::time::interval(FOLLOW_EVERY);
        let (status, answer) = loop {
            tokio::select! {
                answer = &mut request => break answer?,
                _ = look.tick() => {
                    if let Ok(Some(work)) = self.reconcile_work(asked_at).await {
                        show(&mut progress, &work);
                    }
                }
            }
        };
        if status.is_success() {
            progress.finish();
            return Ok(Reconciled::Report(answer));
        }
        if status != reqwest::StatusCode::GATEWAY_TIMEOUT {
            return Err(refusal(&answer));
        }
        // A look that fails or finds no reconcile is forgiven a few times (a slow answer, the
        // work board between two states), not for ever (the monitor restarted, say).
        let mut misses = 0;
        loop {
            look.tick().await;
            let work = match self.reconcile_work(asked_at).await {
                Ok(Some(work)) => work,
                missed => {
                    misses += 1;
                    if misses < FOLLOW_MISSES {
                        continue;
                    }
                    return Err(missed.err().unwrap_or_else(|| {
                        anyhow::anyhow!(
                            "the running monitor at {} no longer shows the reconcile (was it restarted?); its log says how it ended",
                            self.base
                        )
                    }));
                }
            };
            misses = 0;
            show(&mut progress, &work);
            if work["state"] != "running" {
                progress.finish();
                return Ok(Reconciled::Followed {
                    message: work["message"].as_str().unwrap_or_default().to_owned(),
                    failed: work["state"] == "failed",
                });
            }
        }
    }

    /// The reconcile `/api/work` shows, when it is the one started at or after `asked_at`.
    async fn reconcile_work(&self, asked_at: i64) -> anyhow::Result<Option<serde_json::Value>> {
        let client = reqwest::Client::builder()
            .timeout(FOLLOW_EVERY * 10)
            .build()?;
        let answer = client
            .get(format!("{}/api/work", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        let works: serde_json::Value = answer.json().await.unwrap_or_default();
        Ok(works.as_array().and_then(|works| {
            works
                .iter()
                .find(|w| {
                    w["kind"] == "reconcile" && w["startedAt"].as_i64() >= Some(asked_at - 1_000)
                })
                .cloned()
        }))
    }

    /// `POST /api/watch`, in requests that stay well under the UI API's body limit (1 MiB):
    /// how many were asked and how many were new, over them all.
    pub async fn watch(&self, external_ids: &[String]) -> anyhow::Result<WatchAnswer> {
        let mut total = WatchAnswer::default();
        let mut rest = external_ids;
        while !rest.is_empty() {
            let mut bytes = 0;
            let take = rest
                .iter()
                .take_while(|id| {
                    bytes += id.len() + 3;
                    bytes <= WATCH_REQUEST_BYTES
                })
                .count()
                .max(1);
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let request = WatchRequest {
                external_ids: chunk.to_vec(),
            };
            let answer: WatchAnswer =
                serde_json::from_value(self.post("/api/watch", Some(&request)).await?)?;
            total.asked += answer.asked;
            total.new += answer.new;
        }
        Ok(total)
    }

    async fn post(
        &self,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> anyhow::Result<serde_json::Value> {
        match self.send_post(path, body).await? {
            (status, answer) if status.is_success() => Ok(answer),
            (_, answer) => Err(refusal(&answer)),
        }
    }

    /// `POST path`: the answer's status and JSON body, whatever the status.
    async fn send_post(
        &self,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let client = reqwest::Client::builder().timeout(ASK_LIMIT).build()?;
        let mut request = client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "could not ask the running monitor at {} ({error}); is it stopping? try again once it has stopped",
            self.base
        )
    }
}

/// What a reconcile asked of the running monitor came to.
pub enum Reconciled {
    /// Its report, as the UI gets it.
    Report(serde_json::Value),
    /// It outlived the UI API's deadline and was followed on `/api/work` to its end: how it
    /// ended, as the strip says it.
    Followed { message: String, failed: bool },
}

/// How often a reconcile running in the monitor is looked at.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Looks in a row that may fail or find no reconcile before the command gives up (10 s).
const FOLLOW_MISSES: u32 = 20;

fn show(progress: &mut Progress, work: &serde_json::Value) {
    if let Some(total) = work["total"].as_u64() {
        progress.set_total(total.max(work["done"].as_u64().unwrap_or(0)));
    }
    progress.set(work["done"].as_u64().unwrap_or(0));
}

/// The one error body, `{"code", "message"}`: its sentence for the user.
fn refusal(answer: &serde_json::Value) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        answer["message"]
            .as_str()
            .unwrap_or("the running monitor refused the request; its log says why")
    )
}
