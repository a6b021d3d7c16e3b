//! `cloudflared`: a Cloudflare quick tunnel run as a child process. No account needed; the
//! `https://*.trycloudflare.com` URL is read from its output. The child is stopped with the app.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use super::{Opened, TunnelError, TunnelOptions};

/// How long cloudflared may take to print its URL.
const URL_WAIT: Duration = Duration::from_secs(30);
const INSTALL_HINT: &str = "install it from https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/ (a .deb for Debian and Ubuntu), or give its path with --cloudflared-path (KYC_MONITOR_CLOUDFLARED)";

/// The quick tunnel's URL in a line of cloudflared's output, if the line has one.
pub fn parse_quick_tunnel_url(line: &str) -> Option<String> {
    let mut rest = line;
    while let Some(start) = rest.find("https://") {
        let candidate = &rest[start..];
        let end = candidate[8..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            .map_or(candidate.len(), |i| i + 8);
        let url = candidate[..end].trim_end_matches('.');
        let host = &url[8..];
        if host.ends_with(".trycloudflare.com") && host != "api.trycloudflare.com" {
            return Some(url.to_owned());
        }
        rest = &candidate[end..];
    }
    None
}

/// The cloudflared program: the configured path, or the one on PATH.
pub(super) fn find(options: &TunnelOptions) -> Result<PathBuf, String> {
    if let Some(path) = &options.cloudflared_path {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(format!(
                "there is no cloudflared at {}: {INSTALL_HINT}",
                path.display()
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("cloudflared"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("cloudflared is not installed (not found on PATH): {INSTALL_HINT}"))
}

pub(super) async fn open(
    options: &mut TunnelOptions,
    local: SocketAddr,
) -> Result<Opened, TunnelError> {
    let program = find(options).map_err(TunnelError::Permanent)?;
    let mut child = Command::new(&program)
        .args([
            "tunnel",
            "--no-autoupdate",
            "--url",
            &format!("http://{local}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TunnelError::Permanent(format!("cannot run {}: {e}", program.display())))?;

    // Both streams are read to the end (so cloudflared never blocks on a full pipe); lines go
    // to the debug log and to the URL search.
    let (lines, mut read) = mpsc::unbounded_channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                tracing::debug!(target: "cloudflared", "{line}");
                let _ = lines.send(line);
            }
        });
    }
    drop(lines);

    let mut last_line = String::new();
    let found = tokio::time::timeout(URL_WAIT, async {
        while let Some(line) = read.recv().await {
            if let Some(url) = parse_quick_tunnel_url(&line) {
                return Some(url);
            }
            last_line = line;
        }
        None
    })
    .await;
    let url = match found {
        Ok(Some(url)) => url,
        Ok(None) => {
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Err(TunnelError::Transient(format!(
                "cloudflared exited ({status}) before giving a URL; its last words: {last_line}"
            )));
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(TunnelError::Transient(format!(
                "cloudflared gave no tunnel URL within {} s",
                URL_WAIT.as_secs()
            )));
        }
    };
    // Keep draining so the child never blocks on its output.
    tokio::spawn(async move { while read.recv().await.is_some() {} });

    let (stop, stopped) = oneshot::channel::<oneshot::Sender<()>>();
    let (exited, closed) = oneshot::channel::<String>();
    tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let _ = exited.send(format!("cloudflared exited ({status})"));
            }
            done = stopped => {
                // Stopped with the app: killed and reaped, never left behind.
                let _ = child.kill().await;
                if let Ok(done) = done {
                    let _ = done.send(());
                }
            }
        }
    });
    Ok(Opened {
        public_base: url,
        closed: Box::pin(async move {
            closed
                .await
                .unwrap_or_else(|_| "cloudflared stopped".to_owned())
        }),
        close: Box::pin(async move {
            let (done, reaped) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = reaped.await;
            }
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_quick_tunnel_url;

    #[test]
    fn finds_the_quick_tunnel_url_and_nothing_else() {
        let banner = "2026-11-26T10:00:00Z INF |  https://vintage-mouse-lake-trees.trycloudflare.com                    |";
        assert_eq!(
            parse_quick_tunnel_url(banner).as_deref(),
            Some("https://vintage-mouse-lake-trees.trycloudflare.com")
        );
        for other in [
            "2026-11-26T10:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...",
            "INF By using this you agree to https://www.cloudflare.com/website-terms/.",
            "INF calling https://api.trycloudflare.com/tunnel",
            "",
        ] {
            assert_eq!(parse_quick_tunnel_url(other), None, "{other}");
        }
    }
}
