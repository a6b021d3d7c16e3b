//! The case tests' local UI of a single-person monitor (the team's people are
//! `support::team`'s).

use serde_json::Value;

use crate::support::*;

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
