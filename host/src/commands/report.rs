//! `zendesk-gateway report`: the resolution report (`store::report`) of the gateway's
//! database, as a table, JSON or CSV. The console's report page shows the same figures.

use crate::config::Config;
use crate::store::report::{compute, parse_period, ReportOptions};

/// How to print the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for a terminal.
    Text,
    /// The whole report as JSON.
    Json,
    /// One CSV line per brand and day.
    Csv,
}

/// Prints the report of the last `since` (`7d`, `24h`...), of `brand` only if given.
/// `reopen_days` overrides the config's `gateway.report_reopen_days`.
pub fn run(
    path: &std::path::Path,
    since: &str,
    brand: Option<String>,
    reopen_days: Option<u32>,
    format: Format,
) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let period = parse_period(since).map_err(|e| anyhow::anyhow!("--since {e}"))?;
    if let Some(b) = &brand {
        anyhow::ensure!(
            config.brands.contains_key(b),
            "--brand: no brand named {b:?} in {} (known: {})",
            path.display(),
            config.brands.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // The shared database on a fleet, the SQLite file on one machine.
    let log = super::audit::open_audit(&config)?;
    let now = chrono::Utc::now();
    let options = ReportOptions {
        since: now - period,
        brand,
        reopen_days: reopen_days.unwrap_or(config.gateway.report_reopen_days),
    };
    let records = log.since(&crate::store::report::stamp(options.since))?;
    let report = compute(&records, &options, now);
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Csv => print!("{}", report.to_csv()),
    }
    Ok(())
}
