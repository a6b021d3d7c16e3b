//! `bore`: an in-process client of a self-hosted bore server (raw TCP; put a TLS proxy in front
//! of the server for HTTPS and give its base with --bore-public-base).

use std::net::SocketAddr;

use super::{Opened, TunnelError, TunnelOptions};

/// bore's fixed control port.
pub const CONTROL_PORT: u16 = 7835;
/// After this many refusals of the port we had, any free port is taken (a new public URL).
const KEEP_PORT_TRIES: u32 = 3;

/// What the client remembers between connections.
#[derive(Debug, Clone, Default)]
pub struct BoreMemory {
    /// The public port of the last connection, asked for again so the URL survives reconnects.
    last_port: u16,
    refusals: u32,
}

pub(super) async fn open(
    host: &str,
    control_port: u16,
    options: &mut TunnelOptions,
    local: SocketAddr,
) -> Result<Opened, TunnelError> {
    if control_port != CONTROL_PORT {
        return Err(TunnelError::Permanent(format!(
            "bore servers listen for clients on port {CONTROL_PORT}; the bore client cannot use {control_port}"
        )));
    }
    let asked = if options.bore_port != 0 {
        options.bore_port
    } else {
        options.bore_memory.last_port
    };
    let secret = options.bore_secret.as_ref().map(|s| s.expose());
    let local_host = local.ip().to_string();
    let client =
        match bore_cli::client::Client::new(&local_host, local.port(), host, asked, secret).await {
            Ok(client) => client,
            Err(error) => {
                let text = format!("{error:#}");
                let port_refused =
                    text.contains("port already in use") || text.contains("not in allowed range");
                if port_refused && options.bore_port == 0 && asked != 0 {
                    let memory = &mut options.bore_memory;
                    memory.refusals += 1;
                    if memory.refusals >= KEEP_PORT_TRIES {
                        memory.last_port = 0;
                        memory.refusals = 0;
                    }
                    return Err(TunnelError::Transient(format!(
                        "the bore server does not give back port {asked} yet ({text})"
                    )));
                }
                return Err(classify(host, &text));
            }
        };
    let remote_port = client.remote_port();
    options.bore_memory = BoreMemory {
        last_port: remote_port,
        refusals: 0,
    };
    let public_base = match &options.bore_public_base {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("http://{host}:{remote_port}"),
    };
    let task = tokio::spawn(client.listen());
    let abort = task.abort_handle();
    Ok(Opened {
        public_base,
        closed: Box::pin(async move {
            match task.await {
                Ok(Ok(())) => "the bore server closed the connection".to_owned(),
                Ok(Err(error)) => format!("the bore connection failed ({error})"),
                Err(_) => "the bore client stopped".to_owned(),
            }
        }),
        close: Box::pin(async move { abort.abort() }),
    })
}

fn classify(host: &str, text: &str) -> TunnelError {
    if text.contains("secret") || text.contains("authentication") {
        TunnelError::Permanent(format!(
            "the bore server at {host} refused this client ({text}): check --bore-secret (KYC_MONITOR_BORE_SECRET, or the bore secret in the keychain)"
        ))
    } else if text.contains("port") {
        TunnelError::Permanent(format!(
            "the bore server at {host} refused the port ({text}): check --bore-port"
        ))
    } else {
        TunnelError::Transient(format!(
            "cannot reach the bore server at {host}:{CONTROL_PORT} ({text})"
        ))
    }
}
