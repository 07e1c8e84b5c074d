//! Hostile test plugin: writes a million log lines.
//!
//! The sandbox tests check that the gateway rate-limits or truncates plugin logging and
//! stays responsive.

use gateway_plugin_sdk::{export_plugin, log, Event, Guest, Outcome};

/// How many lines the plugin logs.
pub const LINES: u32 = 1_000_000;

/// The plugin.
pub struct HostileLogFlood;

impl Guest for HostileLogFlood {
    fn handle(_event: Event) -> Result<Outcome, String> {
        for _ in 0..LINES {
            log::info("hostile-log-flood: one more line");
        }
        Ok(Outcome::Handled(format!("logged {LINES} lines")))
    }
}

export_plugin!(HostileLogFlood);
