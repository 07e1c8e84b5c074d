//! Hostile test plugin: prints far more than the gateway keeps, then ends as told.
//!
//! It writes `flood_kib` KiB (a brand setting, 1024 by default) to stdout and to stderr
//! with `println!`/`eprintln!`, which panic if a write fails. Then, by the brand setting
//! `then`: `handled` (the default) returns a decision, `exit0` and `exit1` call
//! `std::process::exit` with that code, so the tests can check the words agents get.

use gateway_plugin_sdk::{export_plugin, setting_number, setting_or, Event, Guest, Outcome};

/// The plugin.
pub struct HostileOutputFlood;

impl Guest for HostileOutputFlood {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let kib = setting_number("flood_kib", 1024.0) as usize;
        let line = "o".repeat(1023);
        for i in 0..kib {
            println!("{line}");
            if i % 4 == 0 {
                eprintln!("{line}");
            }
        }
        match setting_or("then", "handled").as_str() {
            "exit0" => std::process::exit(0),
            "exit1" => std::process::exit(1),
            _ => Ok(Outcome::HandedOff(format!(
                "printed {kib} KiB and was not stopped"
            ))),
        }
    }
}

export_plugin!(HostileOutputFlood);
