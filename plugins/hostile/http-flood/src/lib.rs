//! Hostile test plugin: hammers the brand's API (setting `url`) with requests in a
//! loop, going on after refusals. The gateway's per-run budget must stop every request
//! past `max_requests_per_run` before it leaves the host; the skip reason counts what
//! the plugin saw.

use gateway_plugin_sdk::http::{self, HttpError};
use gateway_plugin_sdk::{export_plugin, setting_or, Event, Guest, Outcome};

/// The plugin.
pub struct HttpFlood;

/// Requests attempted per run.
const ATTEMPTS: u32 = 1000;

impl Guest for HttpFlood {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let url = setting_or("url", "");
        let (mut answered, mut budget_spent, mut other) = (0u32, 0u32, 0u32);
        for _ in 0..ATTEMPTS {
            match http::get(&url) {
                Ok(_) => answered += 1,
                Err(HttpError::BudgetSpent) => budget_spent += 1,
                Err(_) => other += 1,
            }
        }
        Ok(Outcome::Skipped(format!(
            "answered={answered} budget_spent={budget_spent} other={other}"
        )))
    }
}

export_plugin!(HttpFlood);
