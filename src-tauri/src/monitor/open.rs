//! The one assembly point: [`Monitor::open`] builds a running monitor from its configuration
//! (the store and its claim, the writer and projector, the bounded reader pool, the provider
//! hub, forwarders, retention, polling and the alert engine), and [`Monitor::close`] takes it down in order. `serve`, the
//! desktop app and the CLI's `register` and `reconcile` all start here; listeners, the UI and
//! the tunnel attach to what it returns.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::poll::{Poller, Polling};
use super::readers::ReaderPool;
use super::{Monitor, WorkBoard};
use crate::provider::actions::ProviderHub;
use crate::provider::FlowConfig;
use crate::signature::{SharedSecret, SigningSecret};
use crate::store::{Destination, FileLock, Store, StoreError, UI_ADDRESS_SETTING};
use crate::tunnel::{self, TunnelSpec, TunnelState};

/// What a monitor is made of.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub db: PathBuf,
    /// The webhook listener's address. Its socket is bound here, not served: the URL it makes
    /// is the monitor's own (registered with the provider, refused as a forwarding
    /// destination). `None` for a command that only works through the monitor.
    pub listen: Option<SocketAddr>,
    /// Serve the webhook under its secret token (`--no-webhook-token` says no).
    pub webhook_token: bool,
    /// How the provider reaches the webhook listener; its kind and state are the monitor's.
    pub tunnel: TunnelSpec,
    /// What a demo started from the UI (or `serve --demo`) runs.
    pub demo_flows: FlowConfig,
    /// Forwarding and retention; `None` (a command) leaves the destinations as the last run set
    /// them, and forwards and trims nothing.
    pub outbound: Option<Outbound>,
    /// Asking the provider for users not CLOSED (`--poll-every`); `None` (a command) polls not.
    pub polling: Option<Polling>,
    /// The signing secrets given at start (`--signing-secret`): all verify, none rotates. Empty:
    /// the secret file beside the database.
    pub signing_secrets: Vec<SigningSecret>,
    /// How long a registration with another secret keeps the replaced one valid.
    pub rotation_grace: Duration,
    /// A review case waiting longer than this is over its SLA (`--review-sla`).
    pub review_sla: Duration,
}

/// `--review-sla`'s default: a day.
pub const DEFAULT_REVIEW_SLA: Duration = Duration::from_secs(24 * 60 * 60);

impl MonitorConfig {
    /// A monitor for a command that works through it (`register`, `reconcile`): no listener,
    /// no forwarding.
    pub fn for_command(db: PathBuf) -> MonitorConfig {
        MonitorConfig {
            db,
            listen: None,
            webhook_token: false,
            tunnel: TunnelSpec::None,
            demo_flows: FlowConfig::demo(),
            outbound: None,
            polling: None,
            signing_secrets: Vec::new(),
            rotation_grace: crate::secret_file::DEFAULT_GRACE,
            review_sla: DEFAULT_REVIEW_SLA,
        }
    }
}

/// What leaves the monitor or is let go: forwarding (`--forward-to`) and retention
/// (`--keep-deliveries`). The default does neither.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    pub forward_to: Vec<String>,
    /// Signs forwarded deliveries (Standard Webhooks) with the monitor's own secret.
    pub forward_signing_secret: Option<SharedSecret>,
    /// Raw deliveries older than this lose their body and headers.
    pub keep_deliveries: Option<Duration>,
    /// When set, the only folder backups asked for from the UI may be written into.
    pub backup_dir: Option<PathBuf>,
    /// The alert rules and where alerts go (`--alert-to`).
    pub alerts: crate::alerts::AlertConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}; choose another address or port with {flag}")]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("--forward-to {url} is this monitor's own webhook ({listener}): every delivery would be forwarded back to itself without end; forward to your backend's URL instead")]
    ForwardsToItself { url: String, listener: String },
    #[error("--forward-to {0} and another --forward-to differ only in their credentials or query values, which the monitor keeps masked (***), so it would take them for one destination: give each destination once, telling them apart in the path")]
    TwinDestinations(String),
    #[error("a listener failed: {0}")]
    Listener(std::io::Error),
    #[error("{0}")]
    Alerts(String),
}

/// The webhook's socket, bound by [`Monitor::open`], for the shell to serve.
pub struct WebhookSocket {
    pub listener: TcpListener,
    /// The secret last segment of the path, when it has one.
    pub token: Option<String>,
    /// The `webhook-id` prefix of the deliveries this monitor forwards.
    pub own_forwards: String,
}

/// What only [`Monitor::close`] lets go of.
pub(super) struct Held {
    /// This run's claim on the database, released once the writer has finished.
    claim: Option<FileLock>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

/// Binds `addr`, naming `flag` when it cannot.
pub async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, OpenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| OpenError::Bind { addr, flag, source })
}

impl Monitor {
    /// Opens the database (refused when another monitor holds it), binds the webhook's socket,
    /// starts the writer with this run's forwarding destinations, and the forwarders and
    /// retention. Nothing is received until the shell serves the socket.
    pub async fn open(
        config: MonitorConfig,
    ) -> Result<(Arc<Monitor>, Option<WebhookSocket>), OpenError> {
        // Opening the database (its checks and migrations) blocks: off the async workers.
        let (store, claim) = {
            let db = config.db.clone();
            crate::blocking::off_worker(move || Store::open_for_monitor(&db)).await?
        };
        let listener = match config.listen {
            Some(addr) => Some(bind(addr, "--listen").await?),
            None => None,
        };
        let local_addr = match &listener {
            Some(listener) => Some(listener.local_addr().map_err(OpenError::Listener)?),
            None => None,
        };
        if let (Some(outbound), Some(local_addr)) = (&config.outbound, local_addr) {
            refuse_forwarding_to_itself(&outbound.forward_to, local_addr, &config.tunnel).await?;
        }
        if let Some(outbound) = &config.outbound {
            refuse_twins(&outbound.forward_to)?;
        }
        let (writer, destinations) = {
            let (store, urls) = (
                store.clone(),
                config.outbound.as_ref().map(|o| o.forward_to.clone()),
            );
            crate::blocking::off_worker(move || match urls {
                Some(urls) => store.start_writer_forwarding_to(
                    &urls,
                    crate::forward::shown_url,
                    crate::time::now_millis(),
                ),
                None => Ok((store.start_writer()?, Vec::new())),
            })
            .await?
        };
        let writer = Arc::new(writer);
        let instance_id = writer.instance_id().await?;
        let token = match config.webhook_token && listener.is_some() {
            true => Some(writer.webhook_token().await?),
            false => None,
        };
        let webhook_url = local_addr
            .map(|addr| format!("http://{addr}{}", crate::ingest::path_for(token.as_deref())))
            .unwrap_or_default();
        let readers = Arc::new(ReaderPool::new(store.clone()));
        let hub = Arc::new(ProviderHub::new(
            store.clone(),
            readers.clone(),
            writer.clone(),
            config.demo_flows,
            config.rotation_grace,
        ));
        let (stop, stopping) = watch::channel(false);
        let tunnel = watch::Sender::new(tunnel::initial_state(&config.tunnel));
        let outbound = config.outbound.unwrap_or_default();
        let forward_health = Arc::new(crate::forward::ForwardHealth::default());
        let forwarders = crate::forward::start(
            readers.clone(),
            writer.clone(),
            destinations.clone(),
            outbound.forward_signing_secret,
            &instance_id,
            forward_health.clone(),
            stopping.clone(),
        )?;
        let observer = crate::alerts::Observer {
            readers: readers.clone(),
            store_health: writer.health(),
            forwarding: forward_health,
            destinations: destinations.clone(),
            started_at: crate::time::now_millis(),
            settings: outbound.alerts.rules,
        };
        let alerts = crate::alerts::AlertEngine::start(outbound.alerts, observer, stopping.clone())
            .map_err(OpenError::Alerts)?;
        if let Some(keep) = outbound.keep_deliveries {
            tokio::spawn(crate::store::retention::keep_deliveries(
                writer.clone(),
                keep,
                stopping.clone(),
            ));
        }
        let socket = listener.map(|listener| WebhookSocket {
            listener,
            token,
            own_forwards: crate::forward::own_webhook_id_prefix(&instance_id),
        });
        let work = watch::Sender::new(WorkBoard::new());
        if let Some(polling) = config.polling {
            let poller = Poller {
                hub: hub.clone(),
                readers: readers.clone(),
                writer: writer.clone(),
                work: work.clone(),
            };
            tokio::spawn(poller.run(polling, stopping.clone()));
        }
        let monitor = Monitor {
            store,
            writer,
            readers,
            hub,
            webhook_url,
            fixed_secrets: crate::secret_file::SecretSet::fixed(config.signing_secrets),
            backup_dir: outbound.backup_dir,
            tunnel_kind: config.tunnel.name(),
            tunnel: tunnel.subscribe(),
            tunnel_sender: tunnel,
            stopping,
            stop,
            destinations,
            work,
            alerts,
            review_sla: config.review_sla,
            cases: tokio::sync::broadcast::Sender::new(super::live::CASE_BACKLOG),
            held: Mutex::new(Held {
                claim: Some(claim),
                forwarders,
            }),
        };
        let monitor = Arc::new(monitor);
        // The review SLA is one more alert rule; it reads the monitor it belongs to (weakly:
        // the monitor owns the engine).
        monitor
            .alerts
            .add_source(Arc::new(super::attention::ReviewSlaRule(Arc::downgrade(
                &monitor,
            ))));
        Ok((monitor, socket))
    }

    /// The provider side: registration, reconcile, the demo.
    pub fn hub(&self) -> &Arc<ProviderHub> {
        &self.hub
    }

    /// The writer every write goes through.
    pub fn writer(&self) -> &Arc<crate::store::Writer> {
        &self.writer
    }

    /// This run's forwarding destinations.
    pub fn forwarding_destinations(&self) -> &[Destination] {
        &self.destinations
    }

    /// Where the tunnel's supervisor tells its state.
    pub fn tunnel_sender(&self) -> watch::Sender<TunnelState> {
        self.tunnel_sender.clone()
    }

    /// Turns true once the monitor is stopping: listeners, forwarders and live streams end.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.clone()
    }

    /// Reconcile's and backup's progress as it changes.
    pub fn follow_work(&self) -> watch::Receiver<WorkBoard> {
        self.work.subscribe()
    }

    /// Starts the stop: everything following [`Monitor::stopping`] winds down.
    pub fn begin_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Records where this run's UI listens (`None`: it does not), so that the CLI can ask it
    /// to register or reconcile instead of writing beside it.
    pub async fn record_ui_address(&self, addr: Option<SocketAddr>) -> Result<(), StoreError> {
        self.alerts.set_ui_address(addr);
        match addr {
            Some(addr) => {
                self.writer
                    .set_setting(UI_ADDRESS_SETTING, &addr.to_string())
                    .await
            }
            None => self.writer.remove_setting(UI_ADDRESS_SETTING).await,
        }
    }

    /// Stops what the monitor runs and lets go of the database: the demo, the forwarders (an
    /// attempt cut short is made again on the next start), the writer (which commits and
    /// projects what it was given), then the claim. The shell stops its listeners first.
    pub async fn close(&self) {
        self.begin_stop();
        self.alerts.stop();
        self.hub.stop().await;
        let forwarders = std::mem::take(&mut self.held.lock().expect("held").forwarders);
        for forwarder in forwarders {
            forwarder.abort();
        }
        if let Err(error) = self.writer.remove_setting(UI_ADDRESS_SETTING).await {
            tracing::warn!(%error, "could not clear the UI's address from the database");
        }
        self.writer.finish().await;
        drop(self.held.lock().expect("held").claim.take());
    }
}

/// Refuses a forwarding destination that is this monitor's own webhook listener (names are
/// resolved, off the async workers) or the public URL of a `url:` tunnel.
async fn refuse_forwarding_to_itself(
    urls: &[String],
    listener: SocketAddr,
    tunnel: &TunnelSpec,
) -> Result<(), OpenError> {
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
            Some(url) => Err(OpenError::ForwardsToItself {
                url: crate::forward::shown_url(&url),
                listener: listener.to_string(),
            }),
            None => Ok(()),
        }
    })
    .await
}

fn refuse_twins(urls: &[String]) -> Result<(), OpenError> {
    match crate::forward::twin_destinations(urls) {
        Some(shown) => Err(OpenError::TwinDestinations(shown)),
        None => Ok(()),
    }
}
