//! `ngrok`: in-process through the official crate. Needs an account's authtoken; reconnects by
//! itself; a reserved domain keeps the URL stable.

use std::net::SocketAddr;

use ngrok::config::ForwarderBuilder;
use ngrok::tunnel::EndpointInfo;

use super::{Opened, TunnelError, TunnelOptions};

const AUTHTOKEN_HINT: &str = "ngrok needs your account's authtoken (from https://dashboard.ngrok.com/get-started/your-authtoken): set NGROK_AUTHTOKEN, keep it in the keychain (the desktop app's Settings, or `secret-tool store --label=\"KYC Monitor: ngrok authtoken\" service kyc-monitor username ngrok-authtoken`), or choose --tunnel cloudflared, which needs no account";

/// Checks one allowed source for `--ngrok-allow-cidr` and the desktop settings: an IPv4 or IPv6
/// network such as 203.0.113.0/24. ngrok would refuse a bad one only when the tunnel opens.
pub fn parse_allowed_cidr(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a network such as 203.0.113.0/24 or 2001:db8::/32");
    let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
    let address: std::net::IpAddr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let longest = if address.is_ipv4() { 32 } else { 128 };
    if prefix > longest {
        return Err(bad());
    }
    Ok(text.to_owned())
}

pub(super) fn check(options: &TunnelOptions) -> Result<(), String> {
    match &options.ngrok_authtoken {
        Some(token) if !token.expose().trim().is_empty() => Ok(()),
        _ => Err(match &options.keychain_unread {
            Some(reason) => format!("{AUTHTOKEN_HINT} (the keychain could not be asked: {reason})"),
            None => AUTHTOKEN_HINT.to_owned(),
        }),
    }
}

pub(super) async fn open(
    options: &mut TunnelOptions,
    local: SocketAddr,
) -> Result<Opened, TunnelError> {
    check(options).map_err(TunnelError::Permanent)?;
    let token = options
        .ngrok_authtoken
        .as_ref()
        .map(|t| t.expose().trim().to_owned())
        .unwrap_or_default();
    let session = ngrok::Session::builder()
        .authtoken(token)
        .connect()
        .await
        .map_err(|error| {
            let text = error.to_string();
            // ngrok's messages name the problem (bad authtoken, account limits); never the token.
            if text.contains("authtoken") || text.contains("ERR_NGROK_1") {
                TunnelError::Permanent(format!("ngrok refused the session: {text}"))
            } else {
                TunnelError::Transient(format!("cannot reach ngrok: {text}"))
            }
        })?;
    let mut endpoint = session.http_endpoint();
    if let Some(domain) = &options.ngrok_domain {
        endpoint.domain(domain.clone());
    }
    for cidr in &options.ngrok_allow_cidrs {
        endpoint.allow_cidr(cidr.clone());
    }
    let to = format!("http://{local}")
        .parse()
        .expect("a local URL parses");
    let mut forwarder = endpoint
        .listen_and_forward(to)
        .await
        .map_err(|e| TunnelError::Transient(format!("ngrok could not open the endpoint: {e}")))?;
    let public_base = forwarder.url().trim_end_matches('/').to_owned();
    let abort = forwarder.join().abort_handle();
    Ok(Opened {
        public_base,
        closed: Box::pin(async move {
            let reason = match forwarder.join().await {
                Ok(Ok(())) => "the ngrok endpoint closed".to_owned(),
                Ok(Err(error)) => format!("the ngrok endpoint failed ({error})"),
                Err(_) => "the ngrok endpoint stopped".to_owned(),
            };
            drop(session);
            reason
        }),
        close: Box::pin(async move { abort.abort() }),
    })
}
