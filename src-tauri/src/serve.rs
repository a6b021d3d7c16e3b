//! `serve`: the store, the writer, the webhook listener and (optionally) the local UI listener,
//! with a graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, UiAccess, UiGate};
use crate::connections::{self, ConnectionLimit};
use crate::ingest::{self, WebhookConfig};
use crate::monitor::{Monitor, MonitorParts};
use crate::provider::actions::ProviderHub;
use crate::provider::FlowConfig;
use crate::secret_file::{SecretFileError, SecretSource};
use crate::signature::SigningSecret;
use crate::store::{FileLock, Store, StoreError, Writer};
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
    /// The demo: whether it starts with the monitor, and what it (and the UI's Start demo) runs.
    pub demo: DemoOptions,
    /// How the provider reaches the webhook listener (only that listener is forwarded).
    pub tunnel: TunnelSpec,
    pub tunnel_options: TunnelOptions,
    /// Forwarding to the user's backends, and retention of raw deliveries.
    pub outbound: Outbound,
    /// Team mode (people signed in, sessions, roles); `None` is single-person mode.
    pub team: Option<crate::config::team::TeamConfig>,
}

/// The built-in demo (the provider emulator in-process, this listener registered with it).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Starts it with the monitor (`serve --demo`), not only from the UI.
    pub at_start: bool,
    pub flows: FlowConfig,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            at_start: false,
            flows: FlowConfig::demo(),
        }
    }
}

/// What leaves the monitor or is let go: forwarding (`--forward-to`) and retention
/// (`--keep-deliveries`). The default does neither.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    pub forward_to: Vec<String>,
    /// Signs forwarded deliveries (Standard Webhooks) with the monitor's own secret.
    pub forward_signing_secret: Option<crate::signature::SharedSecret>,
    /// Raw deliveries older than this lose their body and headers.
    pub keep_deliveries: Option<Duration>,
    /// When set, the only folder backups asked for from the UI may be written into.
    pub backup_dir: Option<PathBuf>,
}

/// Forwarding and retention as this run does them.
struct Outgoing {
    store: Store,
    /// Names the deliveries this monitor forwards (see `forward::own_webhook_id_prefix`).
    instance_id: String,
    destinations: Vec<crate::store::Destination>,
    outbound: Outbound,
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
    #[error("the UI listens on loopback only (such as 127.0.0.1:8788), not on {0}, unless people sign in: add --auth oidc or --auth proxy")]
    UiNotLoopback(SocketAddr),
    #[error("--forward-to {url} is this monitor's own webhook ({listener}): every delivery would be forwarded back to itself without end; forward to your backend's URL instead")]
    ForwardsToItself { url: String, listener: String },
    #[error("{0}")]
    Team(String),
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

/// The local UI listener with the URL (and this run's token) to open it.
struct UiListener {
    bound: Bound,
    url: String,
}

/// A bound, not yet running, server.
pub struct Server {
    stopping: watch::Sender<bool>,
    webhook: Bound,
    ui: Option<UiListener>,
    writer: Arc<Writer>,
    monitor: Arc<Monitor>,
    hub: Arc<ProviderHub>,
    demo_at_start: bool,
    tunnel: TunnelSpec,
    tunnel_options: TunnelOptions,
    tunnel_state: watch::Sender<TunnelState>,
    webhook_addr: SocketAddr,
    webhook_path: String,
    outgoing: Outgoing,
    signing_secret: Arc<SecretSource>,
    refusals: Arc<ingest::RefusalBudget>,
    /// This run's claim on the database, released once the writer has finished.
    claim: FileLock,
}

async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, flag, source })
}

impl Server {
    /// Opens the database and binds the listeners; nothing is served until [`Server::run`].
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        let team_mode = config.team.is_some();
        if let Some(ui) = config
            .ui_listen
            .filter(|addr| !team_mode && !addr.ip().is_loopback())
        {
            return Err(ServeError::UiNotLoopback(ui));
        }
        tunnel::check(&config.tunnel, &config.tunnel_options).map_err(|reason| {
            ServeError::Tunnel {
                tunnel: config.tunnel.name(),
                reason,
            }
        })?;
        let tunnel_state = watch::channel(tunnel::initial_state(&config.tunnel)).0;
        // Opening the database (its checks and migrations) and reading the secret file block:
        // off the async workers.
        let (store, claim, token, instance_id, ui_token, signing_secret) = {
            let (db, with_token, given, with_ui) = (
                config.db.clone(),
                config.webhook_token,
                config.signing_secret.clone(),
                config.ui_listen.is_some(),
            );
            crate::blocking::off_worker(move || {
                let store = Store::open(&db)?;
                let claim = store.claim_monitor()?;
                let token = with_token.then(|| store.webhook_token()).transpose()?;
                let instance_id = store.instance_id()?;
                let ui_token = with_ui.then(|| store.ui_token()).transpose()?;
                let secret = match given {
                    Some(secret) => SecretSource::Fixed(Some(secret)),
                    None => SecretSource::file(&db)?,
                };
                Ok::<_, ServeError>((store, claim, token, instance_id, ui_token, Arc::new(secret)))
            })
            .await?
        };
        let webhook = WebhookConfig {
            token,
            max_body: config.max_body,
            signing_secret: signing_secret.clone(),
            own_forwards: crate::forward::own_webhook_id_prefix(&instance_id),
            refusals: Arc::new(ingest::RefusalBudget::default()),
        };
        let refusals = webhook.refusals.clone();
        let listener = bind(config.listen, "--listen").await?;
        let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
        let webhook_url = format!("http://{local_addr}{}", webhook.path());
        refuse_forwarding_to_itself(&config.outbound.forward_to, local_addr, &config.tunnel)
            .await?;
        // Before the writer starts: the projector puts accepted deliveries in their outboxes.
        let destinations =
            store.set_destinations(&config.outbound.forward_to, crate::time::now_millis())?;
        let outgoing = Outgoing {
            store: store.clone(),
            destinations,
            outbound: config.outbound,
            instance_id,
        };
        let writer = {
            let store = store.clone();
            Arc::new(crate::blocking::off_worker(move || store.start_writer()).await?)
        };
        let hub = Arc::new(ProviderHub::new(
            store.clone(),
            writer.clone(),
            webhook_url.clone(),
            config.demo.flows,
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
        let monitor = Arc::new(Monitor::new(MonitorParts {
            store,
            writer: writer.clone(),
            hub: hub.clone(),
            webhook_url,
            backup_dir: outgoing.outbound.backup_dir.clone(),
            tunnel_kind: config.tunnel.name(),
            tunnel: tunnel_state.subscribe(),
            stopping: stopping.subscribe(),
        }));
        let ui = match ui {
            Some(listener) => {
                let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
                let (gate, url) = match config.team {
                    // Shared: people sign in, so the line names the listener without a token.
                    Some(team) => (
                        UiGate::Team(
                            crate::auth::TeamAuth::new_shared(team, &monitor)
                                .map_err(ServeError::Team)?,
                        ),
                        format!("http://{local_addr}/"),
                    ),
                    None => {
                        let token = ui_token.unwrap_or_default();
                        let access = UiAccess::new(local_addr, token, writer.clone());
                        let url = access.url();
                        (UiGate::Token(access), url)
                    }
                };
                let router = api::router(monitor.clone(), gate)
                    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                        axum::http::StatusCode::GATEWAY_TIMEOUT,
                        UI_REQUEST_DEADLINE,
                    ))
                    .layer(tower_http::limit::RequestBodyLimitLayer::new(UI_MAX_BODY))
                    // Outermost: the layers' own refusals (413, 504) get the one error body too.
                    .layer(axum::middleware::from_fn(api::one_error_shape));
                Some(UiListener {
                    bound: Bound { listener, router },
                    url,
                })
            }
            None => None,
        };
        Ok(Server {
            stopping,
            webhook: Bound { listener, router },
            ui,
            writer,
            monitor,
            hub,
            demo_at_start: config.demo.at_start,
            tunnel_state,
            webhook_addr: local_addr,
            webhook_path,
            outgoing,
            signing_secret,
            refusals,
            claim,
            tunnel: config.tunnel,
            tunnel_options: config.tunnel_options,
        })
    }

    /// The core service of this run, for the shells that call it in-process (the desktop app).
    pub fn monitor(&self) -> Arc<Monitor> {
        self.monitor.clone()
    }

    /// The tunnel's state as it changes (`Off` without a tunnel).
    pub fn tunnel_state(&self) -> watch::Receiver<TunnelState> {
        self.tunnel_state.subscribe()
    }

    /// The local URL of the webhook, with the real port.
    pub fn webhook_url(&self) -> &str {
        self.monitor.webhook_url()
    }

    /// The local UI's URL with this run's token, when the UI listens.
    pub fn ui_url(&self) -> Option<&str> {
        self.ui.as_ref().map(|ui| ui.url.as_str())
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
        self.signing_secret.keep_fresh(stopping.clone());
        let open_files = connections::raise_open_file_limit();
        let mut listeners = tokio::task::JoinSet::new();
        let webhook_limit = ConnectionLimit::webhook(open_files);
        tracing::debug!(
            open_files,
            webhook_connections = webhook_limit.0,
            "connection limits"
        );
        tokio::spawn(
            self.refusals
                .clone()
                .write_counts(self.writer.clone(), stopping.clone()),
        );
        // Requests whose headers are over the limit are answered 431 by hyper before a path is
        // read: counted, as they cannot be kept.
        let refusals = self.refusals.clone();
        let oversized: connections::OnOversized = Arc::new(move |remote| {
            refusals.count(
                remote.ip().to_canonical(),
                crate::time::now_millis(),
                "headers-too-large",
            )
        });
        let served = std::iter::once((self.webhook, webhook_limit, Some(oversized)))
            .chain(self.ui.map(|ui| (ui.bound, ConnectionLimit::ui(), None)));
        for (bound, limit, oversized) in served {
            listeners.spawn(connections::serve(
                bound.listener,
                bound.router,
                limit,
                oversized,
                stopping.clone(),
            ));
        }
        let tunnel = (self.tunnel != TunnelSpec::None).then(|| {
            tunnel::supervise(
                self.tunnel,
                self.tunnel_options,
                self.webhook_addr,
                self.webhook_path,
                self.tunnel_state.clone(),
                stopping.clone(),
            )
        });
        // A new public URL is registered again, when this monitor was registered before.
        // A destination that turns out to be the tunnel's new public URL is paused: it would
        // loop (a forwarded delivery coming back is recognised anyway, see ingest).
        let mut public = self.tunnel_state.subscribe();
        let hub = self.hub.clone();
        let (writer, webhook_addr) = (self.writer.clone(), self.webhook_addr);
        let destinations = self.outgoing.destinations.clone();
        tokio::spawn(async move {
            while public.changed().await.is_ok() {
                let url = public.borrow_and_update().public_url().map(str::to_owned);
                if let Some(url) = url {
                    for destination in &destinations {
                        if crate::forward::forwards_to_itself(
                            &destination.url,
                            webhook_addr,
                            Some(&url),
                            false,
                        ) {
                            tracing::error!(destination = %crate::forward::shown_url(&destination.url), public = %url, "a forwarding destination is this monitor's own public URL; forwarding there is paused (it would loop): remove it from --forward-to");
                            let _ = writer.pause_destination(destination.id, true).await;
                        }
                    }
                    hub.follow_public_url(&url).await;
                }
            }
        });
        let outgoing = self.outgoing;
        let forwarders = crate::forward::start(
            &outgoing.store,
            self.writer.clone(),
            outgoing.destinations,
            outgoing.outbound.forward_signing_secret,
            &outgoing.instance_id,
            stopping.clone(),
        )?;
        if let Some(keep) = outgoing.outbound.keep_deliveries {
            tokio::spawn(crate::store::retention::keep_deliveries(
                self.writer.clone(),
                keep,
                stopping.clone(),
            ));
        }
        if self.demo_at_start {
            // After the listeners run: the emulator validates the URL with a real request.
            let hub = self.hub.clone();
            tokio::spawn(async move {
                if let Err(error) = hub.start_demo().await {
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
        // An attempt cut short here is made again on the next start (at least once).
        for forwarder in forwarders {
            forwarder.abort();
        }
        self.writer.finish().await;
        drop(self.claim);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Refuses a forwarding destination that is this monitor's own webhook listener (names are
/// resolved, off the async workers) or the public URL of a `url:` tunnel.
async fn refuse_forwarding_to_itself(
    urls: &[String],
    listener: SocketAddr,
    tunnel: &TunnelSpec,
) -> Result<(), ServeError> {
    let public = match tunnel {
        TunnelSpec::Url(url) => Some(url.clone()),
        _ => None,
    };
    let urls = urls.to_vec();
    crate::blocking::off_worker(move || {
        match urls
            .into_iter()
            .find(|url| crate::forward::forwards_to_itself(url, listener, public.as_deref(), true))
        {
            Some(url) => Err(ServeError::ForwardsToItself {
                url: crate::forward::shown_url(&url),
                listener: listener.to_string(),
            }),
            None => Ok(()),
        }
    })
    .await
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
