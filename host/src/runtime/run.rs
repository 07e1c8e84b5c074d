//! One run of a plugin on one ticket: a fresh `Store` with the brand's limits, the
//! plugin instantiated from its `InstancePre`, `handle` called under a deadline, and
//! whatever happened turned into a [`RunResult`]. Never panics, never hangs.

use super::plugin::LoadedPlugin;
use super::store::{new_store, CappedOutput, DeadlineExceeded, RunStore};
use crate::bindings::{Event, Mode as WitMode, Outcome};
use crate::capabilities::RunContext;
use crate::config::Mode;
use crate::outcome::Outcome as HandlingOutcome;
use std::time::{Duration, Instant};
use wasmtime::Trap;

/// What the run is about.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The environment's name.
    pub environment: String,
    /// The endpoint that received the notification.
    pub endpoint: String,
    /// The brand's mode for this run.
    pub mode: Mode,
}

/// What the plugin decided, when it finished normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The AI handled the ticket.
    Handled(String),
    /// The plugin handed the ticket to humans.
    HandedOff(String),
    /// Nothing to do.
    Skipped(String),
}

impl RunOutcome {
    /// The outcome it stands for, and the plugin's reason.
    pub fn into_parts(self) -> (HandlingOutcome, String) {
        match self {
            RunOutcome::Handled(r) => (HandlingOutcome::Handled, r),
            RunOutcome::HandedOff(r) => (HandlingOutcome::HandedOff, r),
            RunOutcome::Skipped(r) => (HandlingOutcome::Skipped, r),
        }
    }
}

/// The longest reason a plugin may give (an outcome's reason, an error's message), in
/// bytes; longer ones are cut, marked with an ellipsis.
pub const MAX_REASON_BYTES: usize = 2048;

/// `text` cut to [`MAX_REASON_BYTES`] on a character boundary.
pub fn bounded(text: String) -> String {
    if text.len() <= MAX_REASON_BYTES {
        return text;
    }
    let cut = crate::text::truncate(&text, MAX_REASON_BYTES - 3);
    format!("{cut}...")
}

/// The longest one host call may keep a run waiting (Zendesk's retries with backoff,
/// a model's timeout) before the run is ended as the gateway's failure and retried.
pub const HOST_WAIT_CAP: Duration = Duration::from_secs(120);

/// Why a run did not finish normally. The text is written for a support agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFailure {
    /// The plugin ran past its deadline.
    Timeout(Duration),
    /// The plugin tried to use more memory than its cap.
    OutOfMemory(String),
    /// The plugin crashed (a panic, a stack overflow, an invalid operation).
    Crashed(String),
    /// The plugin returned an error.
    PluginError(String),
    /// The plugin could not be started (for example the instance pool is exhausted).
    StartFailed(String),
    /// The run waited on a host service (Zendesk, the model) for longer than the
    /// gateway allows: the gateway's failure, not the plugin's.
    HostWait(Duration),
    /// The run reached its deadline having spent at least half of it queued for a
    /// heavy-compute slot that other runs held: the machine was busy, which is the
    /// gateway's problem, so the ticket is retried and the plugin not blamed.
    ComputeBusy {
        /// How long it waited for a slot.
        waited: Duration,
        /// Its deadline.
        deadline: Duration,
    },
}

impl RunFailure {
    /// A sentence a support agent can act on.
    pub fn describe(&self) -> String {
        match self {
            RunFailure::Timeout(d) => format!(
                "it did not finish within its time limit of {} ms",
                d.as_millis()
            ),
            RunFailure::OutOfMemory(m) => format!("it ran out of memory ({m})"),
            RunFailure::Crashed(m) => format!("it crashed ({m})"),
            RunFailure::PluginError(m) => format!("it reported an error: {m}"),
            RunFailure::StartFailed(m) => format!("it could not be started: {m}"),
            RunFailure::HostWait(d) => format!(
                "the gateway waited {} s on Zendesk or the model, longer than it allows",
                d.as_secs()
            ),
            RunFailure::ComputeBusy { waited, deadline } => format!(
                "the gateway's compute slots were busy with other plugins for {} ms of the run's \
                 time limit of {} ms",
                waited.as_millis(),
                deadline.as_millis()
            ),
        }
    }

    /// Whether the plugin itself is at fault (these count towards quarantine). A plugin
    /// error counts only when no host call failed during the run (`host_call_failed`):
    /// an error it returns because Zendesk or the model failed is the gateway's problem.
    pub fn is_plugin_fault(&self, host_call_failed: bool) -> bool {
        match self {
            RunFailure::Timeout(_) | RunFailure::OutOfMemory(_) | RunFailure::Crashed(_) => true,
            RunFailure::PluginError(_) => !host_call_failed,
            RunFailure::StartFailed(_)
            | RunFailure::HostWait(_)
            | RunFailure::ComputeBusy { .. } => false,
        }
    }

    /// Whether the failure is the gateway's own (no instance slot, a host service that
    /// kept the run waiting too long, compute slots busy with other runs): the ticket is
    /// retried, the plugin not blamed.
    pub fn is_gateways(&self) -> bool {
        matches!(
            self,
            RunFailure::StartFailed(_) | RunFailure::HostWait(_) | RunFailure::ComputeBusy { .. }
        )
    }

    /// A short machine-friendly name for metrics and tags.
    pub fn kind(&self) -> &'static str {
        match self {
            RunFailure::Timeout(_) => "timeout",
            RunFailure::OutOfMemory(_) => "out_of_memory",
            RunFailure::Crashed(_) => "crash",
            RunFailure::PluginError(_) => "plugin_error",
            RunFailure::StartFailed(_) => "start_failed",
            RunFailure::HostWait(_) => "host_wait",
            RunFailure::ComputeBusy { .. } => "compute_busy",
        }
    }
}

/// Everything a run produced.
pub struct RunResult {
    /// The plugin's decision, or why there was none.
    pub outcome: Result<RunOutcome, RunFailure>,
    /// Reads and staged writes, refusals and log counts.
    pub context: RunContext,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Instantiates `plugin` once, under `brand`'s limits, without calling it: a new plugin
/// version is swapped in only if this works, so a file whose start traps (or loops, or
/// needs more memory than the brand allows) never replaces a good one.
///
/// Synchronous, for the loading paths (which run on blocking threads or at start-up): the
/// instantiation needs no reactor, so a plain executor drives it; the epoch deadline
/// bounds a start that loops.
pub fn probe(
    plugin: &LoadedPlugin,
    brand: &std::sync::Arc<crate::config::Brand>,
) -> Result<(), super::PluginLoadError> {
    let failed = |reason: String| super::PluginLoadError::StartFailed {
        brand: brand.name.clone(),
        path: plugin.path.display().to_string(),
        version: plugin.version.clone(),
        reason,
    };
    let context = RunContext::offline(brand.clone(), plugin.version.clone())
        .map_err(|e| failed(format!("{e:#}")))?;
    let deadline = Duration::from_millis(brand.limits.deadline_ms);
    let RunStore { mut store, .. } = new_store(plugin.pre.engine(), context, deadline);
    let result = futures::executor::block_on(plugin.pre.instantiate(&mut store)).map(drop);
    result.map_err(|e| {
        let mut reason = match classify_trap(&e) {
            RunFailure::Timeout(_) => format!(
                "its start did not finish within {} ms",
                brand.limits.deadline_ms
            ),
            RunFailure::Crashed(m) | RunFailure::OutOfMemory(m) => m,
            other => other.describe(),
        };
        if let Some(asked) = &store.data().limits.memory_denied {
            reason = format!(
                "it needs more memory than the brand's {} MiB ({asked})",
                brand.limits.memory_mib
            );
        }
        failed(reason)
    })
}

/// Runs `plugin` for `context.ticket_id` on the plugin threads (see [`plugin_threads`]):
/// what the gateway's workers await, so that wasm never runs on the threads that serve
/// ingress.
pub async fn run_on_plugin_threads(
    plugin: std::sync::Arc<LoadedPlugin>,
    context: RunContext,
    request: RunRequest,
) -> RunResult {
    let handle =
        plugin_threads().spawn(async move { run_plugin(&plugin, context, &request).await });
    match handle.await {
        Ok(result) => result,
        // A panic inside a run: the dispatcher catches panics of the handling too, but
        // the run's state is gone, so the panic goes on up to it.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The threads plugin runs execute on: a runtime of their own, as many threads as cores,
/// at a lower OS priority (nice 10) than the gateway's own threads. Runs yield on every
/// epoch tick and computing ones share at most `cores - 1` heavy-compute slots (see
/// `runtime::store`), but within one process the operating system shares the cores
/// evenly among busy threads; the lower priority tells it that ingress (`/notify`,
/// `/healthz`), the inbox writer and the workers' bookkeeping come first, so a plugin that
/// computes costs them nothing it can avoid.
pub fn plugin_threads() -> &'static tokio::runtime::Handle {
    static THREADS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    THREADS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .thread_name("plugin-run")
                .enable_all()
                .on_thread_start(|| {
                    // On Linux the nice value is per thread: this lowers only the
                    // plugin threads. Failing to lower it is harmless.
                    #[cfg(target_os = "linux")]
                    unsafe {
                        // SAFETY: setpriority only reads its integer arguments; `0` is the
                        // calling thread.
                        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
                    }
                })
                .build()
                .expect("the plugin threads start")
        })
        .handle()
}

/// Runs `plugin` for `context.ticket_id`.
pub async fn run_plugin(
    plugin: &LoadedPlugin,
    context: RunContext,
    request: &RunRequest,
) -> RunResult {
    let started = Instant::now();
    let deadline = Duration::from_millis(context.brand.limits.deadline_ms);
    let event = Event {
        ticket_id: context.ticket_id,
        brand: context.brand.name.clone(),
        endpoint: request.endpoint.clone(),
        environment: request.environment.clone(),
        mode: match request.mode {
            Mode::Listening => WitMode::Listening,
            Mode::Live => WitMode::Live,
        },
    };
    let RunStore {
        mut store,
        stdout,
        stderr,
        slot_wait,
    } = new_store(plugin.pre.engine(), context, deadline);

    let clock = store.data().ctx.clock.clone();
    let call = async {
        let instance = plugin
            .pre
            .instantiate(&mut store)
            .await
            .map_err(|e| RunFailure::StartFailed(format!("{e:#}")))?;
        instance
            .handle(&mut store, &event)
            .await
            .map_err(|e| classify_trap(&e))
    };
    // The epoch callback (runtime::store) stops wasm that computes past the deadline.
    // This watchdog covers what epochs cannot see: a run stuck in a host call. Time spent
    // waiting on host services is the gateway's, not the plugin's, so it neither counts
    // towards the deadline nor blames the plugin: a wait past HOST_WAIT_CAP ends the run
    // as the gateway's failure, and the ticket is retried.
    let slack = Duration::from_millis(50);
    let finished = {
        let mut call = std::pin::pin!(call);
        loop {
            let plugin_time = started.elapsed().saturating_sub(clock.waited());
            if plugin_time > deadline + slack {
                break Err(RunFailure::Timeout(deadline));
            }
            let waiting = clock.current_wait();
            if waiting > HOST_WAIT_CAP {
                break Err(RunFailure::HostWait(waiting));
            }
            let check_in = (deadline + slack - plugin_time)
                .clamp(Duration::from_millis(10), Duration::from_millis(250));
            if let Ok(r) = tokio::time::timeout(check_in, &mut call).await {
                break r;
            }
        }
    };
    // A plugin sizes its own reasons: bounded here, before they reach a note, a log
    // line or the audit trail (a 20 MiB reason would defeat its own hand-off).
    let result = match finished {
        Ok(Ok(outcome)) => Ok(match outcome {
            Outcome::Handled(r) => RunOutcome::Handled(bounded(r)),
            Outcome::HandedOff(r) => RunOutcome::HandedOff(bounded(r)),
            Outcome::Skipped(r) => RunOutcome::Skipped(bounded(r)),
        }),
        Ok(Err(plugin_error)) => Err(RunFailure::PluginError(bounded(plugin_error))),
        // Out of time, but mostly queued behind other runs' computing: the gateway's.
        Err(RunFailure::Timeout(_)) if slot_wait.waited() * 2 >= deadline => {
            Err(RunFailure::ComputeBusy {
                waited: slot_wait.waited(),
                deadline,
            })
        }
        // An interrupt trap has no deadline of its own: it is this run's.
        Err(RunFailure::Timeout(_)) => Err(RunFailure::Timeout(deadline)),
        Err(failure) => Err(failure),
    };
    let state = store.into_data();
    let memory_note = state.limits.memory_denied.clone();
    let result = match result {
        // A plugin whose memory growth was refused usually dies by `unreachable` (Rust's
        // allocation-failure abort); report the cause, not the symptom.
        Err(RunFailure::Crashed(_)) if memory_note.is_some() => {
            Err(RunFailure::OutOfMemory(format!(
                "{}, over its cap of {} MiB",
                memory_note.unwrap_or_default(),
                state.ctx.brand.limits.memory_mib
            )))
        }
        Err(RunFailure::Crashed(m)) => Err(RunFailure::Crashed(with_panic_message(m, &stderr))),
        other => other,
    };
    let context = state.ctx;
    forward_output(&context, "stdout", &stdout);
    forward_output(&context, "stderr", &stderr);
    RunResult {
        outcome: result,
        context,
        elapsed: started.elapsed(),
    }
}

/// Longest crash detail kept in a reason (agents read it in the hand-off note).
const MAX_CRASH_DETAIL: usize = 300;

fn classify_trap(e: &wasmtime::Error) -> RunFailure {
    if let Some(DeadlineExceeded(d)) = e.downcast_ref::<DeadlineExceeded>() {
        return RunFailure::Timeout(*d);
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return RunFailure::Crashed(match exit.0 {
            0 => "it exited (exit code 0) without returning a decision".into(),
            code => format!("it exited with code {code} without returning a decision"),
        });
    }
    if e.downcast_ref::<wasmtime::component::ResourceTableError>()
        .is_some_and(|t| matches!(t, wasmtime::component::ResourceTableError::Full))
    {
        return RunFailure::Crashed(HANDLE_LIMIT.into());
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RunFailure::Timeout(Duration::ZERO),
        Some(Trap::StackOverflow) => {
            RunFailure::Crashed("call stack exhausted: runaway recursion".into())
        }
        Some(Trap::UnreachableCodeReached) => {
            RunFailure::Crashed("it aborted (a panic or a failed allocation)".into())
        }
        Some(t) => RunFailure::Crashed(plain(&t.to_string())),
        None => {
            // The root cause only: the outer layers of a wasmtime error carry the wasm
            // backtrace, which means nothing to an agent (it goes to the log instead).
            let root = e.root_cause().to_string();
            if root.contains("handle limit") || root.contains("no free keys") {
                return RunFailure::Crashed(HANDLE_LIMIT.into());
            }
            RunFailure::Crashed(plain(&root))
        }
    }
}

const HANDLE_LIMIT: &str =
    "it opened more handles (WASI resources) than a run may hold, without closing them";

/// The first line of `detail`, without a backtrace, cut to [`MAX_CRASH_DETAIL`] bytes.
fn plain(detail: &str) -> String {
    let line = detail
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("an unknown error");
    crate::text::truncate(line.trim(), MAX_CRASH_DETAIL).to_string()
}

/// Adds the panic message a Rust plugin printed on stderr to the crash reason.
fn with_panic_message(reason: String, stderr: &CappedOutput) -> String {
    let text = String::from_utf8_lossy(&stderr.contents()).to_string();
    match text.lines().find(|l| l.contains("panicked at")) {
        Some(line) => {
            let msg: Vec<&str> = text
                .lines()
                .skip_while(|l| *l != line)
                .skip(1)
                .take(1)
                .collect();
            format!("{reason}: {} {}", line.trim(), msg.join(" ").trim())
        }
        None => reason,
    }
}

/// Sends what the plugin printed to the gateway's log, one line per line, tagged.
fn forward_output(context: &RunContext, stream: &str, pipe: &CappedOutput) {
    if pipe.dropped() > 0 {
        tracing::warn!(target: "plugin", brand = %context.brand.name, ticket = context.ticket_id,
            plugin_version = %context.plugin_version, stream, dropped_bytes = pipe.dropped(),
            "plugin output over {} bytes was dropped", super::store::MAX_OUTPUT_BYTES);
    }
    let bytes = pipe.contents();
    if bytes.is_empty() {
        return;
    }
    for line in String::from_utf8_lossy(&bytes)
        .lines()
        .take(context.brand.limits.max_log_lines)
    {
        tracing::info!(target: "plugin", brand = %context.brand.name, ticket = context.ticket_id,
            plugin_version = %context.plugin_version, stream, "{line}");
    }
}
