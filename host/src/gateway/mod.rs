//! The running gateway's shared state: config, Zendesk clients and seats per environment,
//! each brand's current plugin, the inbox and the audit trail. Built once by
//! [`Gateway::start`]; the HTTP server and the workers hold an `Arc` of it.

pub mod accounts;
mod brands;
mod environments;
mod quarantine;

pub use accounts::{resolve_schedule, Accounts};
pub use brands::{BrandRuntime, PluginStatus, ReloadResult};
pub use environments::{identify_seat, EnvironmentRuntime};
pub use quarantine::Quarantine;

use crate::config::Config;
use crate::runtime::engine::{EnginePolicy, PluginEngine};
use crate::runtime::plugin::PluginLoader;
use crate::store::audit::AuditLog;
use crate::store::fleet::{FleetStore, ReplicaInfo};
use crate::store::overrides::{Change, OverrideStore, Overrides, Target};
use crate::store::sweep::SweepCursors;
use crate::store::{Database, Inbox};
use crate::telemetry::Metrics;
use crate::zendesk::ClientOptions;
use anyhow::Context;
use arc_swap::ArcSwap;
use brands::load_brands;
use environments::{connect_environments, FleetShare};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Options for starting a gateway that are not part of the config file.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Zendesk client tuning.
    pub client: ClientOptions,
}

/// The gateway's shared state.
pub struct Gateway {
    config: ArcSwap<Config>,
    brands: ArcSwap<BTreeMap<String, Arc<BrandRuntime>>>,
    /// SHA-256 of each endpoint token -> the endpoint. Looking up by hash keeps the
    /// lookup's timing independent of how much of a guessed token is right; holding the
    /// endpoint itself spares every notification a copy of it.
    endpoint_index: ArcSwap<HashMap<[u8; 32], Arc<crate::config::Endpoint>>>,
    environments: ArcSwap<BTreeMap<String, Arc<EnvironmentRuntime>>>,
    /// Each brand's custom fields and business hours, per environment.
    accounts: ArcSwap<Accounts>,
    /// Load status per brand (last error, failures), for `/admin/plugins`.
    status: std::sync::Mutex<BTreeMap<String, PluginStatus>>,
    client_options: ClientOptions,
    /// Failed runs in a row per brand, and which versions are quarantined.
    quarantine: Quarantine,
    /// Keeps the epoch ticker alive as long as the gateway.
    _engine: PluginEngine,
    loader: PluginLoader,
    /// The durable inbox.
    pub inbox: Inbox,
    /// The audit trail.
    pub audit: Arc<AuditLog>,
    /// The catch-up sweep's cursor per environment.
    pub sweep: Arc<SweepCursors>,
    /// The Help Center sync's cursors and articles.
    pub help_center: Arc<crate::store::help_center::HelpCenterStore>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The replicas' heartbeats (a fleet of one on SQLite).
    fleet: Arc<dyn FleetStore>,
    /// The shared quota, when the database is shared by replicas.
    fleet_share: Option<FleetShare>,
    /// When this replica started (ms since the epoch).
    started_at_ms: i64,
    /// Wakes idle workers when a notification arrives.
    pub work_available: Notify,
    shutting_down: AtomicBool,
    /// Operators' Listening/Live switches: the table, and a copy in memory that every
    /// run reads (reloaded after each change, so a run costs no query for it).
    override_store: Arc<OverrideStore>,
    overrides: ArcSwap<Overrides>,
}

/// SHA-256 of an endpoint token, the key of the endpoint index.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Gateway {
    /// Opens the database, builds the engine, checks each environment's credentials
    /// (`users/me` must be a real agent) and loads every brand's plugin. Any failure
    /// stops start-up with a message that says what to fix.
    pub async fn start(config: Config, options: StartOptions) -> anyhow::Result<Arc<Gateway>> {
        // Private: the database holds customer text, the cache code that is loaded
        // unchecked (store/files.rs).
        let data_dir = &config.gateway.data_dir;
        crate::store::files::private_dir(data_dir)
            .and_then(|()| crate::store::files::private_dir(&data_dir.join("compiled")))
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let database = {
            let g = config.gateway.clone();
            // Blocking: opening connects and migrates (the PostgreSQL client runs its own
            // small runtime, which must not start on an async thread).
            tokio::task::spawn_blocking(move || open_database(&g)).await??
        };
        let Database {
            inbox,
            audit,
            fleet,
            quota,
            sweep,
            overrides: override_store,
            shown,
        } = database;
        tracing::info!(database = %shown, replica = %config.gateway.replica_id, "database open");
        let overrides = {
            let store = override_store.clone();
            tokio::task::spawn_blocking(move || store.load()).await??
        };
        let started_at_ms = chrono::Utc::now().timestamp_millis();
        let fleet_share = match quota {
            Some(quota) => {
                let f = fleet.clone();
                let alive = tokio::task::spawn_blocking(move || {
                    f.replicas(started_at_ms - HEARTBEAT_SEEN.as_millis() as i64)
                })
                .await??;
                let me = &config.gateway.replica_id;
                let replicas = alive.iter().filter(|r| &r.replica_id != me).count() + 1;
                Some(FleetShare { quota, replicas })
            }
            None => None,
        };
        // The Help Center's articles are a cache each replica keeps for itself (rebuilt
        // from Zendesk if lost): in gateway.db on one machine, beside it in a fleet.
        let help_center = {
            let db = match &config.gateway.database {
                None => data_dir.join("gateway.db"),
                Some(_) => data_dir.join("help-center.db"),
            };
            crate::store::files::private_database(&db)
                .with_context(|| format!("cannot make {} private", db.display()))?;
            Arc::new(crate::store::help_center::HelpCenterStore::open(&db)?)
        };

        let engine = PluginEngine::new(&EnginePolicy::for_config(&config))?;
        let loader = PluginLoader::with_cache(
            engine.engine().clone(),
            &config.gateway.data_dir.join("compiled"),
        );
        let metrics = Arc::new(Metrics::default());
        let environments = connect_environments(
            &config,
            &BTreeMap::new(),
            &options.client,
            &metrics,
            fleet_share.as_ref(),
        )
        .await?;
        let accounts = accounts::load_accounts(&config, &environments).await?;
        let brands = load_brands(&config, &loader, &BTreeMap::new(), &metrics)?;
        let lease = config.gateway.lease;
        let (recovered, inbox) = tokio::task::spawn_blocking(move || {
            let recovered = inbox.recover()?;
            anyhow::Ok((recovered, Inbox::open(inbox, lease)?))
        })
        .await??;
        if recovered > 0 {
            tracing::warn!(
                tickets = recovered,
                "resuming runs interrupted by the last shutdown or crash"
            );
        }
        let endpoint_index = index_endpoints(&config);
        let gateway = Arc::new(Gateway {
            config: ArcSwap::from_pointee(config),
            brands: ArcSwap::from_pointee(brands),
            endpoint_index: ArcSwap::from_pointee(endpoint_index),
            environments: ArcSwap::from_pointee(environments),
            accounts: ArcSwap::from_pointee(accounts),
            status: Default::default(),
            client_options: options.client,
            quarantine: Quarantine::default(),
            _engine: engine,
            loader,
            inbox,
            audit,
            sweep,
            help_center,
            metrics,
            fleet,
            fleet_share,
            started_at_ms,
            work_available: Notify::new(),
            shutting_down: AtomicBool::new(false),
            override_store,
            overrides: ArcSwap::from_pointee(overrides),
        });
        gateway.heartbeat().await;
        spawn_heartbeats(&gateway);
        Ok(gateway)
    }

    /// Records in the database that this replica is alive and which plugin version it
    /// serves per brand; with a shared inbox, also recounts the tickets waiting.
    pub async fn heartbeat(&self) {
        let versions: BTreeMap<String, String> = self
            .brands()
            .values()
            .map(|b| (b.brand.name.clone(), b.plugin.version.clone()))
            .collect();
        let me = ReplicaInfo {
            replica_id: self.config().gateway.replica_id.clone(),
            started_at_ms: self.started_at_ms,
            last_seen_ms: chrono::Utc::now().timestamp_millis(),
            versions,
        };
        let fleet = self.fleet.clone();
        let result = tokio::task::spawn_blocking(move || fleet.heartbeat(&me)).await;
        if let Err(e) = result.map_err(anyhow::Error::from).and_then(|r| r) {
            tracing::warn!(error = %format!("{e:#}"), "cannot record this replica's heartbeat");
        }
    }

    /// The replicas whose heartbeat is recent, this one included.
    pub async fn replicas(&self) -> anyhow::Result<Vec<ReplicaInfo>> {
        let fleet = self.fleet.clone();
        let since = chrono::Utc::now().timestamp_millis() - HEARTBEAT_SEEN.as_millis() as i64;
        tokio::task::spawn_blocking(move || fleet.replicas(since)).await?
    }

    /// Whether several replicas may share this gateway's database.
    pub fn is_shared(&self) -> bool {
        self.fleet_share.is_some()
    }

    /// The config in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// The endpoint a notification token belongs to, if any.
    pub fn endpoint_for_token(&self, token: &str) -> Option<Arc<crate::config::Endpoint>> {
        let endpoint = self
            .endpoint_index
            .load()
            .get(&token_digest(token))
            .cloned()?;
        // The digest matched; compare the token itself in constant time as well, so a
        // digest collision could never stand in for the token.
        use subtle::ConstantTimeEq;
        bool::from(endpoint.token.expose().as_bytes().ct_eq(token.as_bytes())).then_some(endpoint)
    }

    /// The brand's current runtime (config and plugin).
    pub fn brand(&self, name: &str) -> Option<Arc<BrandRuntime>> {
        self.brands.load().get(name).cloned()
    }

    /// All brands and their current plugins.
    pub fn brands(&self) -> Arc<BTreeMap<String, Arc<BrandRuntime>>> {
        self.brands.load_full()
    }

    /// An environment's client and seat.
    pub fn environment(&self, name: &str) -> Option<Arc<EnvironmentRuntime>> {
        self.environments.load().get(name).cloned()
    }

    /// A brand's custom fields and business hours in an environment (none configured:
    /// empty).
    pub fn account(
        &self,
        brand: &str,
        environment: &str,
    ) -> Arc<crate::capabilities::BrandAccount> {
        self.accounts
            .load()
            .get(&(brand.to_string(), environment.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The load status of each brand's plugin.
    pub fn plugin_status(&self) -> BTreeMap<String, PluginStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the config file again and, if it is valid, makes it the config in force:
    /// modes, limits, brands, endpoints and environments change without a restart.
    /// A broken config is refused and the running one stays.
    pub async fn reload_config(self: &Arc<Self>) -> anyhow::Result<()> {
        let current = self.config();
        let next = Config::load(&current.source)?;
        if next.gateway.listen != current.gateway.listen
            || next.gateway.data_dir != current.gateway.data_dir
            || next.gateway.database != current.gateway.database
            || next.gateway.lease != current.gateway.lease
        {
            tracing::warn!(
                "gateway.listen, data_dir, database and lease_secs changes take effect at the next restart"
            );
        }
        let environments = connect_environments(
            &next,
            &self.environments.load(),
            &self.client_options,
            &self.metrics,
            self.fleet_share.as_ref(),
        )
        .await?;
        let accounts = accounts::load_accounts(&next, &environments).await?;
        let gw = self.clone();
        let next_for_load = next.clone();
        let previous = self.brands.load_full();
        let brands = tokio::task::spawn_blocking(move || {
            load_brands(&next_for_load, &gw.loader, &previous, &gw.metrics)
        })
        .await??;
        // Swap in an order where every lookup finds its target: environments and brands
        // first, then the endpoints that point at them, then the config.
        self.environments.store(Arc::new(environments));
        self.accounts.store(Arc::new(accounts));
        self.brands.store(Arc::new(brands));
        self.endpoint_index.store(Arc::new(index_endpoints(&next)));
        self.config.store(Arc::new(next));
        tracing::info!("config reloaded");
        Ok(())
    }

    /// The mode a notification of `endpoint` runs in now. An operator's switch wins over
    /// the config (it is the newer, deliberate decision): the endpoint's switch, else the
    /// brand's switch, else the endpoint's configured mode, else the brand's.
    pub fn effective_mode(
        &self,
        endpoint: &crate::config::Endpoint,
        brand: &crate::config::Brand,
    ) -> crate::config::Mode {
        let overrides = self.overrides.load();
        overrides
            .get(&(Target::Endpoint, endpoint.name.clone()))
            .or_else(|| overrides.get(&(Target::Brand, brand.name.clone())))
            .map(|o| o.mode)
            .or(endpoint.mode)
            .unwrap_or(brand.mode)
    }

    /// The operators' switches in force.
    pub fn mode_overrides(&self) -> Arc<Overrides> {
        self.overrides.load_full()
    }

    /// Sets a switch (or with `mode: None` goes back to the config), records who and
    /// when, and makes it effective for the next run at once.
    pub async fn set_mode_override(&self, change: Change) -> anyhow::Result<()> {
        let store = self.override_store.clone();
        let fresh = tokio::task::spawn_blocking(move || {
            store.set(&change)?;
            store.load()
        })
        .await??;
        self.overrides.store(Arc::new(fresh));
        Ok(())
    }

    /// Reads the switches from the database again (another replica may have changed
    /// them); on failure the copy in memory stays and the next heartbeat tries again.
    pub async fn reload_mode_overrides(&self) {
        let store = self.override_store.clone();
        match tokio::task::spawn_blocking(move || store.load()).await {
            Ok(Ok(fresh)) => {
                if **self.overrides.load() != fresh {
                    self.overrides.store(Arc::new(fresh));
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"),
                "cannot read the mode switches; keeping the ones in memory"),
            Err(e) => tracing::warn!(error = %e, "the mode switch reload failed"),
        }
    }

    /// The newest changes of the switches, newest first.
    pub async fn mode_history(&self, limit: usize) -> anyhow::Result<Vec<Change>> {
        let store = self.override_store.clone();
        tokio::task::spawn_blocking(move || store.history(limit)).await?
    }

    /// Failed runs in a row and quarantine.
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }

    /// The plugin loader (for reloads and replays).
    pub fn loader(&self) -> &PluginLoader {
        &self.loader
    }

    /// Marks the gateway as stopping: new notifications get 503, workers finish and stop.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.work_available.notify_waiters();
    }

    /// Runs a dead letter again now: due in the inbox, and a worker woken for it.
    /// `false` when the ticket is not a dead letter. Shared by `/admin` and the console.
    pub async fn retry_dead_letter(
        &self,
        environment: &str,
        ticket_id: u64,
    ) -> anyhow::Result<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let revived = self.inbox.revive(environment, ticket_id, now).await?;
        if revived {
            self.work_available.notify_one();
        }
        Ok(revived)
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// How often a replica heartbeats.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// A replica not heard from for this long is no longer listed as alive.
pub const HEARTBEAT_SEEN: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens the configured database (blocking): PostgreSQL when `database` names one, the
/// SQLite file in `data_dir` otherwise.
fn open_database(g: &crate::config::GatewaySettings) -> anyhow::Result<Database> {
    match &g.database {
        // Enough connections for every worker, the writer, renewals and heartbeats.
        Some(url) => Database::postgres(
            url.expose(),
            g.database_tls,
            &g.replica_id,
            g.concurrency * 2 + 4,
        ),
        None => {
            let db = g.data_dir.join("gateway.db");
            crate::store::files::private_database(&db)
                .with_context(|| format!("cannot make {} private", db.display()))?;
            Database::sqlite(&db, g.durable_fsync)
        }
    }
}

/// Heartbeats every [`HEARTBEAT_EVERY`] while the gateway lives (a weak handle: the
/// loop ends with the gateway).
fn spawn_heartbeats(gateway: &Arc<Gateway>) {
    let weak = Arc::downgrade(gateway);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let Some(gw) = weak.upgrade() else { return };
            if gw.is_shutting_down() {
                return;
            }
            gw.heartbeat().await;
            if gw.is_shared() {
                let g = gw.clone();
                let _ = tokio::task::spawn_blocking(move || g.inbox.resync()).await;
                // Another replica's console may have switched a mode: the copy in
                // memory follows the shared table within a heartbeat.
                gw.reload_mode_overrides().await;
            }
        }
    });
}

fn index_endpoints(config: &Config) -> HashMap<[u8; 32], Arc<crate::config::Endpoint>> {
    config
        .endpoints
        .values()
        .map(|e| (token_digest(e.token.expose()), Arc::new(e.clone())))
        .collect()
}
