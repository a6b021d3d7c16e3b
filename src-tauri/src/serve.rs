//! Headless `serve`: the store, the writer and the webhook listener, with a graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::ingest::{self, WebhookConfig};
use crate::signature::SigningSecret;
use crate::store::{Store, StoreError, Writer};

/// How long a stop waits for requests still being received before it gives up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub webhook_token: bool,
    pub max_body: usize,
    pub signing_secret: Option<SigningSecret>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}; choose another address or port with --listen")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the webhook listener failed: {0}")]
    Listener(std::io::Error),
}

/// A bound, not yet running, server.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    writer: Arc<Writer>,
    webhook_path: String,
    local_addr: SocketAddr,
}

impl Server {
    /// Opens the database and binds the listener; nothing is served until [`Server::run`].
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        let store = Store::open(&config.db)?;
        let token = if config.webhook_token {
            Some(store.webhook_token()?)
        } else {
            None
        };
        let webhook = WebhookConfig {
            token,
            max_body: config.max_body,
            signing_secret: config.signing_secret,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
        let writer = Arc::new(store.start_writer()?);
        let webhook_path = webhook.path();
        let router = ingest::router(webhook, writer.clone());
        Ok(Server {
            listener,
            router,
            writer,
            webhook_path,
            local_addr,
        })
    }

    /// The local URL of the webhook, with the real port.
    pub fn webhook_url(&self) -> String {
        format!("http://{}{}", self.local_addr, self.webhook_path)
    }

    /// Serves until `stop` completes; then stops accepting, stores and answers what is in flight.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let serving = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("stopping: finishing the deliveries in flight");
            let _ = stopping_tx.send(());
        });
        let drain_limit = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(DRAIN_LIMIT).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = serving => result.map_err(ServeError::Listener)?,
            () = drain_limit => tracing::warn!("some requests were still being received after {DRAIN_LIMIT:?}; they were dropped unanswered"),
        }
        self.writer.finish().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
