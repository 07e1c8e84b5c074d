//! The Zendesk AI gateway: receives Zendesk ticket notifications, runs the brand's
//! WebAssembly plugin on each ticket in a sandbox, and commits what the plugin decided
//! back to Zendesk in one safe update.
//!
//! The path of one notification, one module per arrow:
//!
//! ```text
//! ingress (HTTP, validate, 202) -> inbox (durable, per-ticket coalescing)
//!   -> dispatcher (workers, one run per ticket at a time) -> runner (plugin in a fresh Store)
//!   -> staging (what the plugin asked for) -> commit (one PUT, safe update) -> audit
//! ```

pub mod audit;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dispatcher;
pub mod gateway;
pub mod group_commit;
pub mod handling;
pub mod inbox;
pub mod ingress;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod replay;
pub mod runtime;
pub mod scaffold;
pub mod secret;
pub mod server;
pub mod setup;
pub mod staging;
pub mod zendesk;

/// Paths (and, for the example plugins, bytes) of the guest plugins compiled by the
/// build script from `plugins/`.
pub mod plugin_artifacts {
    include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
}
