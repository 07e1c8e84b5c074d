//! The WebAssembly side of the gateway: one engine ([`engine`], every wasmtime setting),
//! plugins compiled once into an `InstancePre` ([`plugin`]) for one of the WIT versions
//! this host serves ([`wit`]), and a fresh sandboxed store for every run ([`store`],
//! [`run`]).

pub mod engine;
pub mod plugin;
pub mod run;
pub mod store;
pub mod wit;

pub use engine::{EnginePolicy, PluginEngine};
pub use plugin::{LoadedPlugin, PluginLoadError};
pub use run::{RunFailure, RunOutcome, RunRequest, RunResult};
