//! Signing in to a team monitor as a native app (RFC 8252): a one-time port on 127.0.0.1,
//! the system browser sent to the team monitor's `/auth/desktop`, the code it sends back traded
//! with the PKCE verifier for a session.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::{http_client, refusal, unreachable, Bearer, TeamPerson};
use crate::monitor::{ErrorBody, ErrorCode};

/// How long the app waits for the person to sign in in the browser.
const SIGN_IN_WAIT: Duration = Duration::from_secs(300);
/// The loopback address's path.
const RETURN_PATH: &str = "/signed-in";

fn random_text() -> String {
    URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>())
}

/// Opens `url` in the system browser: `$BROWSER` when set (as `xdg-open` and Python's
/// `webbrowser` do: the first of its `:`-separated commands), else the platform's opener.
pub fn open_in_browser(url: &str) -> Result<(), String> {
    let browser = std::env::var("BROWSER").ok().and_then(|list| {
        list.split(':')
            .find(|c| !c.trim().is_empty())
            .map(str::to_owned)
    });
    let mut command = match browser {
        Some(browser) => {
            let mut command = std::process::Command::new(browser.trim());
            command.arg(url);
            command
        }
        None if cfg!(target_os = "macos") => {
            let mut command = std::process::Command::new("open");
            command.arg(url);
            command
        }
        None if cfg!(windows) => {
            let mut command = std::process::Command::new("rundll32");
            command.args(["url.dll,FileProtocolHandler", url]);
            command
        }
        None => {
            let mut command = std::process::Command::new("xdg-open");
            command.arg(url);
            command
        }
    };
    command
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|error| format!("the browser could not be opened ({error}); open {url} yourself"))
}

fn failed(message: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unavailable,
        message,
    }
}

/// What the team monitor answers for a code.
#[derive(Deserialize)]
struct Issued {
    session: String,
    #[serde(flatten)]
    person: TeamPerson,
}

/// Signs in to the team monitor at `base`: `open` shows the sign-in address in a browser;
/// returns the session and who it is, once the browser came back and the code was traded.
pub async fn sign_in(
    base: &Url,
    open: impl FnOnce(&str) -> Result<(), String>,
) -> Result<(Bearer, TeamPerson), ErrorBody> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| failed(format!("no loopback port for the sign-in ({e})")))?;
    let port = listener
        .local_addr()
        .map_err(|e| failed(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}{RETURN_PATH}");
    let (verifier, state) = (random_text(), random_text());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut start = base.join("auth/desktop").expect("a relative path");
    start
        .query_pairs_mut()
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    open(start.as_str()).map_err(failed)?;
    let code = tokio::time::timeout(SIGN_IN_WAIT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            failed("nobody signed in within 5 minutes; the sign-in was given up: try again".into())
        })??;
    // The port closes here: it was for this one sign-in.
    drop(listener);
    let token = base.join("auth/desktop/token").expect("a relative path");
    let response = http_client(Some(Duration::from_secs(30)))
        .post(token)
        .json(&serde_json::json!({ "code": code, "code_verifier": verifier }))
        .send()
        .await
        .map_err(|e| unreachable(base, &e))?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let issued: Issued = response.json().await.map_err(|error| {
        failed(format!(
            "the team monitor's answer could not be read ({error})"
        ))
    })?;
    Ok((Bearer::new(issued.session), issued.person))
}

/// Answers requests on the one-time port until the browser comes back with `state`: its code,
/// or the refusal it brings.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<String, ErrorBody> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| failed(format!("the sign-in port failed ({e})")))?;
        let Some(target) = request_target(&mut stream).await else {
            continue;
        };
        let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else {
            continue;
        };
        if url.path() != RETURN_PATH {
            reply(
                &mut stream,
                "404 Not Found",
                "Not here",
                "This is the KYC Monitor app's sign-in port.",
            )
            .await;
            continue;
        }
        let pairs: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        if pairs.get("state").map(String::as_str) != Some(state) {
            reply(
                &mut stream,
                "400 Bad Request",
                "Not this sign-in",
                "This answer is not for the sign-in the app started. Start it again from the app.",
            )
            .await;
            continue;
        }
        let Some(code) = pairs.get("code") else {
            let why = pairs
                .get("error")
                .cloned()
                .unwrap_or_else(|| "no code".into());
            reply(
                &mut stream,
                "400 Bad Request",
                "Sign-in failed",
                "The team monitor did not sign you in. Try again from the app.",
            )
            .await;
            return Err(failed(format!("the sign-in failed ({why})")));
        };
        reply(
            &mut stream,
            "200 OK",
            "Signed in",
            "You are signed in to the team monitor. Go back to the KYC Monitor app; this tab can be closed.",
        )
        .await;
        return Ok(code.clone());
    }
}

/// The target of an HTTP request's first line (`GET /signed-in?... HTTP/1.1`).
async fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    (method == "GET" && target.starts_with('/')).then(|| target.to_owned())
}

async fn reply(stream: &mut TcpStream, status: &str, title: &str, sentence: &str) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · KYC Monitor</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}\
         @media (prefers-color-scheme:dark){{body{{background:#16181c;color:#ddd}}}}</style></head>\
         <body><h1>{title}</h1><p>{sentence}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
