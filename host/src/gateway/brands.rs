//! Brands at run time: each brand's config, the plugin version serving it and its
//! capabilities; loading them from the config and reloading a plugin file.

use super::Gateway;
use crate::capabilities::BrandCapabilities;
use crate::config::{Brand, Config};
use crate::runtime::plugin::{LoadedPlugin, PluginLoader};
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;

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
pub(super) fn load_brands(
    config: &Config,
    loader: &PluginLoader,
    previous: &BTreeMap<String, Arc<BrandRuntime>>,
    metrics: &Arc<crate::telemetry::Metrics>,
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

impl Gateway {
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
        if self.nothing_new(brand, &version, &current) {
            return ReloadResult::Unchanged;
        }
        let plugin = match self.load_checked(&current, bytes, &version).await {
            Ok(plugin) => Arc::new(plugin),
            Err(msg) => return ReloadResult::Failed(msg),
        };
        self.swap_plugin(brand, plugin);
        tracing::info!(brand, previous_version = %current.plugin.version, plugin_version = %version, "plugin reloaded");
        ReloadResult::Reloaded(version)
    }

    /// Whether the file's `version` is the one that failed last (not tried again) or
    /// the one serving (an earlier failure is then history).
    fn nothing_new(&self, brand: &str, version: &str, current: &BrandRuntime) -> bool {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let known_bad = status
            .get(brand)
            .and_then(|s| s.last_failed_version.as_deref());
        if known_bad == Some(version) {
            return true;
        }
        if version == current.plugin.version {
            if let Some(s) = status.get_mut(brand) {
                s.last_error = None;
                s.last_error_at = None;
                s.last_failed_version = None;
            }
            return true;
        }
        false
    }

    /// Compiles and probes the new file off the async threads; a failure is recorded
    /// (with the version, so the same file is not tried again) and returned as text.
    async fn load_checked(
        self: &Arc<Self>,
        current: &BrandRuntime,
        bytes: Vec<u8>,
        version: &str,
    ) -> Result<LoadedPlugin, String> {
        let brand = current.brand.name.as_str();
        let gw = self.clone();
        let brand_name = brand.to_string();
        let brand_config = current.brand.clone();
        let path = current.brand.plugin.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let plugin = gw.loader.load_bytes(&brand_name, &path, &bytes)?;
            crate::runtime::run::probe(&plugin, &brand_config)?;
            Ok::<_, crate::runtime::PluginLoadError>(plugin)
        })
        .await;
        match loaded {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => {
                let msg = e.to_string();
                self.record_failure(brand, &msg);
                if let Some(s) = self
                    .status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(brand)
                {
                    s.last_failed_version = Some(version.to_string());
                }
                Err(msg)
            }
            Err(e) => {
                let msg = format!("brand {brand}: plugin load task failed: {e}");
                self.record_failure(brand, &msg);
                Err(msg)
            }
        }
    }

    /// Makes `plugin` the brand's serving version (runs in flight keep theirs) and
    /// counts the reload.
    fn swap_plugin(&self, brand: &str, plugin: Arc<LoadedPlugin>) {
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
            .get_or_create(&crate::telemetry::metrics::ReloadLabels {
                brand: brand.to_string(),
                result: "ok".into(),
            })
            .inc();
    }

    fn record_failure(&self, brand: &str, message: &str) {
        tracing::error!(
            brand,
            error = message,
            "plugin reload failed; the last good version keeps serving"
        );
        self.metrics
            .reloads
            .get_or_create(&crate::telemetry::metrics::ReloadLabels {
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
}
