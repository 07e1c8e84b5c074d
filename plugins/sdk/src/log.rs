//! Logging into the gateway's log.
//!
//! The gateway tags every line with the brand, the ticket and the plugin version, so a
//! plugin only says what happened. These helpers save building the field list when
//! there is none.

pub use crate::bindings::zendesk_gateway::plugin::log::{log, Level};

/// Logs `message` at `level` with `fields` given as string pairs.
pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    log(level, message, &fields);
}

/// Logs a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Logs an info line.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Logs a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Logs an error.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}
