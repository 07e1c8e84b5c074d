//! Host bindings generated from the WIT contract in `wit/` (the single source of truth):
//! the latest version here, older versions in their own modules. Both the runtime and
//! the capabilities stand on them.
//!
//! Every import is `async` (reads go to Zendesk over the network, and an async host call
//! can be cancelled when a run's deadline passes) and `trappable` (the host can end a
//! run that breaks the rules).

#![allow(missing_docs)] // generated code

pub mod v0_1_0;
pub mod v0_2_0;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "brand-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::zendesk_gateway::plugin::types::{
    Error as PluginError, Event, FieldError, Mode, Outcome,
};
