//! The data of one run's `Store`: WASI (clocks, random, two output pipes and nothing
//! else), `wasi:http` (sent by the brand's policy), the resource table, the memory limiter, and the capabilities' run context.

use super::engine::YIELD_EVERY_TICKS;
use crate::capabilities::RunContext;
use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, UpdateDeadline};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much of a plugin's stdout and stderr is kept per run (the rest is dropped).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The most WASI handles (streams, pollables...) a run may hold open at once.
pub const MAX_HANDLES: usize = 10_000;

/// A run's store with what the runner reads afterwards: the plugin's two output pipes.
pub struct RunStore {
    /// The store, with the brand's memory cap and deadline set.
    pub store: Store<RunState>,
    /// What the plugin printed on stdout.
    pub stdout: CappedOutput,
    /// What the plugin printed on stderr.
    pub stderr: CappedOutput,
    /// How long the run has waited for a heavy-compute slot, for the runner to tell a
    /// plugin that ran out of time computing from one that spent its time queued.
    pub slot_wait: SlotWait,
}

/// The time one run spent waiting for a heavy-compute slot, the wait in progress
/// included.
#[derive(Clone, Default)]
pub struct SlotWait(Arc<Mutex<SlotWaitState>>);

#[derive(Default)]
struct SlotWaitState {
    finished: Duration,
    since: Option<Instant>,
}

impl SlotWait {
    /// The time waited so far.
    pub fn waited(&self) -> Duration {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.finished + s.since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    fn begin(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).since = Some(Instant::now());
    }

    fn end(&self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = s.since.take() {
            s.finished += t.elapsed();
        }
    }
}

/// The error a run's epoch callback ends the wasm with once the run's own wall-clock
/// deadline has passed: the runner reports it as a timeout naming that deadline.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the run passed its deadline of {} ms", .0.as_millis())]
pub struct DeadlineExceeded(pub Duration);

/// The one place a plugin's `Store` is made, for load-time probes, runs, `check` and
/// `replay` alike: the brand's memory cap (from `ctx`), the deadline, and output pipes of
/// bounded size.
///
/// Wasm that computes gives its thread back to the async runtime on every epoch tick
/// (`UpdateDeadline::YieldCustom` with tokio's `yield_now`), so a plugin never holds the
/// threads that serve `/notify` and the other brands (as Zed's extension host and
/// `wasmtime serve` do). The deadline is the plugin's own time: wall time since this
/// store was made (the start of the run), less the time spent waiting on host services
/// (Zendesk, the model, the quota; see
/// [`HostClock`](crate::capabilities::context::HostClock)), which is the gateway's. The
/// callback ends the wasm with [`DeadlineExceeded`] on the first tick past it. A run
/// that has not started (a ticket waiting for a worker) has no deadline ticking yet.
pub fn new_store(engine: &Engine, ctx: RunContext, deadline: Duration) -> RunStore {
    let stdout = CappedOutput::new(MAX_OUTPUT_BYTES);
    let stderr = CappedOutput::new(MAX_OUTPUT_BYTES);
    let clock = ctx.clock.clone();
    let mut store = Store::new(engine, RunState::new(ctx, stdout.clone(), stderr.clone()));
    store.limiter(|s| &mut s.limits);
    let started = Instant::now();
    store.set_epoch_deadline(YIELD_EVERY_TICKS);
    let heavy = HeavyCompute::default();
    let slot_wait = SlotWait::default();
    let waits = slot_wait.clone();
    store.epoch_deadline_callback(move |_| {
        let plugin_time = started.elapsed().saturating_sub(clock.waited());
        if plugin_time >= deadline {
            return Err(wasmtime::Error::new(DeadlineExceeded(deadline)));
        }
        if plugin_time >= HEAVY_AFTER && !heavy.held() {
            // Waiting for a heavy-compute slot counts on the plugin's own clock: only a
            // plugin that computes ever waits for one, and it must still end within its
            // deadline (ordinary runs never reach the slots). The wait is recorded, so
            // a run that ran out of time mostly queued behind other brands' computing
            // is retried as the gateway's failure rather than blamed.
            let wait = heavy.acquire(waits.clone());
            return Ok(UpdateDeadline::YieldCustom(
                YIELD_EVERY_TICKS,
                Box::pin(wait),
            ));
        }
        // tokio's yield (not wasmtime's plain self-wake) also lets the runtime poll its
        // I/O driver before this task runs again, as `wasmtime serve` recommends.
        Ok(UpdateDeadline::YieldCustom(
            YIELD_EVERY_TICKS,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    RunStore {
        store,
        stdout,
        stderr,
        slot_wait,
    }
}

/// Plugin time after which a run counts as heavy compute and needs a slot to go on.
/// Ordinary runs (a few milliseconds of wasm) never reach it.
pub const HEAVY_AFTER: Duration = Duration::from_millis(50);

/// Heavy-compute slots: one fewer than the machine's cores (at least one). Yielding on
/// every tick shares the threads fairly, but fairness is not enough: with more
/// computing runs than cores, a short healthy run (and ingress) would wait behind each
/// of them in turn. A run that has computed for [`HEAVY_AFTER`] must hold a slot to go
/// on, so computing runs share at most `cores - 1` cores and one stays free for ingress,
/// new runs and other brands. The wait for a slot counts against the computing plugin's
/// own deadline, so a hostile plugin still ends within it.
fn heavy_slots() -> &'static Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1)))
    })
}

/// A run's heavy-compute slot, once it has one (released with the store).
#[derive(Clone, Default)]
struct HeavyCompute {
    permit: Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>,
}

impl HeavyCompute {
    fn held(&self) -> bool {
        self.permit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Waits for a slot and keeps it; the wait is added to `waits`.
    fn acquire(&self, waits: SlotWait) -> impl std::future::Future<Output = ()> + Send + 'static {
        let slot = self.permit.clone();
        async move {
            waits.begin();
            let permit = heavy_slots().clone().acquire_owned().await;
            waits.end();
            if let Ok(permit) = permit {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(permit);
            }
        }
    }
}

/// A plugin's stdout or stderr: the first `cap` bytes are kept for the log, the rest is
/// accepted and dropped (counted), so a plugin that prints a lot neither grows the
/// host's memory nor sees its writes fail (Rust's `println!` panics on a failed write).
#[derive(Clone)]
pub struct CappedOutput {
    cap: usize,
    kept: Arc<Mutex<BytesMut>>,
    dropped: Arc<AtomicU64>,
}

impl CappedOutput {
    /// An empty output that keeps at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedOutput {
            cap,
            kept: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// What was kept.
    pub fn contents(&self) -> Bytes {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .freeze()
    }

    /// How many bytes were dropped over the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: &[u8]) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.cap.saturating_sub(kept.len());
        let n = room.min(bytes.len());
        kept.extend_from_slice(&bytes[..n]);
        self.dropped
            .fetch_add((bytes.len() - n) as u64, Ordering::Relaxed);
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// The most a plugin may write in one call; it may always write that much.
const WRITE_PERMIT: usize = 64 * 1024;

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.take(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The data of one run's `Store`.
pub struct RunState {
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    table: ResourceTable,
    /// Memory, table and instance caps, consulted by wasmtime on every growth.
    pub limits: RunLimits,
    /// The run's own state.
    pub ctx: RunContext,
}

impl RunState {
    /// A sandbox with no files, sockets, environment or arguments: WASI only provides
    /// clocks, random numbers and the two output pipes, which the runner reads into the log.
    fn new(ctx: RunContext, stdout: CappedOutput, stderr: CappedOutput) -> Self {
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
        // WASI handles live in the host's memory: a plugin that opens them without
        // closing them is stopped at this many rather than at wasmtime's million.
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        RunState {
            wasi: wasi.build(),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            table,
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

/// `wasi:http`: the resource table is WASI's, the send hook is the run's outbound HTTP
/// policy (`capabilities::http`), which decides and sends every request.
impl wasmtime_wasi_http::WasiHttpView for RunState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.ctx.http,
        }
    }
}
