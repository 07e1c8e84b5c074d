//! Running the gateway: the HTTP server and the workers together, with a graceful stop;
//! [`watch`] reloads what changes on disk; [`sweep`] catches up on notifications
//! Zendesk lost.

pub mod help_center_sync;
pub mod listener;
pub mod lock;
mod retention;
pub mod sweep;
pub mod watch;

use crate::config::Config;
use crate::gateway::{Gateway, StartOptions};
use crate::pipeline::dispatcher::spawn_workers;
use crate::pipeline::ingress::router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

/// A gateway serving on a socket.
pub struct RunningGateway {
    /// The bound address (useful when the config asked for port 0).
    pub addr: SocketAddr,
    /// Shared state, for inspection.
    pub gateway: Arc<Gateway>,
    stop_http: signal::Sender<bool>,
    http: JoinHandle<()>,
    workers: tokio::task::JoinSet<()>,
    sweeper: JoinHandle<()>,
    _watcher: Option<crate::service::watch::ReloadWatcher>,
    retention: JoinHandle<()>,
    /// Held until the gateway has stopped: one gateway per data folder.
    _lock: lock::DataDirLock,
    help_center: Option<crate::service::help_center_sync::HelpCenterSync>,
}

impl RunningGateway {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of an endpoint's notification path.
    pub fn notify_url(&self, endpoint: &str) -> Option<String> {
        let config = self.gateway.config();
        let ep = config.endpoints.get(endpoint)?;
        Some(format!("{}/notify/{}", self.url(), ep.token.expose()))
    }

    /// Stops taking notifications, lets running tickets finish within `grace`, and
    /// leaves everything else in the inbox for the next start. Until the runs are done
    /// the listener stays open and answers `/notify` with 503 and a Retry-After (which
    /// Zendesk retries), not with a refused connection (which it may not).
    pub async fn shutdown(mut self, grace: Duration) {
        self.gateway.begin_shutdown();
        self.retention.abort();
        self.sweeper.abort();
        // The Help Center sync holds nothing a restart needs: its cursor and articles
        // are stored after each sync.
        self.help_center.take();
        let workers = async { while self.workers.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, workers).await.is_err() {
            tracing::warn!(grace_ms = grace.as_millis() as u64,
                "runs still in progress after the grace period were stopped; they stay in the inbox and resume on the next start");
            self.workers.abort_all();
            while self.workers.join_next().await.is_some() {}
        }
        let _ = self.stop_http.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.http).await;
    }
}

/// Starts the gateway: locks `data_dir`, binds `config.gateway.listen`, then starts
/// (see [`Gateway::start`]: opening the database, recovering the inbox) and serves.
/// Lock and bind come first so that a second instance, or one whose port is taken,
/// stops before it changes anything in the database.
pub async fn launch(config: Config, options: StartOptions) -> anyhow::Result<RunningGateway> {
    let lock = lock::DataDirLock::acquire(&config.gateway.data_dir)?;
    let listen = config.gateway.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let limits = listener::Limits::for_config(&config.gateway);
    let gateway = Gateway::start(config, options).await?;
    let (stop_tx, stop_rx) = signal::channel(false);
    let app = router(gateway.clone());
    let http = tokio::spawn(listener::serve(listener, app, limits, stop_rx));
    let workers = spawn_workers(gateway.clone());
    let sweeper = tokio::spawn(crate::service::sweep::run(gateway.clone()));
    // Without a watcher the gateway still serves; it just needs a restart to see changes.
    let watcher = match crate::service::watch::spawn(gateway.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch plugin and config files; hot reload is off");
            None
        }
    };
    let retention = tokio::spawn(retention::run(gateway.clone()));
    let help_center = Some(crate::service::help_center_sync::spawn(gateway.clone()));
    tracing::info!(%addr, max_connections = limits.max_connections, "gateway listening");
    Ok(RunningGateway {
        addr,
        gateway,
        stop_http: stop_tx,
        http,
        workers,
        sweeper,
        _watcher: watcher,
        retention,
        _lock: lock,
        help_center,
    })
}

/// Serves until Ctrl-C or SIGTERM, then stops gracefully.
pub async fn serve_until_signal(config: Config, grace: Duration) -> anyhow::Result<()> {
    let running = launch(config, StartOptions::default()).await?;
    shutdown_signal().await;
    tracing::info!("stopping: no new notifications; finishing runs in progress");
    running.shutdown(grace).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
