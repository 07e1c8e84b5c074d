//! The Zendesk AI gateway: receives Zendesk ticket notifications, runs the brand's
//! WebAssembly plugin on each ticket in a sandbox, and commits what the plugin decided
//! back to Zendesk in one safe update.
//!
//! The modules are layers; each uses only those below it (docs/architecture.md):
//!
//! ```text
//! commands      the CLI, one module per subcommand
//! service       starting and stopping the server; file watchers that trigger reloads
//! pipeline      the stages of a notification: ingress -> dispatcher -> handling
//! gateway       the running state: brands and their plugins, environments and seats
//! runtime       engine policy, plugin loading, WIT versions, the store, the run
//! capabilities  the host imports (ticket, actions, log, llm, knowledge, settings), grants
//! zendesk       the API client, its errors, the seat and the per-run read cache
//! store | config | telemetry | bindings | outcome | text    used by all of the above
//! ```

#![deny(missing_docs)]

pub mod bindings;
pub mod capabilities;
pub mod commands;
pub mod config;
pub mod gateway;
pub mod outcome;
pub mod pipeline;
pub mod runtime;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod zendesk;

/// Paths (and, for the example plugins, bytes) of the guest plugins compiled by the
/// build script from `plugins/`.
pub mod plugin_artifacts {
    include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
}
