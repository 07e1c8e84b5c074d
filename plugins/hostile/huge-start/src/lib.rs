//! Hostile test plugin: cannot even be started under the default limits.
//!
//! It declares 40 MiB of static data, so its linear memory starts bigger than a brand
//! capped at 32 MiB: instantiating it fails before `handle` could run. The gateway
//! instantiates every new plugin version once before swapping it in, so such a file is
//! refused and the last good version keeps serving.
//!
//! (Rust runs static constructors lazily, at the first call of an export, so a Rust
//! plugin cannot trap "at start" otherwise; an oversized start is the realistic way a
//! plugin fails to instantiate.)

use gateway_plugin_sdk::{export_plugin, Event, Guest, Outcome};

/// Size of the static data.
const SIZE: usize = 40 << 20;

static mut BALLAST: [u8; SIZE] = [0; SIZE];

/// The plugin.
pub struct HostileHugeStart;

impl Guest for HostileHugeStart {
    fn handle(_event: Event) -> Result<Outcome, String> {
        // Read the data so the linker keeps all of it.
        let first = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(BALLAST).cast::<u8>()) };
        Ok(Outcome::Handled(format!("never runs ({first})")))
    }
}

export_plugin!(HostileHugeStart);
