//! The team monitor's live feed (`GET /api/feed`, Server-Sent Events), read into the same
//! `{event, data}` values the local core's feed gives the window.

use url::Url;

use super::{refusal, unreachable, TeamLink};
use crate::monitor::ErrorBody;

/// What following the feed sees.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// The feed is open: the team monitor is reachable and the session holds.
    Open,
    /// One live event, `{"event": name, "data": ...}` as the local feed's.
    Event(serde_json::Value),
}

/// Follows the feed from after `resume` (moved on as events come) until it ends: `Ok` when
/// the team monitor closed it, the failure otherwise (a 401: the session ended).
pub async fn follow(
    link: &TeamLink,
    resume: &mut Option<i64>,
    mut seen: impl FnMut(FeedItem),
) -> Result<(), ErrorBody> {
    let url: Url = link.base.join("api/feed").expect("a relative path");
    let mut request = link
        .feed_client()
        .get(url)
        .bearer_auth(link.bearer.expose())
        .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(id) = resume {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| unreachable(&link.base, &e))?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    seen(FeedItem::Open);
    let mut parser = Parser::default();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                for event in parser.push(&bytes) {
                    if let Some(id) = event.id {
                        *resume = Some(id);
                    }
                    seen(FeedItem::Event(event.value));
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(unreachable(&link.base, &error)),
        }
    }
}

impl TeamLink {
    /// A client without an overall timeout: the feed stays open.
    fn feed_client(&self) -> reqwest::Client {
        super::http_client(None)
    }
}

struct Parsed {
    id: Option<i64>,
    value: serde_json::Value,
}

/// Server-Sent Events from chunks of bytes.
#[derive(Default)]
struct Parser {
    pending: Vec<u8>,
    event: String,
    data: String,
    id: Option<i64>,
}

impl Parser {
    fn push(&mut self, bytes: &[u8]) -> Vec<Parsed> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let Some(parsed) = self.dispatch() {
                    out.push(parsed);
                }
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => self.event = value.to_owned(),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                "id" => self.id = value.trim().parse().ok(),
                _ => {}
            }
        }
        out
    }

    fn dispatch(&mut self) -> Option<Parsed> {
        let (event, data, id) = (
            std::mem::take(&mut self.event),
            std::mem::take(&mut self.data),
            self.id.take(),
        );
        if event.is_empty() || data.is_empty() {
            return None;
        }
        let data: serde_json::Value = serde_json::from_str(&data).ok()?;
        Some(Parsed {
            id,
            value: serde_json::json!({ "event": event, "data": data }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let mut parser = Parser::default();
        assert!(parser.push(b": keep-alive\n\nevent: chan").is_empty());
        let parsed = parser.push(b"ge\ndata: {\"a\":1}\nid: 7\n\nevent: store\r\ndata: {}\r\n\r\n");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].id, Some(7));
        assert_eq!(
            parsed[0].value,
            serde_json::json!({"event": "change", "data": {"a": 1}})
        );
        assert_eq!(parsed[1].id, None);
        assert_eq!(parsed[1].value["event"], "store");
    }
}
