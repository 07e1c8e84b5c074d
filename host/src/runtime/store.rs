//! The data of one run's `Store`: WASI (clocks, random, two output pipes and nothing
//! else), the resource table, the memory limiter, and the capabilities' run context.

use crate::capabilities::RunContext;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much of a plugin's stdout and stderr is kept per run (the rest is dropped).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// A run's store with what the runner reads afterwards: the plugin's two output pipes.
pub struct RunStore {
    /// The store, with the brand's memory cap and deadline set.
    pub store: Store<RunState>,
    /// What the plugin printed on stdout.
    pub stdout: MemoryOutputPipe,
    /// What the plugin printed on stderr.
    pub stderr: MemoryOutputPipe,
}

/// The one place a plugin's `Store` is made, for load-time probes, runs, `check` and
/// `replay` alike: the brand's memory cap (from `ctx`), the deadline, and output pipes of
/// bounded size.
///
/// The deadline is the plugin's own time: wall time since the store was made, less the
/// time spent waiting on host services (Zendesk, the model, the quota; see
/// [`HostClock`](crate::capabilities::context::HostClock)), which is the gateway's. It is
/// checked on every epoch tick, and every tick also yields to the async runtime, so a
/// plugin that computes never holds a thread that ingress and other brands need (as
/// Zed's extension host and `wasmtime serve` do).
pub fn new_store(engine: &Engine, ctx: RunContext, deadline: Duration) -> RunStore {
    let stdout = MemoryOutputPipe::new(MAX_OUTPUT_BYTES);
    let stderr = MemoryOutputPipe::new(MAX_OUTPUT_BYTES);
    let clock = ctx.clock.clone();
    let mut store = Store::new(engine, RunState::new(ctx, stdout.clone(), stderr.clone()));
    store.limiter(|s| &mut s.limits);
    let started = Instant::now();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        let plugin_time = started.elapsed().saturating_sub(clock.waited());
        if plugin_time >= deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Yield(1))
    });
    RunStore {
        store,
        stdout,
        stderr,
    }
}

/// The data of one run's `Store`.
pub struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory, table and instance caps, consulted by wasmtime on every growth.
    pub limits: RunLimits,
    /// The run's own state.
    pub ctx: RunContext,
}

impl RunState {
    /// A sandbox with no files, sockets, environment or arguments: WASI only provides
    /// clocks, random numbers and the two output pipes, which the runner reads into the log.
    fn new(ctx: RunContext, stdout: MemoryOutputPipe, stderr: MemoryOutputPipe) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout).stderr(stderr);
        let memory = (ctx.brand.limits.memory_mib as usize) << 20;
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(memory)
            .table_elements(100_000)
            .instances(64)
            .tables(32)
            .memories(8)
            .build();
        let limits = RunLimits {
            inner: limits,
            memory_denied: None,
        };
        RunState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits,
            ctx,
        }
    }
}

/// `StoreLimits` that also remember a refused memory growth, so an allocation failure
/// inside the plugin is reported as "out of memory", not as a bare trap.
pub struct RunLimits {
    inner: StoreLimits,
    /// Set when a memory growth was refused: what was asked for.
    pub memory_denied: Option<String>,
}

impl ResourceLimiter for RunLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok && self.memory_denied.is_none() {
            self.memory_denied = Some(format!("asked for {} MiB", desired >> 20));
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
