//! Hostile test plugin: recurses without bound until the stack overflows.
//!
//! The sandbox tests check that the gateway's stack limit turns this into a trap.

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};
use std::hint::black_box;

/// The plugin.
pub struct HostileRecursion;

/// Recurses forever. The frame holds a buffer read after the call returns and the
/// depth goes through `black_box`, so the optimiser can neither turn the recursion into
/// a loop (tail call) nor prove it never returns and drop it. The exit test can never
/// pass at a reachable depth; it is only there because the compiler rejects, with
/// reason, recursion that has no way out at all.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let frame = black_box([depth as u8; 128]);
    let below = descend(black_box(depth + 1));
    below.wrapping_add(u64::from(frame[(depth % 128) as usize]))
}

impl Guest for HostileRecursion {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let depth = descend(0);
        Ok(Outcome::Handled(format!("returned from depth {depth}")))
    }
}

export_plugin!(HostileRecursion);
