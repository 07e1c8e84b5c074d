//! Hostile test plugin: calls the host's read functions in a loop forever.
//!
//! Unlike `hostile-loop`, most of its time is spent in host calls, where fuel is not
//! consumed; the sandbox tests check that the run's wall-clock deadline still stops it.

use gateway_plugin_sdk::{export_plugin, ticket, Event, Guest, Outcome};
use std::hint::black_box;

/// The plugin.
pub struct HostileSlowHost;

impl Guest for HostileSlowHost {
    fn handle(_event: Event) -> Result<Outcome, String> {
        loop {
            // Errors are ignored on purpose: the point is to keep calling.
            let _ = black_box(ticket::get());
            let _ = black_box(ticket::comments());
        }
    }
}

export_plugin!(HostileSlowHost);
