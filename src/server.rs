//! A running pindns: the loaded snapshot, the listeners and the reloader.
//! The binary and the integration tests start it the same way.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::diagnostics::{Diagnostic, render};
use crate::live::Live;
use crate::net::{self, Listeners, tcp};
use crate::reload::{Reloader, Trigger};
use crate::snapshot::Snapshot;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// Configuration, zones or pins are invalid.
    Load(Vec<Diagnostic>),
    /// A socket could not be bound, or a thread started.
    Io(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Load(errors) => f.write_str(&render(errors)),
            Self::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<io::Error> for StartError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Start-up choices besides the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve on these addresses instead of the configured ones (tests use
    /// `127.0.0.1:0`).
    pub listen: Option<Vec<SocketAddr>>,
}

/// A serving pindns.
pub struct Server {
    /// Where it serves (ports resolved).
    addresses: Vec<SocketAddr>,
    /// The published state.
    live: Arc<Live>,
    /// The listeners.
    listeners: Option<Listeners>,
    /// The reloader.
    reloader: Option<Reloader>,
    /// The runtime that carries TCP and signals.
    runtime: Option<Runtime>,
}

impl Server {
    /// Loads everything, binds, and starts serving and watching.
    pub fn start(config_path: &Path, options: &Options) -> Result<Self, StartError> {
        let loaded = Snapshot::load(config_path).map_err(StartError::Load)?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let snapshot = loaded.snapshot;
        let settings = snapshot.config.server.clone();
        let addresses = options
            .listen
            .clone()
            .unwrap_or_else(|| snapshot.config.listen.clone());
        tracing::info!(
            generation = snapshot.generation,
            domains = snapshot.pins.len(),
            zones = snapshot.zones.len(),
            geo = %snapshot.geo.describe(),
            "loaded"
        );
        let live = Live::new(snapshot);
        crate::reload::release_free_memory();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tcp")
            .enable_all()
            .build()?;
        let limits = tcp::Limits {
            max_connections: settings.tcp_max_connections,
            idle_timeout: settings.tcp_idle_timeout,
        };
        // SIGHUP is caught before anything is served: by the time a client
        // can see the server, a hangup reloads it instead of ending it.
        let hangups = {
            let _context = runtime.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        };
        // The files are watched before anything is served, so that no edit
        // made once the server answers goes unseen.
        let reloader = Reloader::start(live.clone(), settings.reload_debounce);
        let workers = net::default_workers(settings.udp_workers);
        let listeners = runtime.block_on(net::start(&addresses, workers, limits, live.clone()))?;
        let hangup = reloader.trigger();
        runtime.spawn(async move {
            let Ok(mut hangups) = hangups else {
                tracing::warn!("cannot listen for SIGHUP");
                return;
            };
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                if hangup.send(Trigger::Forced).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            addresses: listeners.addresses.clone(),
            live,
            listeners: Some(listeners),
            reloader: Some(reloader),
            runtime: Some(runtime),
        })
    }

    /// Where it serves UDP and TCP.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The published state.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Blocks until SIGINT or SIGTERM.
    pub fn wait_for_shutdown_signal(&self) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut terminate) = signal(SignalKind::terminate()) else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        });
        tracing::info!("stopping");
    }

    /// Stops serving and watching.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops everything that is still running.
    fn shutdown(&mut self) {
        if let Some(reloader) = self.reloader.take() {
            reloader.stop();
        }
        if let Some(listeners) = self.listeners.take() {
            listeners.stop();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
