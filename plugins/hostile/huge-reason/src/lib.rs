//! Hostile test plugin: fails with an error message of 20 MiB.
//!
//! The gateway must bound the reason before it reaches the hand-off note, a log line or
//! the audit trail: a note that large would make Zendesk refuse the hand-off itself.

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};

/// The plugin.
pub struct HostileHugeReason;

impl Guest for HostileHugeReason {
    fn handle(_event: Event) -> Result<Outcome, String> {
        Err("reason ".repeat(3 << 20))
    }
}

export_plugin!(HostileHugeReason);
