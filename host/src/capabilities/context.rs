//! The per-run state every capability's host imports work on: the ticket, the brand,
//! the plugin version, and each capability's own per-run part.

use super::actions::staging::{Refused, Staged};
use super::ticket::to_plugin_error;
use super::BrandCapabilities;
use crate::bindings::PluginError;
use crate::config::{Brand, Limits};
use crate::zendesk::{ReadCache, Seat, ZendeskClient, ZendeskError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The time a run spends waiting on the gateway's own services (Zendesk, the model, the
/// quota), shared with the runner: that time is the gateway's, so it does not count
/// against the plugin's deadline. Atomics, because the runner reads it while the run's
/// future holds the context.
#[derive(Debug)]
pub struct HostClock {
    origin: Instant,
    /// Milliseconds spent in finished host waits.
    waited_ms: AtomicU64,
    /// When the host wait in progress started (ms since `origin`, plus one), 0 if none.
    waiting_since: AtomicU64,
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock {
            origin: Instant::now(),
            waited_ms: AtomicU64::new(0),
            waiting_since: AtomicU64::new(0),
        }
    }
}

impl HostClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Time spent waiting on host services so far, the wait in progress included.
    pub fn waited(&self) -> Duration {
        let done = self.waited_ms.load(Ordering::Relaxed);
        Duration::from_millis(done + self.current_wait().as_millis() as u64)
    }

    /// How long the host wait in progress has lasted (zero when none is).
    pub fn current_wait(&self) -> Duration {
        match self.waiting_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.now_ms().saturating_sub(since - 1)),
        }
    }

    /// Runs `f`, a wait on a host service, off the plugin's clock.
    pub async fn wait<F: std::future::Future>(&self, f: F) -> F::Output {
        self.waiting_since
            .store(self.now_ms() + 1, Ordering::Relaxed);
        let out = f.await;
        let since = self.waiting_since.swap(0, Ordering::Relaxed);
        if since > 0 {
            let took = self.now_ms().saturating_sub(since - 1);
            self.waited_ms.fetch_add(took, Ordering::Relaxed);
        }
        out
    }
}

/// A failure of a service the gateway depends on (not of the plugin) during a run: the
/// plugin decided on incomplete data, so the ticket runs again later instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailure {
    /// What failed, in words (names the service and the call).
    pub message: String,
    /// When the service asked to be called again, if it did.
    pub retry_after: Option<Duration>,
}

/// Everything a run can see and stage, besides WASI.
pub struct RunContext {
    /// The ticket this run is about.
    pub ticket_id: u64,
    /// The brand's config at the moment the run started.
    pub brand: Arc<Brand>,
    /// The plugin's version (content hash).
    pub plugin_version: String,
    /// The environment's Zendesk client.
    pub client: ZendeskClient,
    /// The AI seat of the environment.
    pub seat: Seat,
    /// Reads, cached for the run.
    pub reads: ReadCache,
    /// Writes, staged until the run ends.
    pub staged: Staged,
    /// Log lines the plugin wrote.
    pub log_lines: usize,
    /// Log lines dropped over the limit.
    pub dropped_log_lines: usize,
    /// Actions the host refused, in order, for the audit trail: at most
    /// [`MAX_REFUSALS_KEPT`], each cut to [`MAX_REFUSAL_BYTES`].
    pub refusals: Vec<String>,
    /// Refusals beyond [`MAX_REFUSALS_KEPT`], counted only.
    pub refusals_dropped: usize,
    /// A failure of Zendesk or the model during the run that may pass (quota, outage,
    /// timeout): the run's decision was made on incomplete data, so the ticket is retried
    /// later instead, whatever the plugin decided.
    pub service_failure: Option<ServiceFailure>,
    /// Whether any host call failed (even for good): a plugin error after that may be
    /// the host's doing, so it does not count towards quarantine.
    pub host_call_failed: bool,
    /// Time spent waiting on host services, off the plugin's clock.
    pub clock: Arc<HostClock>,
    /// The brand's model, knowledge base and settings.
    pub capabilities: Arc<BrandCapabilities>,
    /// Model tokens this run has spent, against the brand's per-run budget.
    pub llm_tokens_used: u32,
    /// Model calls this run has made (failed and refused ones included).
    pub llm_calls: u32,
    /// The brand's custom fields and business hours in this run's environment.
    pub account: Arc<super::BrandAccount>,
}

/// Refused actions kept per run for the audit trail and the reason (the rest are counted).
pub const MAX_REFUSALS_KEPT: usize = 20;
/// Longest text kept of one refusal.
pub const MAX_REFUSAL_BYTES: usize = 300;

impl RunContext {
    /// A context whose Zendesk client points nowhere, for runs that must not reach
    /// Zendesk: load-time probes and fixture replays (whose reads are all cached).
    pub fn offline(brand: Arc<Brand>, plugin_version: String) -> anyhow::Result<Self> {
        let offline = crate::config::Environment {
            name: "offline".into(),
            base_url: "http://127.0.0.1:9".into(),
            email: "offline@localhost".into(),
            api_token: crate::config::secret::Secret::new("offline"),
            requests_per_minute: 60,
            public_base_url: None,
        };
        let client = ZendeskClient::new(
            &offline,
            crate::zendesk::ClientOptions::default(),
            Arc::new(crate::telemetry::metrics::Metrics::default()),
        )?;
        let seat = Seat {
            id: 1,
            name: "AI Agent".into(),
            email: "ai@localhost".into(),
            role: "agent".into(),
        };
        Ok(RunContext::new(
            0,
            brand,
            plugin_version,
            client,
            seat,
            Arc::default(),
        ))
    }

    /// A fresh context for one run of `brand`'s plugin on `ticket_id`.
    pub fn new(
        ticket_id: u64,
        brand: Arc<Brand>,
        plugin_version: String,
        client: ZendeskClient,
        seat: Seat,
        capabilities: Arc<BrandCapabilities>,
    ) -> Self {
        RunContext {
            ticket_id,
            brand,
            plugin_version,
            client,
            seat,
            reads: ReadCache::default(),
            staged: Staged::default(),
            log_lines: 0,
            dropped_log_lines: 0,
            refusals: Vec::new(),
            refusals_dropped: 0,
            service_failure: None,
            host_call_failed: false,
            clock: Arc::default(),
            capabilities,
            llm_tokens_used: 0,
            llm_calls: 0,
            account: Arc::default(),
        }
    }
}

impl RunContext {
    pub(super) fn limits(&self) -> &Limits {
        &self.brand.limits
    }

    pub(super) fn refuse<T>(
        &mut self,
        what: &str,
        r: Refused,
    ) -> wasmtime::Result<Result<T, PluginError>> {
        let reason = super::log::truncate(&r.0, MAX_REFUSAL_BYTES);
        // A refusal is a log line the plugin caused: it counts against the same budget,
        // so a plugin asking again and again cannot flood the log.
        if self.log_lines < self.limits().max_log_lines {
            self.log_lines += 1;
            tracing::info!(
                brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
                action = what, reason, "plugin action refused"
            );
        } else {
            self.dropped_log_lines += 1;
        }
        if self.refusals.len() < MAX_REFUSALS_KEPT {
            self.refusals.push(format!("{what}: {reason}"));
        } else {
            self.refusals_dropped += 1;
        }
        Ok(Err(PluginError::NotAllowed(reason.to_string())))
    }

    /// Records a passing failure of a service; the first one is kept.
    pub(super) fn service_failed(&mut self, failure: ServiceFailure) {
        self.host_call_failed = true;
        if self.service_failure.is_none() {
            self.service_failure = Some(failure);
        }
    }

    pub(super) fn zendesk_error(&mut self, e: ZendeskError) -> PluginError {
        tracing::warn!(
            brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
            error = %e, "Zendesk read failed during a plugin run"
        );
        self.host_call_failed = true;
        if e.is_transient() {
            self.service_failed(ServiceFailure {
                message: e.to_string(),
                retry_after: e.retry_after,
            });
        }
        to_plugin_error(e)
    }
}
