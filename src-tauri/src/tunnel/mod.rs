//! Tunnels: how the provider, on the internet, reaches the webhook listener on this machine.
//! Only the webhook listener is ever forwarded. A supervisor opens the tunnel, publishes its
//! state and public URL, and reopens it with backoff when it drops.

mod bore;
mod cloudflared;
mod ngrok;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::backoff::{jitter, Backoff};
pub use crate::secret::TunnelSecret;
pub use cloudflared::parse_quick_tunnel_url;
pub use ngrok::parse_allowed_cidr;

/// The waits before reopening a dropped tunnel: 100 ms doubling to 30 s, with jitter.
pub const REOPEN_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(100),
    max: MAX_BACKOFF,
};
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which tunnel `--tunnel` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelSpec {
    None,
    Ngrok,
    Cloudflared,
    /// A self-hosted `bore` server: host and control port.
    Bore {
        host: String,
        port: u16,
    },
    /// The user's own reverse proxy: the public base URL, nothing to run.
    Url(String),
}

impl std::str::FromStr for TunnelSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = "choose none, ngrok, cloudflared, bore:HOST[:PORT] or url:https://...";
        match text {
            "none" => Ok(TunnelSpec::None),
            "ngrok" => Ok(TunnelSpec::Ngrok),
            "cloudflared" => Ok(TunnelSpec::Cloudflared),
            _ => {
                if let Some(rest) = text.strip_prefix("bore:") {
                    let (host, port) = match rest.rsplit_once(':') {
                        Some((host, port)) => (
                            host,
                            port.parse::<u16>().map_err(|_| {
                                format!("{port:?} in {text:?} is not a port number")
                            })?,
                        ),
                        None => (rest, bore::CONTROL_PORT),
                    };
                    if host.is_empty() {
                        return Err(format!(
                            "{text:?} names no bore server: use bore:HOST[:PORT]"
                        ));
                    }
                    Ok(TunnelSpec::Bore {
                        host: host.to_owned(),
                        port,
                    })
                } else if let Some(url) = text.strip_prefix("url:") {
                    let parsed = reqwest::Url::parse(url).map_err(|e| {
                        format!("{url:?} is not a URL ({e}): use url:https://your.host/")
                    })?;
                    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
                        return Err(format!("{url:?} must be an https:// URL"));
                    }
                    Ok(TunnelSpec::Url(url.trim_end_matches('/').to_owned()))
                } else {
                    Err(format!("{text:?} is not a tunnel: {usage}"))
                }
            }
        }
    }
}

impl TunnelSpec {
    pub fn name(&self) -> &'static str {
        match self {
            TunnelSpec::None => "none",
            TunnelSpec::Ngrok => "ngrok",
            TunnelSpec::Cloudflared => "cloudflared",
            TunnelSpec::Bore { .. } => "bore",
            TunnelSpec::Url(_) => "url",
        }
    }
}

/// What the providers need besides the spec, as `config` resolved it.
#[derive(Debug, Clone, Default)]
pub struct TunnelOptions {
    pub ngrok_authtoken: Option<TunnelSecret>,
    pub ngrok_domain: Option<String>,
    pub ngrok_allow_cidrs: Vec<String>,
    pub cloudflared_path: Option<PathBuf>,
    pub bore_secret: Option<TunnelSecret>,
    /// The HTTPS base that a TLS proxy in front of the bore server serves.
    pub bore_public_base: Option<String>,
    /// The public port to ask the bore server for (0: any free one, then kept on reconnects).
    pub bore_port: u16,
    /// Kept by the bore client between connections.
    pub bore_memory: bore::BoreMemory,
    /// Why the OS keychain could not be asked for a missing secret, for the error that follows.
    pub keychain_unread: Option<String>,
}

/// The tunnel's state, as the UI and `serve` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(rename = "TunnelStatus")]
pub enum TunnelState {
    Off,
    Connecting,
    #[serde(rename_all = "camelCase")]
    Up {
        public_url: String,
    },
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

impl TunnelState {
    pub fn public_url(&self) -> Option<&str> {
        match self {
            TunnelState::Up { public_url } => Some(public_url),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// Trying again cannot help (missing program, missing credentials, refused secret).
    #[error("{0}")]
    Permanent(String),
    /// Worth another try after a pause (network, server down).
    #[error("{0}")]
    Transient(String),
}

/// An open tunnel: its public base URL, a future that ends (with the reason) when it drops, and
/// whatever must be dropped or stopped to close it.
pub(crate) struct Opened {
    pub public_base: String,
    pub closed: Pin<Box<dyn Future<Output = String> + Send>>,
    pub close: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Checks what can be checked before starting (credentials, programs), so that `serve` fails
/// at once with what to do rather than later in the supervisor.
pub fn check(spec: &TunnelSpec, options: &TunnelOptions) -> Result<(), NotReady> {
    match spec {
        TunnelSpec::Ngrok => ngrok::check(options),
        TunnelSpec::Cloudflared => cloudflared::find(options).map(|_| ()),
        _ => Ok(()),
    }
    .map_err(NotReady)
}

/// What a tunnel needs and does not have before it can start (a credential, a program), in a
/// sentence saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

async fn open(
    spec: &TunnelSpec,
    options: &mut TunnelOptions,
    local: SocketAddr,
) -> Result<Opened, TunnelError> {
    match spec {
        TunnelSpec::None => Err(TunnelError::Permanent("no tunnel was asked for".into())),
        TunnelSpec::Url(base) => Ok(Opened {
            public_base: base.clone(),
            closed: Box::pin(std::future::pending()),
            close: Box::pin(async {}),
        }),
        TunnelSpec::Bore { host, port } => bore::open(host, *port, options, local).await,
        TunnelSpec::Cloudflared => cloudflared::open(options, local).await,
        TunnelSpec::Ngrok => ngrok::open(options, local).await,
    }
}

/// The wait before reopening after `attempt` failures in a row (see [`REOPEN_BACKOFF`]).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    REOPEN_BACKOFF.wait(attempt, unit)
}

/// The state a tunnel starts in.
pub fn initial_state(spec: &TunnelSpec) -> TunnelState {
    if *spec == TunnelSpec::None {
        TunnelState::Off
    } else {
        TunnelState::Connecting
    }
}

/// Runs the tunnel until `stopping` turns true, publishing its state on `state`.
/// `webhook_path` is appended to the public base to make the URL the provider must call.
pub fn supervise(
    spec: TunnelSpec,
    mut options: TunnelOptions,
    local: SocketAddr,
    webhook_path: String,
    state: watch::Sender<TunnelState>,
    mut stopping: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if spec == TunnelSpec::None {
            return;
        }
        let mut failures: u32 = 0;
        loop {
            let opened = tokio::select! {
                opened = open(&spec, &mut options, local) => Some(opened),
                _ = stopping.wait_for(|stop| *stop) => None,
            };
            let Some(opened) = opened else { break };
            let reason = match opened {
                Ok(opened) => {
                    failures = 0;
                    let public_url = format!("{}{webhook_path}", opened.public_base);
                    tracing::info!(tunnel = spec.name(), "the tunnel is up");
                    state.send_replace(TunnelState::Up { public_url });
                    let dropped = tokio::select! {
                        reason = opened.closed => Some(reason),
                        _ = stopping.wait_for(|stop| *stop) => None,
                    };
                    match dropped {
                        Some(reason) => reason,
                        None => {
                            opened.close.await;
                            break;
                        }
                    }
                }
                Err(TunnelError::Permanent(reason)) => {
                    tracing::error!(tunnel = spec.name(), "the tunnel cannot open: {reason}");
                    state.send_replace(TunnelState::Failed { reason });
                    return;
                }
                Err(TunnelError::Transient(reason)) => reason,
            };
            failures += 1;
            tracing::warn!(
                tunnel = spec.name(),
                attempt = failures,
                "the tunnel is down ({reason}); reopening"
            );
            state.send_replace(TunnelState::Reconnecting {
                attempt: failures,
                reason,
            });
            let stop = tokio::select! {
                () = tokio::time::sleep(backoff(failures, jitter())) => false,
                _ = stopping.wait_for(|stop| *stop) => true,
            };
            if stop {
                break;
            }
        }
        state.send_replace(TunnelState::Off);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_clear_refusals() {
        assert_eq!("none".parse(), Ok(TunnelSpec::None));
        assert_eq!("cloudflared".parse(), Ok(TunnelSpec::Cloudflared));
        assert_eq!(
            "bore:tunnel.example.com".parse(),
            Ok(TunnelSpec::Bore {
                host: "tunnel.example.com".into(),
                port: 7835
            })
        );
        assert_eq!(
            "bore:10.0.0.2:9000".parse(),
            Ok(TunnelSpec::Bore {
                host: "10.0.0.2".into(),
                port: 9000
            })
        );
        assert_eq!(
            "url:https://monitor.example.com/".parse(),
            Ok(TunnelSpec::Url("https://monitor.example.com".into()))
        );
        for bad in [
            "ngrok2",
            "bore:",
            "bore:host:port",
            "url:monitor.example.com",
            "url:ftp://x",
        ] {
            assert!(bad.parse::<TunnelSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_from_100_ms_to_30_s_with_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(4, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(12, 0.0), MAX_BACKOFF / 2);
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let options = TunnelOptions {
            bore_secret: Some(TunnelSecret::new("hunter2")),
            ngrok_authtoken: Some(TunnelSecret::new("2abcTOKEN")),
            ..TunnelOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("2abcTOKEN"),
            "{shown}"
        );
    }
}
