//! The per-run state every capability's host imports work on: the ticket, the brand,
//! the plugin version, and each capability's own per-run part.

use super::actions::staging::Staged;
use super::grants::Refused;
use super::BrandCapabilities;
use crate::bindings::{FieldError, PluginError};
use crate::config::{Brand, Limits};
use crate::zendesk::{ReadCache, Seat, ZendeskClient, ZendeskError, ZendeskErrorKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The time a run spends waiting on the gateway's own services (Zendesk, the model, the
/// quota, the brand's own APIs), shared with the runner: that time is the gateway's, so
/// it does not count against the plugin's deadline. Waits may overlap (an HTTP request
/// in flight while the plugin reads the ticket): the clock counts the time during which
/// at least one is in progress, once. A mutex held for a few instructions, because the
/// runner reads it while the run's future and spawned requests update it.
#[derive(Debug)]
pub struct HostClock {
    origin: Instant,
    state: Mutex<ClockState>,
}

#[derive(Debug, Default)]
struct ClockState {
    /// Milliseconds spent in finished stretches of host waiting.
    waited_ms: u64,
    /// Host waits in progress.
    depth: u32,
    /// When the current stretch began (ms since `origin`), valid while `depth > 0`.
    since_ms: u64,
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock {
            origin: Instant::now(),
            state: Mutex::default(),
        }
    }
}

/// A host wait in progress, for waits that outlive a borrow of the run (a request
/// running in its own task): the clock counts it until this is dropped.
pub struct HostWait(Arc<HostClock>);

impl Drop for HostWait {
    fn drop(&mut self) {
        self.0.leave();
    }
}

struct Entered<'a>(&'a HostClock);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl HostClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(&self) {
        let now = self.now_ms();
        let mut s = self.state();
        if s.depth == 0 {
            s.since_ms = now;
        }
        s.depth += 1;
    }

    fn leave(&self) {
        let now = self.now_ms();
        let mut s = self.state();
        s.depth = s.depth.saturating_sub(1);
        if s.depth == 0 {
            s.waited_ms += now.saturating_sub(s.since_ms);
        }
    }

    /// Time spent waiting on host services so far, the wait in progress included.
    pub fn waited(&self) -> Duration {
        let now = self.now_ms();
        let s = self.state();
        let current = if s.depth > 0 {
            now.saturating_sub(s.since_ms)
        } else {
            0
        };
        Duration::from_millis(s.waited_ms + current)
    }

    /// How long the host wait in progress has lasted (zero when none is).
    pub fn current_wait(&self) -> Duration {
        let now = self.now_ms();
        let s = self.state();
        match s.depth {
            0 => Duration::ZERO,
            _ => Duration::from_millis(now.saturating_sub(s.since_ms)),
        }
    }

    /// Runs `f`, a wait on a host service, off the plugin's clock (also when `f` is
    /// dropped before it finishes).
    pub async fn wait<F: std::future::Future>(&self, f: F) -> F::Output {
        self.enter();
        let _entered = Entered(self);
        f.await
    }

    /// Starts a host wait that lasts until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>) -> HostWait {
        self.enter();
        HostWait(self.clone())
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
    /// Outbound HTTP: the `wasi:http` send hook with the brand's policy, and the calls
    /// made, for the audit.
    pub http: super::http::HttpRun,
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
            ticket_updates_per_minute: crate::config::DEFAULT_TICKET_UPDATES_PER_MINUTE,
            sweep_every_secs: 0,
            admin: None,
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
        let clock = Arc::<HostClock>::default();
        let http = super::http::HttpRun::new(
            capabilities.http.clone(),
            clock.clone(),
            &brand.name,
            ticket_id,
            &plugin_version,
        );
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
            clock,
            capabilities,
            llm_tokens_used: 0,
            llm_calls: 0,
            http,
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
        let reason = crate::text::truncate(&r.0, MAX_REFUSAL_BYTES);
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

/// Maps Zendesk's errors onto the contract's typed errors.
pub fn to_plugin_error(e: ZendeskError) -> PluginError {
    let text = e.to_string();
    match e.kind {
        ZendeskErrorKind::NotFound => PluginError::NotFound(text),
        ZendeskErrorKind::Forbidden | ZendeskErrorKind::Unauthorized => {
            PluginError::Forbidden(text)
        }
        ZendeskErrorKind::Invalid => PluginError::Invalid(
            e.details
                .into_iter()
                .map(|(field, description)| FieldError { field, description })
                .collect(),
        ),
        ZendeskErrorKind::Conflict => PluginError::Conflict(text),
        ZendeskErrorKind::RateLimited => {
            PluginError::RateLimited(e.retry_after.map(|d| d.as_secs() as u32).unwrap_or(60))
        }
        ZendeskErrorKind::Unavailable | ZendeskErrorKind::Unexpected => {
            PluginError::Unavailable(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overlapping_host_waits_count_once() {
        let started = Instant::now();
        let clock = Arc::new(HostClock::default());
        let held = clock.hold();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A read while a request is in flight: the stretch is counted once.
        clock
            .wait(tokio::time::sleep(Duration::from_millis(50)))
            .await;
        assert!(
            clock.current_wait() > Duration::ZERO,
            "the request still waits"
        );
        drop(held);
        assert_eq!(clock.current_wait(), Duration::ZERO);
        let waited = clock.waited();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(
            waited <= started.elapsed(),
            "overlap counted twice: {waited:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            clock.waited(),
            waited,
            "nothing counts once no wait is in progress"
        );
    }
}
