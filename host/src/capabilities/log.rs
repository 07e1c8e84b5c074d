//! The `log` import: structured log lines into the gateway's log, tagged with brand,
//! ticket and plugin version, within the brand's line budget.

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::log;
use crate::text::truncate;

/// Longest plugin log message kept; the rest is cut, so one call cannot flood the log.
const MAX_LOG_MESSAGE: usize = 2048;

impl log::Host for RunContext {
    async fn log(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let c = self;
        if c.log_lines >= c.limits().max_log_lines {
            c.dropped_log_lines += 1;
            return Ok(());
        }
        c.log_lines += 1;
        let message = truncate(&message, MAX_LOG_MESSAGE);
        let joined = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let fields = truncate(&joined, MAX_LOG_MESSAGE);
        let (brand, ticket, version) = (&*c.brand.name, c.ticket_id, &*c.plugin_version);
        match level {
            log::Level::Debug => {
                tracing::debug!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
        }
        Ok(())
    }
}
