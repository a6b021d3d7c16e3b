//! `serve`: the store, the writer, the webhook listener and (optionally) the local UI listener,
//! with a graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, UiConfig};
use crate::connections::{self, ConnectionLimit};
use crate::ingest::{self, WebhookConfig};
use crate::provider::actions::ProviderHub;
use crate::provider::FlowConfig;
use crate::secret_file::{SecretFileError, SecretSource};
use crate::signature::SigningSecret;
use crate::store::{Store, StoreError, Writer};
use crate::tunnel::{self, TunnelOptions, TunnelSpec, TunnelState};

/// How long a stop waits for requests still being received before it gives up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// The longest a UI API answer may take (registration waits on the provider's retries).
const UI_REQUEST_DEADLINE: Duration = Duration::from_secs(120);
/// The UI API takes small JSON forms only.
const UI_MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db: PathBuf,
    pub listen: SocketAddr,
    /// The local UI and its API; `None` serves the webhook only.
    pub ui_listen: Option<SocketAddr>,
    /// When `ui_listen` is taken, listen on a free port of the same address instead of failing.
    /// For the default address: a second monitor on one machine should not fail for its UI.
    pub ui_port_fallback: bool,
    pub webhook_token: bool,
    pub max_body: usize,
    /// Fixed for the run; without one, the secret file beside the database (see `secret_file`).
    pub signing_secret: Option<SigningSecret>,
    /// Runs the provider emulator in-process and registers this listener with it.
    pub demo: Option<FlowConfig>,
    /// How the provider reaches the webhook listener (only that listener is forwarded).
    pub tunnel: TunnelSpec,
    pub tunnel_options: TunnelOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    #[error("cannot listen on {addr}: {source}; choose another address or port with {flag}")]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("the UI listens on loopback only (such as 127.0.0.1:8788), not on {0}: it shows every user's data")]
    UiNotLoopback(SocketAddr),
    #[error("a listener failed: {0}")]
    Listener(std::io::Error),
    #[error("--tunnel {tunnel}: {reason}")]
    Tunnel {
        tunnel: &'static str,
        reason: String,
    },
}

struct Bound {
    listener: TcpListener,
    router: axum::Router,
}

/// A bound, not yet running, server.
pub struct Server {
    stopping: watch::Sender<bool>,
    webhook: Bound,
    ui: Option<(Bound, String)>,
    writer: Arc<Writer>,
    webhook_url: String,
    hub: Arc<ProviderHub>,
    demo: Option<FlowConfig>,
    tunnel: (TunnelSpec, TunnelOptions),
    tunnel_state: watch::Sender<TunnelState>,
    webhook_addr: SocketAddr,
    webhook_path: String,
    store: Store,
}

/// The UI API without a listener, called in-process (the desktop window): the same routes,
/// guard and JSON as the browser gets, and no port opened.
#[derive(Clone)]
pub struct InProcessApi {
    router: axum::Router,
    token: String,
    host: String,
}

/// An in-process API answer.
pub struct ApiAnswer {
    pub status: u16,
    pub body: axum::body::Body,
}

impl InProcessApi {
    /// Sends one request; `body` is JSON for POSTs. `last_event_id` resumes the feed.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        last_event_id: Option<i64>,
    ) -> ApiAnswer {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(axum::http::header::HOST, &self.host)
            .header(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            );
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let body = match body {
            Some(json) => {
                request = request.header(axum::http::header::CONTENT_TYPE, "application/json");
                axum::body::Body::from(json.to_string())
            }
            None => axum::body::Body::empty(),
        };
        let request = match request.body(body) {
            Ok(request) => request,
            Err(error) => {
                return ApiAnswer {
                    status: 400,
                    body: axum::body::Body::from(
                        serde_json::json!({"error": format!("not a request: {error}")}).to_string(),
                    ),
                }
            }
        };
        // Connection info is what the router's handlers see as the caller.
        let mut request = request;
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        ApiAnswer {
            status: response.status().as_u16(),
            body: response.into_body(),
        }
    }
}

async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, flag, source })
}

impl Server {
    /// Opens the database and binds the listeners; nothing is served until [`Server::run`].
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        if let Some(ui) = config.ui_listen.filter(|addr| !addr.ip().is_loopback()) {
            return Err(ServeError::UiNotLoopback(ui));
        }
        tunnel::check(&config.tunnel, &config.tunnel_options).map_err(|reason| {
            ServeError::Tunnel {
                tunnel: config.tunnel.name(),
                reason,
            }
        })?;
        let tunnel_state = watch::channel(tunnel::initial_state(&config.tunnel)).0;
        let store = Store::open(&config.db)?;
        let token = if config.webhook_token {
            Some(store.webhook_token()?)
        } else {
            None
        };
        let signing_secret = Arc::new(match config.signing_secret {
            Some(secret) => SecretSource::Fixed(Some(secret)),
            None => SecretSource::file(&config.db)?,
        });
        let webhook = WebhookConfig {
            token,
            max_body: config.max_body,
            signing_secret,
        };
        let listener = bind(config.listen, "--listen").await?;
        let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
        let webhook_url = format!("http://{local_addr}{}", webhook.path());
        let writer = Arc::new(store.start_writer()?);
        let hub = Arc::new(ProviderHub::new(
            store.clone(),
            writer.clone(),
            webhook_url.clone(),
        ));
        let (stopping, _) = watch::channel(false);
        let ui = match config.ui_listen {
            Some(addr) => Some(match bind(addr, "--ui-listen").await {
                Err(ServeError::Bind { source, .. })
                    if config.ui_port_fallback
                        && source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    tracing::warn!(%addr, "the UI's usual address is in use (another monitor?); it listens on a free port instead, see the ui: line");
                    bind(SocketAddr::new(addr.ip(), 0), "--ui-listen").await?
                }
                bound => bound?,
            }),
            None => None,
        };
        let webhook_path = webhook.path();
        let router = ingest::router(webhook, writer.clone());
        let mut server = Server {
            stopping,
            webhook: Bound { listener, router },
            ui: None,
            writer,
            webhook_url,
            hub,
            demo: config.demo,
            tunnel_state,
            webhook_addr: local_addr,
            webhook_path,
            tunnel: (config.tunnel, config.tunnel_options),
            store,
        };
        if let Some(listener) = ui {
            let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
            let (router, token) = server.ui_router(local_addr);
            let url = format!("http://{local_addr}/?token={token}");
            server.ui = Some((Bound { listener, router }, url));
        }
        Ok(server)
    }

    /// The UI API's routes for a listener at `local_addr`, with a fresh per-run token.
    fn ui_router(&self, local_addr: SocketAddr) -> (axum::Router, String) {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let token = hex::encode(random);
        let config = UiConfig {
            token: token.clone(),
            local_addr,
            webhook_url: self.webhook_url.clone(),
            tunnel: (self.tunnel.0.name(), self.tunnel_state.subscribe()),
        };
        let router = api::router(
            self.store.clone(),
            self.writer.clone(),
            self.hub.clone(),
            config,
            self.stopping.subscribe(),
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            UI_REQUEST_DEADLINE,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(UI_MAX_BODY));
        (router, token)
    }

    /// The UI API for in-process calls (the desktop window), with no listener.
    pub fn api_in_process(&self) -> InProcessApi {
        // Never bound: only the guard's Host check sees it.
        let local_addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let (router, token) = self.ui_router(local_addr);
        InProcessApi {
            router,
            token,
            host: local_addr.to_string(),
        }
    }

    /// The tunnel's state as it changes (`Off` without a tunnel).
    pub fn tunnel_state(&self) -> watch::Receiver<TunnelState> {
        self.tunnel_state.subscribe()
    }

    /// The provider side of this run (registration, reconcile, demo).
    pub fn hub(&self) -> Arc<ProviderHub> {
        self.hub.clone()
    }

    /// The local URL of the webhook, with the real port.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// The local UI's URL with this run's token, when the UI listens.
    pub fn ui_url(&self) -> Option<&str> {
        self.ui.as_ref().map(|(_, url)| url.as_str())
    }

    /// Serves until `stop` completes; then stops accepting, stores and answers what is in flight.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let stopping_tx = self.stopping;
        let stopping = stopping_tx.subscribe();
        tokio::spawn(async move {
            stop.await;
            tracing::info!("stopping: finishing the deliveries in flight");
            let _ = stopping_tx.send(true);
        });
        let open_files = connections::raise_open_file_limit();
        let mut listeners = tokio::task::JoinSet::new();
        let webhook_limit = ConnectionLimit::webhook(open_files);
        tracing::debug!(
            open_files,
            webhook_connections = webhook_limit.0,
            "connection limits"
        );
        let served = std::iter::once((self.webhook, webhook_limit))
            .chain(self.ui.map(|(bound, _)| (bound, ConnectionLimit::ui())));
        for (bound, limit) in served {
            listeners.spawn(connections::serve(
                bound.listener,
                bound.router,
                limit,
                stopping.clone(),
            ));
        }
        let (spec, options) = self.tunnel;
        let tunnel = (spec != TunnelSpec::None).then(|| {
            tunnel::supervise(
                spec,
                options,
                self.webhook_addr,
                self.webhook_path,
                self.tunnel_state.clone(),
                stopping.clone(),
            )
        });
        // A new public URL is registered again, when this monitor was registered before.
        let mut public = self.tunnel_state.subscribe();
        let hub = self.hub.clone();
        tokio::spawn(async move {
            while public.changed().await.is_ok() {
                let url = public.borrow_and_update().public_url().map(str::to_owned);
                if let Some(url) = url {
                    hub.follow_public_url(&url).await;
                }
            }
        });
        if let Some(flows) = self.demo {
            // After the listeners run: the emulator validates the URL with a real request.
            let hub = self.hub.clone();
            tokio::spawn(async move {
                if let Err(error) = hub.start_demo(flows, false).await {
                    tracing::error!("{error}");
                }
            });
        }
        let mut drain_limit = stopping.clone();
        let drained = async { while listeners.join_next().await.is_some() {} };
        tokio::select! {
            () = drained => {},
            _ = async {
                let _ = drain_limit.wait_for(|stop| *stop).await;
                tokio::time::sleep(DRAIN_LIMIT).await;
            } => tracing::warn!("some requests were still being received after {DRAIN_LIMIT:?}; they were dropped unanswered"),
        }
        if let Some(tunnel) = tunnel {
            // The supervisor closes the tunnel (and reaps a child process) on the stop signal.
            let _ = tunnel.await;
        }
        self.hub.stop().await;
        self.writer.finish().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Prints `public: URL` on stdout when the tunnel is up, and again whenever its URL changes
/// (the contract's start-up line), until the tunnel's state feed ends.
pub async fn print_public_urls(mut tunnel: watch::Receiver<TunnelState>) {
    use std::io::Write;
    let mut printed: Option<String> = None;
    loop {
        let url = tunnel.borrow_and_update().public_url().map(str::to_owned);
        if let Some(url) = url.filter(|url| printed.as_ref() != Some(url)) {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "public: {url}");
            let _ = stdout.flush();
            printed = Some(url);
        }
        if tunnel.changed().await.is_err() {
            break;
        }
    }
}

/// Listens for Ctrl-C and SIGTERM from now on; the future completes on either. Call it before
/// announcing readiness: a signal that arrives before the handlers exist kills the process
/// without the graceful stop.
pub fn stop_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
