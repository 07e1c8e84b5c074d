//! The WebAssembly side of the gateway: one engine, plugins compiled once into an
//! `InstancePre`, and a fresh sandboxed `Store` for every run of a ticket.

pub mod bindings;
pub mod engine;
pub mod host;
pub mod plugin;
pub mod run;
pub mod since_v0_1_0;

pub use engine::{EnginePolicy, PluginEngine};
pub use plugin::{LoadedPlugin, PluginLoadError};
pub use run::{RunFailure, RunOutcome, RunRequest, RunResult};
