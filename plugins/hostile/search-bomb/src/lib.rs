//! Hostile test plugin: asks the knowledge base absurd questions.
//!
//! It searches with one word of `word_kib` KiB of "y" (a brand setting, 1024 by default:
//! a stemmer's worst case), then with `terms` distinct short words (a brand setting,
//! 200000 by default), then hands the ticket off saying how long each search took. The
//! gateway must cut the query before it reaches the index and stay responsive.

use gateway_plugin_sdk::{export_plugin, knowledge, setting_number, Event, Guest, Outcome};
use std::time::Instant;

/// The plugin.
pub struct HostileSearchBomb;

impl Guest for HostileSearchBomb {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let word_kib = setting_number("word_kib", 1024.0) as usize;
        let terms = setting_number("terms", 200_000.0) as usize;
        let word = "y".repeat(word_kib << 10);
        let started = Instant::now();
        let hits = knowledge::search(&word, 5).len();
        let one_word_ms = started.elapsed().as_millis();
        drop(word);
        let mut many = String::new();
        for i in 0..terms {
            many.push_str(&format!("refund{i} "));
        }
        let started = Instant::now();
        let more = knowledge::search(&many, 5).len();
        let many_ms = started.elapsed().as_millis();
        Ok(Outcome::HandedOff(format!(
            "search of a {word_kib} KiB word took {one_word_ms} ms ({hits} hits); \
             search of {terms} terms took {many_ms} ms ({more} hits)"
        )))
    }
}

export_plugin!(HostileSearchBomb);
