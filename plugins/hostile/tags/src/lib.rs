//! Hostile test plugin: adds 10,000 tags in one call.
//!
//! The sandbox tests check that the gateway's tag limit refuses it. The outcome's
//! reason says whether `add-tags` was refused.

use gateway_plugin_sdk::{actions, export_plugin, Event, Guest, Outcome};

/// How many tags the plugin adds.
pub const TAGS: usize = 10_000;

/// The plugin.
pub struct HostileTags;

impl Guest for HostileTags {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let tags: Vec<String> = (0..TAGS).map(|i| format!("hostile_tag_{i}")).collect();
        let reason = match actions::add_tags(&tags) {
            Ok(()) => format!("staged {TAGS} tags"),
            Err(error) => format!("{TAGS} tags refused: {error}"),
        };
        Ok(Outcome::Handled(reason))
    }
}

export_plugin!(HostileTags);
