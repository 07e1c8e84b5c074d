//! Hostile test plugin: panics in `handle`.
//!
//! Plugins are built with `panic = "abort"`, so the panic message goes to stderr and the
//! component traps; the sandbox tests check the ticket is handed to humans.

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};

/// The message of the panic, for the tests to look for in the captured stderr.
pub const MESSAGE: &str = "hostile-panic: deliberate panic in handle";

/// The plugin.
pub struct HostilePanic;

impl Guest for HostilePanic {
    fn handle(_event: Event) -> Result<Outcome, String> {
        panic!("{MESSAGE}");
    }
}

export_plugin!(HostilePanic);
