//! Hostile test plugin: stages a 10 MiB public reply.
//!
//! The sandbox tests check that the gateway refuses it (the reply size limit) rather
//! than sending it to Zendesk. The outcome's reason says whether `reply` was refused.

use gateway_plugin_sdk::{actions, export_plugin, Event, Guest, Outcome};

/// Size of the reply in bytes.
pub const REPLY_BYTES: usize = 10 << 20;

/// The plugin.
pub struct HostileHugeReply;

impl Guest for HostileHugeReply {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let body = "x".repeat(REPLY_BYTES);
        let reason = match actions::reply(&body) {
            Ok(()) => format!("staged a reply of {REPLY_BYTES} bytes"),
            Err(error) => format!("reply of {REPLY_BYTES} bytes refused: {error}"),
        };
        Ok(Outcome::Handled(reason))
    }
}

export_plugin!(HostileHugeReply);
