//! Hostile test plugin: allocates memory until it runs out.
//!
//! Each 1 MiB block is written to on every page, so the memory is really committed and
//! not just reserved. The sandbox tests check that the gateway's memory limit stops the
//! plugin (the allocation fails and the plugin traps) without hurting the host.

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};
use std::hint::black_box;

/// Size of one allocation.
const BLOCK: usize = 1 << 20;
/// WebAssembly page size: writing one byte per page touches every page.
const PAGE: usize = 64 << 10;

/// The plugin.
pub struct HostileMemory;

impl Guest for HostileMemory {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; BLOCK];
            for offset in (0..BLOCK).step_by(PAGE) {
                block[offset] = 0xAB;
            }
            hoard.push(black_box(block));
        }
    }
}

export_plugin!(HostileMemory);
