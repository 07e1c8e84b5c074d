//! Hostile test plugin: computes for a while, inside its deadline, then decides.
//!
//! It spins for `compute_ms` milliseconds (a brand setting, 3000 by default) of pure
//! WebAssembly, with no host call in between, then hands the ticket off with a reason
//! saying how long it computed. The sandbox tests run several at once next to a healthy
//! brand: the gateway must keep answering `/notify` and serving the other brand while
//! they compute. A `compute_ms` longer than the brand's deadline makes it a timeout.

use gateway_plugin_sdk::{export_plugin, setting_number, Event, Guest, Outcome};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The plugin.
pub struct HostileCompute;

impl Guest for HostileCompute {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let wanted = Duration::from_millis(setting_number("compute_ms", 3000.0) as u64);
        let started = Instant::now();
        let mut spins: u64 = 0;
        // Looking at the clock is a host call; do it rarely, so almost all the time is
        // spent in wasm, where only epoch interruption can take the thread back.
        while started.elapsed() < wanted {
            for _ in 0..1_000_000 {
                spins = black_box(spins.wrapping_add(1));
            }
        }
        Ok(Outcome::HandedOff(format!(
            "computed for {} ms ({spins} spins)",
            started.elapsed().as_millis()
        )))
    }
}

export_plugin!(HostileCompute);
