//! `ngrok`: in-process through the official crate. Needs an account's authtoken; reconnects by
//! itself; a reserved domain keeps the URL stable.

use std::net::SocketAddr;

use ngrok::config::ForwarderBuilder;
use ngrok::tunnel::EndpointInfo;

use super::{Opened, TunnelError, TunnelOptions};

const AUTHTOKEN_HINT: &str = "ngrok needs your account's authtoken (from https://dashboard.ngrok.com/get-started/your-authtoken): set NGROK_AUTHTOKEN, keep it in the keychain (the desktop app's Settings, or `secret-tool store --label=\"KYC Monitor: ngrok authtoken\" service kyc-monitor username ngrok-authtoken`), or choose --tunnel cloudflared, which needs no account";

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
