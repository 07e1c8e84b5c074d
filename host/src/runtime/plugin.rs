//! Loading a brand's plugin: read the file whole, check it is a component for a world
//! this host serves, compile it, and resolve its imports once into an `InstancePre`.
//! Each run then only creates a `Store` and instantiates from that.

use super::store::RunState;
use super::wit;
pub use super::wit::PluginPre;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

/// A plugin, compiled and linked, ready to instantiate for a run.
pub struct LoadedPlugin {
    /// The brand it serves.
    pub brand: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Content hash (first 12 hex digits of the SHA-256): the plugin's version in logs,
    /// the audit trail and the status endpoint.
    pub version: String,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
    /// Imports resolved once; instantiation per run is cheap.
    pub pre: PluginPre,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("brand", &self.brand)
            .field("path", &self.path)
            .field("version", &self.version)
            .finish()
    }
}

/// Why a plugin file could not be loaded. The last good version keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// The file could not be read.
    #[error("brand {brand}: cannot read plugin {path}: {reason}")]
    Read {
        /// Brand.
        brand: String,
        /// File.
        path: String,
        /// OS error.
        reason: String,
    },
    /// Not a WebAssembly component (garbage, truncated, or a core module).
    #[error(
        "brand {brand}: plugin {path} (version {version}) is not a WebAssembly component: {reason}"
    )]
    NotAComponent {
        /// Brand.
        brand: String,
        /// File.
        path: String,
        /// Content hash.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// A component, but it does not fit the `brand-plugin` world this host serves.
    #[error("brand {brand}: plugin {path} (version {version}) does not implement zendesk-gateway:plugin/brand-plugin ({supported}): {reason}")]
    WrongWorld {
        /// Brand.
        brand: String,
        /// File.
        path: String,
        /// Content hash.
        version: String,
        /// What is missing or mismatched.
        reason: String,
        /// The WIT versions this host serves, in words.
        supported: String,
    },
    /// It compiled and fits the world, but instantiating it failed: a start function
    /// that traps or loops, or more initial memory than the brand allows.
    #[error("brand {brand}: plugin {path} (version {version}) cannot be started: {reason}")]
    StartFailed {
        /// Brand.
        brand: String,
        /// File.
        path: String,
        /// Content hash.
        version: String,
        /// The instantiation error.
        reason: String,
    },
}

/// The content hash used as a plugin's version.
pub fn content_version(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..6])
}

/// Compiles and links plugins against one engine. The linker is built once (WASI and the
/// gateway's imports), as Zed does with its `OnceLock` linker.
pub struct PluginLoader {
    engine: Engine,
    linker: OnceLock<Linker<RunState>>,
    cache: Option<CompileCache>,
    compiles: AtomicU64,
}

/// Compiled components on disk, so a restart with unchanged plugins does not compile.
///
/// Layout: `<dir>/<engine compatibility hash>/<content sha256>.cwasm`. The engine hash
/// changes with the wasmtime version and every setting that affects code generation, so
/// an artifact is only ever loaded by an engine that can run it. Files are written to a
/// temporary name and renamed into place (mode 0600 in 0700 folders), each with the hash
/// recorded beside it (`<name>.cwasm.sha256`), and loaded only when they match it
/// (`store::files`).
struct CompileCache {
    dir: PathBuf,
}

/// The 8-byte preamble of a component (magic, then layer 1 / version 0x0d).
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

impl PluginLoader {
    /// A loader for `engine`.
    pub fn new(engine: Engine) -> Self {
        PluginLoader {
            engine,
            linker: OnceLock::new(),
            cache: None,
            compiles: AtomicU64::new(0),
        }
    }

    /// Like [`PluginLoader::new`], keeping compiled components in `dir`.
    pub fn with_cache(engine: Engine, dir: &Path) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = dir.join(format!("{:016x}", hasher.finish()));
        let mut loader = PluginLoader::new(engine);
        loader.cache = Some(CompileCache { dir });
        loader
    }

    /// How many components this loader compiled (cache hits excluded).
    pub fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// The engine plugins are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes`, or loads the compiled form from the cache.
    fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(cache) = &self.cache else {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            return Component::new(&self.engine, bytes);
        };
        let key = hex::encode(Sha256::digest(bytes));
        let path = cache.dir.join(format!("{key}.cwasm"));
        match crate::store::files::read_recorded(&path) {
            // SAFETY: `deserialize` trusts its input to be wasmtime's own output for a
            // compatible engine. These bytes are the ones this loader wrote (below), in
            // a 0700 folder keyed by the engine's compatibility hash, named by the hash
            // of the source, and they match the hash recorded when they were written.
            Ok(Some(bytes)) => match unsafe { Component::deserialize(&self.engine, &bytes) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(cache = %path.display(), error = %format!("{e:#}"),
                    "compiled plugin in the cache is unusable; compiling again"),
            },
            Ok(None) if path.exists() => tracing::warn!(cache = %path.display(),
                "compiled plugin in the cache does not match the hash recorded when it was written; compiling again"),
            Ok(None) => {}
            Err(e) => tracing::warn!(cache = %path.display(), error = %e,
                "cannot read the compiled plugin cache; compiling again"),
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let component = Component::new(&self.engine, bytes)?;
        if let Err(e) = write_cache_file(&path, &component) {
            tracing::warn!(cache = %path.display(), error = %format!("{e:#}"),
                "cannot store the compiled plugin; the next start compiles it again");
        }
        Ok(component)
    }

    fn linker(&self) -> &Linker<RunState> {
        self.linker.get_or_init(|| {
            let mut linker = Linker::new(&self.engine);
            wit::link(&mut linker).expect("the gateway's interfaces link once into a fresh linker");
            linker
        })
    }

    /// Reads and loads a plugin file.
    pub fn load_file(&self, brand: &str, path: &Path) -> Result<LoadedPlugin, PluginLoadError> {
        let bytes = std::fs::read(path).map_err(|e| PluginLoadError::Read {
            brand: brand.to_string(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.load_bytes(brand, path, &bytes)
    }

    /// Loads a plugin from its bytes (`path` is for messages and the status page).
    pub fn load_bytes(
        &self,
        brand: &str,
        path: &Path,
        bytes: &[u8],
    ) -> Result<LoadedPlugin, PluginLoadError> {
        let version = content_version(bytes);
        let not_component = |reason: String| PluginLoadError::NotAComponent {
            brand: brand.to_string(),
            path: path.display().to_string(),
            version: version.clone(),
            reason,
        };
        if bytes.len() < 8 || bytes[..4] != COMPONENT_PREAMBLE[..4] {
            return Err(not_component(
                "the file does not start with the WebAssembly magic bytes".into(),
            ));
        }
        if bytes[4..8] != COMPONENT_PREAMBLE[4..8] {
            return Err(not_component(
                "it is a core WebAssembly module; build the plugin for wasm32-wasip2 to get a component".into(),
            ));
        }
        let component = self.compile(bytes).map_err(|e| {
            let reason = format!("{e:#}");
            // The pooling allocator refuses, at compile time, a plugin whose memory starts
            // above the largest slot: that is a valid component that cannot start here.
            if reason.contains("pooling allocator") {
                PluginLoadError::StartFailed {
                    brand: brand.to_string(),
                    path: path.display().to_string(),
                    version: version.clone(),
                    reason: format!("it needs more memory at start than the gateway allows any plugin: {reason}"),
                }
            } else {
                not_component(reason)
            }
        })?;
        let wrong_world = |reason: String| PluginLoadError::WrongWorld {
            brand: brand.to_string(),
            path: path.display().to_string(),
            version: version.clone(),
            reason,
            supported: wit::supported_in_words(),
        };
        let instance_pre = self
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| wrong_world(format!("{e:#}")))?;
        // The export's versioned name tells which WIT the plugin was built against.
        let pre = PluginPre::new(instance_pre).map_err(|e| wrong_world(format!("{e:#}")))?;
        Ok(LoadedPlugin {
            brand: brand.to_string(),
            path: path.to_path_buf(),
            version,
            loaded_at: Utc::now(),
            pre,
        })
    }
}

fn write_cache_file(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    // Private, atomic, and with its hash recorded for the check above. Replacing a file
    // by rename never disturbs a gateway that still has the old one loaded.
    crate::store::files::write_recorded(path, &bytes)?;
    Ok(())
}
