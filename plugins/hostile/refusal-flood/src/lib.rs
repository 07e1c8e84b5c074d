//! Hostile test plugin: asks for refused actions, again and again.
//!
//! It asks `assigns` times (a brand setting, 2000000 by default) to assign the ticket to
//! agent 999999, whom no brand allows, then `tags` times (300 by default) to add one
//! tag of 1 MiB, then hands off saying how many were refused. The gateway must bound
//! what it logs and keeps of the refusals.

use gateway_plugin_sdk::{actions, export_plugin, setting_number, Assignee, Event, Guest, Outcome};

/// The plugin.
pub struct HostileRefusalFlood;

impl Guest for HostileRefusalFlood {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let assigns = setting_number("assigns", 2_000_000.0) as u64;
        let tags = setting_number("tags", 300.0) as u64;
        let mut refused = 0u64;
        for _ in 0..assigns {
            if actions::assign(Assignee::Agent(999_999)).is_err() {
                refused += 1;
            }
        }
        let tag = vec!["t".repeat(1 << 20)];
        for _ in 0..tags {
            if actions::add_tags(&tag).is_err() {
                refused += 1;
            }
        }
        Ok(Outcome::HandedOff(format!("{refused} actions refused")))
    }
}

export_plugin!(HostileRefusalFlood);
