//! Hostile test plugin: tries to reach outside its sandbox through WASI.
//!
//! It reads `/etc/passwd`, connects to `127.0.0.1:80` and lists the environment, then
//! reports what each attempt returned, both as the outcome's reason and as a public
//! reply, so the sandbox tests can check that every attempt failed or came back empty.

use gateway_plugin_sdk::{actions, export_plugin, Event, Guest, Outcome};

/// The plugin.
pub struct HostileFs;

/// Keeps error texts short and the file's content out of the report: the test only
/// needs to know whether the read succeeded.
fn describe<T, E: std::fmt::Debug>(result: &Result<T, E>, ok: impl Fn(&T) -> String) -> String {
    match result {
        Ok(value) => format!("Ok({})", ok(value)),
        Err(error) => format!("Err({error:?})"),
    }
}

impl Guest for HostileFs {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let fs = std::fs::read_to_string("/etc/passwd");
        let net = std::net::TcpStream::connect("127.0.0.1:80");
        let env_count = std::env::vars_os().count();
        let report = format!(
            "fs: {}; net: {}; env: {env_count} vars",
            describe(&fs, |text| format!("{} bytes", text.len())),
            describe(&net, |_| "connected".to_owned()),
        );
        // The reply may be refused (for example in a run that may not reply); the
        // outcome still carries the report, so the refusal is only appended to it.
        let reason = match actions::reply(&report) {
            Ok(()) => report,
            Err(error) => format!("{report}; reply: Err({error})"),
        };
        Ok(Outcome::Handled(reason))
    }
}

export_plugin!(HostileFs);
