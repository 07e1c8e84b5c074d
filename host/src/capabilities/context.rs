//! The per-run state every capability's host imports work on: the ticket, the brand,
//! the plugin version, and each capability's own per-run part.

use super::actions::staging::{Refused, Staged};
use super::ticket::to_plugin_error;
use super::BrandCapabilities;
use crate::bindings::PluginError;
use crate::config::{Brand, Limits};
use crate::zendesk::{ReadCache, Seat, ZendeskClient, ZendeskError};
use std::sync::Arc;

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
    /// Actions the host refused, in order, for the audit trail.
    pub refusals: Vec<String>,
    /// A Zendesk failure during a read that may pass (quota, outage): the run's decision
    /// was made on incomplete data, so the ticket is retried later instead.
    pub transient_failure: Option<ZendeskError>,
    /// The brand's model, knowledge base and settings.
    pub capabilities: Arc<BrandCapabilities>,
    /// Model tokens this run has spent, against the brand's per-run budget.
    pub llm_tokens_used: u32,
}

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
            transient_failure: None,
            capabilities,
            llm_tokens_used: 0,
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
        tracing::info!(
            brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
            action = what, reason = %r.0, "plugin action refused"
        );
        self.refusals.push(format!("{what}: {}", r.0));
        Ok(Err(PluginError::NotAllowed(r.0)))
    }

    pub(super) fn zendesk_error(&mut self, e: ZendeskError) -> PluginError {
        tracing::warn!(
            brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
            error = %e, "Zendesk read failed during a plugin run"
        );
        if e.is_transient() && self.transient_failure.is_none() {
            self.transient_failure = Some(e.clone());
        }
        to_plugin_error(e)
    }
}
