//! Hostile test plugin: never returns from `handle`.
//!
//! The gateway's sandbox tests use it to check that fuel or epoch interruption stops a
//! plugin that spins forever, and that the ticket is handed to humans.

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};
use std::hint::black_box;

/// The plugin.
pub struct HostileLoop;

impl Guest for HostileLoop {
    fn handle(_event: Event) -> Result<Outcome, String> {
        // `black_box` keeps the counter observable so the loop cannot be folded away or
        // turned into something the host could treat differently from real work.
        let mut spins: u64 = 0;
        loop {
            spins = black_box(spins.wrapping_add(1));
        }
    }
}

export_plugin!(HostileLoop);
