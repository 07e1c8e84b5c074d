//! Engine policy: every wasmtime setting lives here and nowhere else (as Spin does), with
//! the reasons for each. See <https://docs.wasmtime.dev/api/wasmtime/struct.Config.html>.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A computing plugin gives its thread back to the async
/// runtime every [`YIELD_EVERY_TICKS`] ticks, and its deadline is checked then, so this is
/// both the longest slice a plugin holds a thread for and the granularity of a timeout.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Ticks between two yields of a computing plugin (see `store::new_store`).
pub const YIELD_EVERY_TICKS: u64 = 1;

/// Sizes of the engine's pools and caps, chosen from the gateway's config.
#[derive(Debug, Clone)]
pub struct EnginePolicy {
    /// Runs that can be alive at once (workers, plus reload checks and replays).
    pub max_concurrent_instances: u32,
    /// The largest linear memory any brand may have, in bytes (per-brand caps, which
    /// may be lower, are enforced by each store's limiter).
    pub max_memory_bytes: usize,
}

impl EnginePolicy {
    /// The policy for a config, the same for `serve`, `check` and `replay`: an instance
    /// slot per worker and as many again for reload probes and replays, and memory slots
    /// as large as the largest brand's cap (so a brand above the default 64 MiB passes or
    /// fails alike everywhere).
    pub fn for_config(config: &crate::config::Config) -> Self {
        let caps = config.brands.values().map(|b| &b.limits);
        Self::sized(
            config.gateway.concurrency,
            caps.chain([&config.limits]).map(|l| l.memory_mib),
        )
    }

    /// The policy for one brand alone (replaying a brand given without its config).
    pub fn for_brand(brand: &crate::config::Brand) -> Self {
        Self::sized(1, [brand.limits.memory_mib])
    }

    fn sized(workers: usize, memory_caps_mib: impl IntoIterator<Item = u64>) -> Self {
        let max_memory_mib = memory_caps_mib.into_iter().max().unwrap_or(64);
        EnginePolicy {
            max_concurrent_instances: (workers as u32) * 2 + 16,
            max_memory_bytes: (max_memory_mib as usize) << 20,
        }
    }
}

impl Default for EnginePolicy {
    fn default() -> Self {
        EnginePolicy {
            max_concurrent_instances: 64,
            max_memory_bytes: 64 << 20,
        }
    }
}

/// The engine, shared by every plugin, and the thread that drives its epoch.
pub struct PluginEngine {
    engine: Engine,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl PluginEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(policy: &EnginePolicy) -> anyhow::Result<Self> {
        let mut config = Config::new();
        // Deadlines: epoch interruption costs a load and compare per loop back-edge,
        // far cheaper than fuel, and a wall-clock deadline is what the issue asks for.
        // Fuel would add determinism we do not need: deadlines are about wall time.
        // Each store's epoch callback yields to the async runtime and checks the run's
        // wall-clock deadline (`store::new_store`).
        config.epoch_interruption(true);
        // Deep recursion traps at this stack size instead of exhausting the host's.
        config.max_wasm_stack(512 * 1024);
        // The pooling allocator makes instantiation a matter of reusing a pre-mapped slot:
        // the cost of a run is then dominated by the plugin, not by mmap.
        let mut pool = PoolingAllocationConfig::new();
        let instances = policy.max_concurrent_instances.max(4);
        pool.total_component_instances(instances);
        // A Rust wasm32-wasip2 component holds a few core instances (the program and the
        // WASI adapter's shims); these caps bound what a hostile component can declare.
        pool.max_core_instances_per_component(32);
        pool.max_memories_per_component(4);
        pool.max_tables_per_component(8);
        pool.total_core_instances(instances * 32);
        pool.total_memories(instances * 4);
        pool.total_tables(instances * 8);
        pool.max_memory_size(policy.max_memory_bytes);
        // Fresh memory contents for every run: one ticket's data never leaks into the
        // next run of the same slot.
        pool.linear_memory_keep_resident(0);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)
            .map_err(|e| anyhow::anyhow!("cannot create the WebAssembly engine: {e}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(PluginEngine {
            engine,
            ticker: Some((stop, thread)),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}
