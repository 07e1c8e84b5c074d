//! The running gateway's shared state: config, Zendesk clients and seats per environment,
//! each brand's current plugin, the inbox and the audit trail. Built once by
//! [`Gateway::start`]; the HTTP server and the workers hold an `Arc` of it.

use crate::audit::AuditLog;
use crate::capabilities::BrandCapabilities;
use crate::config::{Brand, Config, Environment};
use crate::inbox::{InboxStore, SqliteInbox};
use crate::runtime::engine::{EnginePolicy, PluginEngine};
use crate::runtime::host::Seat;
use crate::runtime::plugin::{LoadedPlugin, PluginLoader};
use crate::zendesk::{ClientOptions, ZendeskClient};
use anyhow::{bail, Context};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A Zendesk environment at run time: its client and the AI seat it acts as.
pub struct EnvironmentRuntime {
    /// The environment's config.
    pub config: Environment,
    /// Its API client.
    pub client: ZendeskClient,
    /// The AI seat, as `users/me` reported it.
    pub seat: Seat,
}

/// A brand at run time: its config and the plugin version serving it now.
pub struct BrandRuntime {
    /// The brand's config.
    pub brand: Arc<Brand>,
    /// The plugin serving new tickets. Runs in flight keep their own `Arc`.
    pub plugin: Arc<LoadedPlugin>,
    /// The brand's model, knowledge base and settings.
    pub capabilities: Arc<BrandCapabilities>,
}

/// What the status endpoint shows about a brand's plugin besides the version serving.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PluginStatus {
    /// The last load or reload failure, if the newest file did not load.
    pub last_error: Option<String>,
    /// When that failure happened (RFC 3339).
    pub last_error_at: Option<String>,
    /// Failed loads since start.
    pub failed_reloads: u64,
    /// Successful reloads since start.
    pub reloads: u64,
    /// Content hash of the file that failed last, so the same broken bytes are not
    /// compiled (and counted) again on every event.
    pub last_failed_version: Option<String>,
}

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
    /// Load status per brand (last error, failures), for `/admin/plugins`.
    status: std::sync::Mutex<BTreeMap<String, PluginStatus>>,
    client_options: ClientOptions,
    /// Consecutive failed runs per brand, with the plugin version they happened on.
    failures: std::sync::Mutex<HashMap<String, (String, u32)>>,
    /// Keeps the epoch ticker alive as long as the gateway.
    _engine: PluginEngine,
    loader: PluginLoader,
    /// The durable inbox.
    pub inbox: Arc<dyn InboxStore>,
    /// Stores notifications with group commit (see [`crate::group_commit`]).
    pub inbox_writer: crate::group_commit::InboxWriter,
    /// The audit trail.
    pub audit: Arc<AuditLog>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Wakes idle workers when a notification arrives.
    pub work_available: Notify,
    /// Tickets in the inbox, kept in memory so that the backpressure check costs no
    /// database query per notification.
    pub inbox_depth: std::sync::atomic::AtomicI64,
    shutting_down: AtomicBool,
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
        std::fs::create_dir_all(&config.gateway.data_dir).with_context(|| {
            format!(
                "cannot create the data folder {}",
                config.gateway.data_dir.display()
            )
        })?;
        let db = config.gateway.data_dir.join("gateway.db");
        let inbox = Arc::new(SqliteInbox::open(&db, config.gateway.durable_fsync)?);
        let audit = Arc::new(AuditLog::open(&db)?);

        let max_memory = config
            .brands
            .values()
            .map(|b| b.limits.memory_mib)
            .chain([config.limits.memory_mib])
            .max()
            .unwrap_or(64);
        let engine = PluginEngine::new(&EnginePolicy {
            max_concurrent_instances: (config.gateway.concurrency as u32) * 2 + 16,
            max_memory_bytes: (max_memory as usize) << 20,
        })?;
        let loader = PluginLoader::with_cache(
            engine.engine().clone(),
            &config.gateway.data_dir.join("compiled"),
        );
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let environments =
            connect_environments(&config, &BTreeMap::new(), &options.client, &metrics).await?;
        let brands = load_brands(&config, &loader, &BTreeMap::new(), &metrics)?;
        let recovered = inbox.recover()?;
        if recovered > 0 {
            tracing::warn!(
                tickets = recovered,
                "resuming runs interrupted by the last shutdown or crash"
            );
        }
        let endpoint_index = index_endpoints(&config);
        let depth = inbox.depth()?;
        Ok(Arc::new(Gateway {
            config: ArcSwap::from_pointee(config),
            brands: ArcSwap::from_pointee(brands),
            endpoint_index: ArcSwap::from_pointee(endpoint_index),
            environments: ArcSwap::from_pointee(environments),
            status: Default::default(),
            client_options: options.client,
            failures: Default::default(),
            _engine: engine,
            loader,
            inbox_writer: crate::group_commit::InboxWriter::spawn(inbox.clone())
                .context("cannot start the inbox writer thread")?,
            inbox,
            audit,
            metrics,
            work_available: Notify::new(),
            inbox_depth: std::sync::atomic::AtomicI64::new(depth as i64),
            shutting_down: AtomicBool::new(false),
        }))
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

    /// The load status of each brand's plugin.
    pub fn plugin_status(&self) -> BTreeMap<String, PluginStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads a brand's plugin file again. On success the new version serves the next
    /// ticket (runs in flight finish on the version they started with); on failure the
    /// last good version keeps serving and the error is recorded for the status page.
    /// The same content as the version serving is not reloaded.
    pub async fn reload_plugin(self: &Arc<Self>, brand: &str) -> ReloadResult {
        let Some(current) = self.brand(brand) else {
            return ReloadResult::Unchanged;
        };
        let path = current.brand.plugin.clone();
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(brand, plugin = %path.display(), version = %current.plugin.version,
                    "plugin file was deleted; the last good version keeps serving");
                return ReloadResult::Unchanged;
            }
            Err(e) => {
                let msg = format!("brand {brand}: cannot read plugin {}: {e}", path.display());
                self.record_failure(brand, &msg);
                return ReloadResult::Failed(msg);
            }
        };
        let version = crate::runtime::plugin::content_version(&bytes);
        let known_bad = {
            let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status
                .get(brand)
                .and_then(|s| s.last_failed_version.clone())
        };
        if known_bad.as_deref() == Some(version.as_str()) {
            return ReloadResult::Unchanged;
        }
        if version == current.plugin.version {
            // The file is the version serving again: an earlier failure is history.
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = status.get_mut(brand) {
                s.last_error = None;
                s.last_error_at = None;
                s.last_failed_version = None;
            }
            return ReloadResult::Unchanged;
        }
        let gw = self.clone();
        let brand_name = brand.to_string();
        let brand_config = current.brand.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let plugin = gw.loader.load_bytes(&brand_name, &path, &bytes)?;
            crate::runtime::run::probe(&plugin, &brand_config)?;
            Ok::<_, crate::runtime::PluginLoadError>(plugin)
        })
        .await;
        let plugin = match loaded {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                let msg = e.to_string();
                self.record_failure(brand, &msg);
                if let Some(s) = self
                    .status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(brand)
                {
                    s.last_failed_version = Some(version);
                }
                return ReloadResult::Failed(msg);
            }
            Err(e) => {
                let msg = format!("brand {brand}: plugin load task failed: {e}");
                self.record_failure(brand, &msg);
                return ReloadResult::Failed(msg);
            }
        };
        let plugin = Arc::new(plugin);
        self.brands.rcu(|brands| {
            let mut next = BTreeMap::clone(brands);
            if let Some(b) = next.get(brand) {
                next.insert(
                    brand.to_string(),
                    Arc::new(BrandRuntime {
                        brand: b.brand.clone(),
                        plugin: plugin.clone(),
                        capabilities: b.capabilities.clone(),
                    }),
                );
            }
            next
        });
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            let s = status.entry(brand.to_string()).or_default();
            s.reloads += 1;
            s.last_error = None;
            s.last_error_at = None;
            s.last_failed_version = None;
        }
        self.metrics
            .reloads
            .get_or_create(&crate::metrics::ReloadLabels {
                brand: brand.to_string(),
                result: "ok".into(),
            })
            .inc();
        tracing::info!(brand, previous_version = %current.plugin.version, plugin_version = %version, "plugin reloaded");
        ReloadResult::Reloaded(version)
    }

    /// Counts a run's result towards quarantine; returns the failures in a row of
    /// this brand's `version`.
    pub fn count_run(&self, brand: &str, version: &str, failed: bool) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures
            .entry(brand.to_string())
            .or_insert_with(|| (version.to_string(), 0));
        if entry.0 != version {
            *entry = (version.to_string(), 0);
        }
        entry.1 = if failed { entry.1 + 1 } else { 0 };
        entry.1
    }

    /// Failed runs in a row of the plugin version serving `brand` now.
    pub fn failures_in_a_row(&self, brand: &str, version: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(brand) {
            Some((v, n)) if v == version => *n,
            _ => 0,
        }
    }

    fn record_failure(&self, brand: &str, message: &str) {
        tracing::error!(
            brand,
            error = message,
            "plugin reload failed; the last good version keeps serving"
        );
        self.metrics
            .reloads
            .get_or_create(&crate::metrics::ReloadLabels {
                brand: brand.to_string(),
                result: "failed".into(),
            })
            .inc();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let s = status.entry(brand.to_string()).or_default();
        s.failed_reloads += 1;
        s.last_error = Some(message.to_string());
        s.last_error_at = Some(chrono::Utc::now().to_rfc3339());
    }

    /// Reads the config file again and, if it is valid, makes it the config in force:
    /// modes, limits, brands, endpoints and environments change without a restart.
    /// A broken config is refused and the running one stays.
    pub async fn reload_config(self: &Arc<Self>) -> anyhow::Result<()> {
        let current = self.config();
        let next = Config::load(&current.source)?;
        if next.gateway.listen != current.gateway.listen
            || next.gateway.data_dir != current.gateway.data_dir
        {
            tracing::warn!(
                "gateway.listen and gateway.data_dir changes take effect at the next restart"
            );
        }
        let environments = connect_environments(
            &next,
            &self.environments.load(),
            &self.client_options,
            &self.metrics,
        )
        .await?;
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
        self.brands.store(Arc::new(brands));
        self.endpoint_index.store(Arc::new(index_endpoints(&next)));
        self.config.store(Arc::new(next));
        tracing::info!("config reloaded");
        Ok(())
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

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

fn index_endpoints(config: &Config) -> HashMap<[u8; 32], Arc<crate::config::Endpoint>> {
    config
        .endpoints
        .values()
        .map(|e| (token_digest(e.token.expose()), Arc::new(e.clone())))
        .collect()
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadResult {
    /// A new version serves now.
    Reloaded(String),
    /// Same content, deleted file, or unknown brand: nothing changed.
    Unchanged,
    /// The file did not load; the last good version keeps serving.
    Failed(String),
}

/// Loads every brand's plugin, reusing an already loaded plugin when the brand's file
/// and content are unchanged.
fn load_brands(
    config: &Config,
    loader: &PluginLoader,
    previous: &BTreeMap<String, Arc<BrandRuntime>>,
    metrics: &Arc<crate::metrics::Metrics>,
) -> anyhow::Result<BTreeMap<String, Arc<BrandRuntime>>> {
    let mut brands = BTreeMap::new();
    for (name, brand) in &config.brands {
        let capabilities = Arc::new(
            BrandCapabilities::build(
                brand,
                previous.get(name).map(|p| &p.capabilities),
                Some(metrics),
            )
            .with_context(|| format!("brand {name}"))?,
        );
        let reusable = previous
            .get(name)
            .filter(|p| p.brand.plugin == brand.plugin)
            .and_then(|p| {
                let bytes = std::fs::read(&brand.plugin).ok()?;
                (crate::runtime::plugin::content_version(&bytes) == p.plugin.version)
                    .then(|| p.plugin.clone())
            });
        if let Some(plugin) = reusable {
            brands.insert(
                name.clone(),
                Arc::new(BrandRuntime {
                    brand: Arc::new(brand.clone()),
                    plugin,
                    capabilities,
                }),
            );
            continue;
        }
        let plugin = loader.load_file(name, &brand.plugin)?;
        crate::runtime::run::probe(&plugin, &Arc::new(brand.clone()))?;
        tracing::info!(brand = %name, plugin = %brand.plugin.display(), plugin_version = %plugin.version,
            mode = %brand.mode, "plugin loaded");
        brands.insert(
            name.clone(),
            Arc::new(BrandRuntime {
                brand: Arc::new(brand.clone()),
                plugin: Arc::new(plugin),
                capabilities,
            }),
        );
    }
    Ok(brands)
}

/// A client and verified seat for every environment an endpoint uses, reusing the
/// previous ones when an environment's settings are unchanged.
async fn connect_environments(
    config: &Config,
    previous: &BTreeMap<String, Arc<EnvironmentRuntime>>,
    options: &ClientOptions,
    metrics: &Arc<crate::metrics::Metrics>,
) -> anyhow::Result<BTreeMap<String, Arc<EnvironmentRuntime>>> {
    let mut environments = BTreeMap::new();
    for (name, env) in &config.environments {
        // Only environments that an endpoint uses need to be reachable.
        if !config.endpoints.values().any(|e| &e.environment == name) {
            continue;
        }
        if let Some(prev) = previous.get(name) {
            let same = prev.config.base_url == env.base_url
                && prev.config.email == env.email
                && prev.config.api_token == env.api_token
                && prev.config.requests_per_minute == env.requests_per_minute;
            if same {
                environments.insert(name.clone(), prev.clone());
                continue;
            }
        }
        let client = ZendeskClient::new(env, options.clone(), metrics.clone())?;
        let seat = identify_seat(env, &client).await?;
        tracing::info!(environment = %name, seat_id = seat.id, seat = %seat.email, role = %seat.role,
            "Zendesk credentials verified");
        environments.insert(
            name.clone(),
            Arc::new(EnvironmentRuntime {
                config: env.clone(),
                client,
                seat,
            }),
        );
    }
    Ok(environments)
}

/// Asks Zendesk who the credentials belong to. `users/me` answers wrong credentials
/// with an anonymous user rather than 401, so the id and role must be checked: bad
/// credentials or a seat that is not an agent stop with a message that says what to fix.
pub async fn identify_seat(env: &Environment, client: &ZendeskClient) -> anyhow::Result<Seat> {
    let me = client.me().await.with_context(|| {
        format!(
            "environment {}: cannot reach Zendesk at {} to verify the AI seat",
            env.name, env.base_url
        )
    })?;
    let Some(id) = me.id else {
        bail!(
            "environment {}: Zendesk at {} does not accept the credentials of {} (users/me answered with an \
             anonymous user): check the email and the API token",
            env.name,
            env.base_url,
            env.email
        );
    };
    if me.role != "agent" && me.role != "admin" {
        bail!(
            "environment {}: {} is a Zendesk {:?}, not an agent: the AI seat needs an agent role to answer tickets",
            env.name,
            env.email,
            me.role
        );
    }
    Ok(Seat {
        id,
        name: me.name,
        email: me.email.unwrap_or_else(|| env.email.clone()),
        role: me.role,
    })
}
