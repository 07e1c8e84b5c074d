//! Host bindings generated from the WIT contract in `wit/` (the single source of truth).
//!
//! Every import is `async` (reads go to Zendesk over the network, and an async host call
//! can be cancelled when a run's deadline passes) and `trappable` (the host can end a
//! run that breaks the rules).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "brand-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::zendesk_gateway::plugin::types::{
    Error as PluginError, Event, FieldError, Mode, Outcome,
};
