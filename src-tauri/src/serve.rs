//! `serve`: the webhook listener, (optionally) the local UI listener and the tunnel attached to
//! a monitor from `Monitor::open`, with a graceful stop.

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
use crate::metrics::{DeliveryMetrics, Metrics};
use crate::monitor::{bind, Monitor, MonitorConfig, OpenError};
use crate::provider::FlowConfig;
use crate::secret_file::{SecretFileError, SecretSet, SecretSource};
use crate::signature::SigningSecret;
use crate::store::StoreError;
use crate::tunnel::{self, TunnelOptions, TunnelSpec, TunnelState};

/// How long a stop waits for requests still being received before it gives up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// The longest a UI API answer may take unless `--ui-deadline` says (registration waits on the
/// provider's retries); a change asked for goes on to its end after it.
pub const UI_REQUEST_DEADLINE: Duration = Duration::from_secs(120);
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
    /// Fixed for the run, all verifying (a rotation by hand); without any, the secret file
    /// beside the database (see `secret_file`).
    pub signing_secrets: Vec<SigningSecret>,
    /// How long a registration with another secret keeps the replaced one valid.
    pub rotation_grace: std::time::Duration,
    /// The demo: whether it starts with the monitor, and what it (and the UI's Start demo) runs.
    pub demo: DemoOptions,
    /// How the provider reaches the webhook listener (only that listener is forwarded).
    pub tunnel: TunnelSpec,
    pub tunnel_options: TunnelOptions,
    /// Forwarding to the user's backends, and retention of raw deliveries.
    pub outbound: Outbound,
    /// Team mode (people signed in, sessions, roles); `None` is single-person mode.
    pub team: Option<crate::config::team::TeamConfig>,
    /// `/metrics`, `/healthz` and `/readyz` (loopback only unless people sign in); `None`: off.
    pub metrics_listen: Option<SocketAddr>,
    /// `--poll-every` and `--poll-rate`.
    pub polling: crate::monitor::Polling,
    /// `--review-sla`: a review case waiting longer is over its SLA.
    pub review_sla: Duration,
    /// `--ui-deadline`: the longest the UI API takes to answer before it says 504.
    pub ui_deadline: Duration,
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

pub use crate::monitor::Outbound;

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
    #[error("--metrics-listen takes a loopback address (such as 127.0.0.1:9187), not {0}, unless people sign in (--auth oidc or --auth proxy); scrape through a proxy otherwise")]
    MetricsNotLoopback(SocketAddr),
    #[error("--forward-to {url} is this monitor's own webhook ({listener}): every delivery would be forwarded back to itself without end; forward to your backend's URL instead")]
    ForwardsToItself { url: String, listener: String },
    #[error("--forward-to {0} and another --forward-to differ only in their credentials or query values, which the monitor keeps masked (***), so it would take them for one destination: give each destination once, telling them apart in the path")]
    TwinDestinations(String),
    #[error("{0}")]
    Team(crate::auth::SetupError),
    #[error("a listener failed: {0}")]
    Listener(std::io::Error),
    #[error("{0}")]
    Alerts(String),
    #[error("--tunnel {tunnel}: {reason}")]
    Tunnel {
        tunnel: &'static str,
        reason: String,
    },
}

impl From<OpenError> for ServeError {
    fn from(error: OpenError) -> ServeError {
        match error {
            OpenError::Store(error) => ServeError::Store(error),
            OpenError::Bind { addr, flag, source } => ServeError::Bind { addr, flag, source },
            OpenError::ForwardsToItself { url, listener } => {
                ServeError::ForwardsToItself { url, listener }
            }
            OpenError::TwinDestinations(url) => ServeError::TwinDestinations(url),
            OpenError::Listener(error) => ServeError::Listener(error),
            OpenError::Alerts(error) => ServeError::Alerts(error),
        }
    }
}

struct Bound {
    listener: TcpListener,
    router: axum::Router,
}

/// The local UI listener with the URL (and this run's token) to open it.
struct UiListener {
    bound: Bound,
    url: String,
    addr: SocketAddr,
}

/// A bound, not yet running, server.
pub struct Server {
    webhook: Bound,
    ui: Option<UiListener>,
    /// The metrics listener and its address.
    metrics: Option<(Bound, SocketAddr)>,
    monitor: Arc<Monitor>,
    demo_at_start: bool,
    tunnel: TunnelSpec,
    tunnel_options: TunnelOptions,
    webhook_addr: SocketAddr,
    webhook_path: String,
    signing_secret: Arc<SecretSource>,
    refusals: Arc<ingest::RefusalBudget>,
}

impl Server {
    /// Opens the monitor ([`Monitor::open`]) and binds the listeners; nothing is served until
    /// [`Server::run`].
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        let team_mode = config.team.is_some();
        if let Some(ui) = config
            .ui_listen
            .filter(|addr| !team_mode && !addr.ip().is_loopback())
        {
            return Err(ServeError::UiNotLoopback(ui));
        }
        if let Some(addr) = config
            .metrics_listen
            .filter(|addr| !team_mode && !addr.ip().is_loopback())
        {
            return Err(ServeError::MetricsNotLoopback(addr));
        }
        tunnel::check(&config.tunnel, &config.tunnel_options).map_err(|reason| {
            ServeError::Tunnel {
                tunnel: config.tunnel.name(),
                reason: reason.to_string(),
            }
        })?;
        let (monitor, socket) = Monitor::open(MonitorConfig {
            db: config.db.clone(),
            listen: Some(config.listen),
            webhook_token: config.webhook_token,
            tunnel: config.tunnel.clone(),
            demo_flows: config.demo.flows,
            outbound: Some(config.outbound),
            polling: Some(config.polling),
            signing_secrets: config.signing_secrets.clone(),
            rotation_grace: config.rotation_grace,
            review_sla: config.review_sla,
        })
        .await?;
        let socket = socket.expect("a monitor opened with an address has a webhook socket");
        // Reading the secret file blocks: off the async workers.
        let signing_secret = {
            let (db, given) = (config.db.clone(), config.signing_secrets.clone());
            Arc::new(
                crate::blocking::off_worker(move || match SecretSet::fixed(given) {
                    Some(secrets) => Ok(SecretSource::Fixed(Some(secrets))),
                    None => SecretSource::file(&db),
                })
                .await?,
            )
        };
        let mut webhook = WebhookConfig {
            token: socket.token,
            max_body: config.max_body,
            signing_secret: signing_secret.clone(),
            own_forwards: socket.own_forwards,
            refusals: Arc::new(ingest::RefusalBudget::default()),
            metrics: DeliveryMetrics::off(),
        };
        let refusals = webhook.refusals.clone();
        let listener = socket.listener;
        let local_addr = listener.local_addr().map_err(ServeError::Listener)?;
        let ui = match config.ui_listen {
            Some(addr) => Some(match bind(addr, "--ui-listen").await {
                Err(OpenError::Bind { source, .. })
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
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let listener = bind(addr, "--metrics-listen").await?;
                let addr = listener.local_addr().map_err(ServeError::Listener)?;
                let metrics = Metrics::new();
                webhook.metrics = metrics.deliveries();
                tokio::spawn(metrics.clone().keep_up(monitor.stopping()));
                let router = crate::metrics::endpoints::router(monitor.clone(), metrics);
                Some((Bound { listener, router }, addr))
            }
            None => None,
        };
        let webhook_path = webhook.path();
        let router = ingest::router(webhook, monitor.writer().clone());
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
                        let token = monitor.writer().ui_token().await?;
                        let access = UiAccess::new(local_addr, token, monitor.writer().clone());
                        let url = access.url();
                        (UiGate::Token(access), url)
                    }
                };
                let router = api::router(monitor.clone(), gate)
                    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                        axum::http::StatusCode::GATEWAY_TIMEOUT,
                        config.ui_deadline,
                    ))
                    .layer(tower_http::limit::RequestBodyLimitLayer::new(UI_MAX_BODY))
                    // Outermost: the layers' own refusals (413, 504) get the one error body too.
                    .layer(axum::middleware::from_fn(api::one_error_shape));
                Some(UiListener {
                    bound: Bound { listener, router },
                    url,
                    addr: local_addr,
                })
            }
            None => None,
        };
        // Where the CLI finds this run's UI, to ask it instead of writing beside it.
        monitor
            .record_ui_address(ui.as_ref().map(|ui| ui.addr))
            .await?;
        Ok(Server {
            webhook: Bound { listener, router },
            ui,
            metrics,
            monitor,
            demo_at_start: config.demo.at_start,
            webhook_addr: local_addr,
            webhook_path,
            signing_secret,
            refusals,
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
        self.monitor.tunnel_sender().subscribe()
    }

    /// The local URL of the webhook, with the real port.
    pub fn webhook_url(&self) -> &str {
        self.monitor.webhook_url()
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served (`http://ADDR:PORT`), when asked for.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics
            .as_ref()
            .map(|(_, addr)| format!("http://{addr}"))
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
        let stopping = self.monitor.stopping();
        let monitor = self.monitor.clone();
        tokio::spawn(async move {
            stop.await;
            tracing::info!("stopping: finishing the deliveries in flight");
            monitor.begin_stop();
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
                .write_counts(self.monitor.writer().clone(), stopping.clone()),
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
            .chain(self.ui.map(|ui| (ui.bound, ConnectionLimit::ui(), None)))
            .chain(
                self.metrics
                    .map(|(bound, _)| (bound, ConnectionLimit::metrics(), None)),
            );
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
                self.monitor.tunnel_sender(),
                stopping.clone(),
            )
        });
        // A new public URL is registered again, when this monitor was registered before.
        // A destination that turns out to be the tunnel's new public URL is paused: it would
        // loop (a forwarded delivery coming back is recognised anyway, see ingest).
        let mut public = self.monitor.tunnel_sender().subscribe();
        let hub = self.monitor.hub().clone();
        let (writer, webhook_addr) = (self.monitor.writer().clone(), self.webhook_addr);
        let destinations = self.monitor.forwarding_destinations().to_vec();
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
        if self.demo_at_start {
            // After the listeners run: the emulator validates the URL with a real request.
            let (hub, url) = (
                self.monitor.hub().clone(),
                self.monitor.webhook_url().to_owned(),
            );
            tokio::spawn(async move {
                if let Err(error) = hub.start_demo(&url).await {
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
        self.monitor.close().await;
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
