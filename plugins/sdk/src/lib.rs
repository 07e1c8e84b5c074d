//! The SDK for Zendesk gateway brand plugins.
//!
//! A brand plugin is a WebAssembly component (built for `wasm32-wasip2`) implementing the
//! world `brand-plugin` of `wit/plugin.wit`. This crate generates the bindings once, so
//! every plugin shares them, and adds the few conveniences every plugin ends up writing:
//!
//! * [`Conversation`]: who said what last, from `ticket::comments()` and the seat's id;
//! * [`text`]: case-insensitive whole-word keyword matching and a "just saying thanks"
//!   detector;
//! * [`Plan`]: the changes a plugin decided on, as plain data that unit tests can compare,
//!   staged with one [`Plan::stage`] call;
//! * [`log`]: one-line logging helpers;
//! * [`HostResultExt`]: turning a host [`Error`] into the handler's error text;
//! * [`setting_or`] and [`setting_number`]: the brand's settings with defaults;
//! * [`http`]: calling the brand's own systems (the gateway holds the keys).
//!
//! ```ignore
//! use gateway_plugin_sdk::{Event, Guest, Outcome};
//!
//! struct MyPlugin;
//!
//! impl Guest for MyPlugin {
//!     fn handle(_event: Event) -> Result<Outcome, String> {
//!         Ok(Outcome::Skipped("nothing to do".into()))
//!     }
//! }
//!
//! gateway_plugin_sdk::export_plugin!(MyPlugin);
//! ```
//!
//! The decision logic of a plugin is best written as a pure function from the ticket and
//! the [`Conversation`] to a [`Plan`] and an [`Outcome`]: the imported host functions
//! only exist inside the gateway (on a native target they panic), while a pure function
//! can be tested with `cargo test` on the build machine.

#![warn(missing_docs)]

pub mod conversation;
pub mod http;
pub mod log;
pub mod plan;
pub mod text;

/// Bindings generated from `wit/plugin.wit` (package `zendesk-gateway:plugin@0.3.0`,
/// world `brand-plugin`).
///
/// Their documentation comes from the WIT file. Plugins usually reach them through the
/// shorter re-exports at the crate root ([`ticket`], [`actions`], [`Event`]...).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "brand-plugin",
        path: "../../wit",
        // Plugins compare outcomes and plans in their unit tests.
        additional_derives: [PartialEq],
        // The `export!` macro must be usable from the plugin crates, and find the types
        // here rather than in the plugin's own (nonexistent) `bindings` module.
        pub_export_macro: true,
        default_bindings_module: "gateway_plugin_sdk::bindings",
    });
}

pub use bindings::exports::zendesk_gateway::plugin::handler::Guest;
pub use bindings::zendesk_gateway::plugin::{
    actions, fields, hours, knowledge, llm, settings, ticket, types,
};

pub use actions::{Assignee, Status};
pub use conversation::Conversation;
pub use hours::BusinessHours;
pub use knowledge::Article;
pub use plan::Plan;
pub use ticket::{Comment, TicketInfo, User};
pub use types::{Error, Event, FieldError, Mode, Outcome};

/// A setting of the brand (`[brands.NAME.settings]` in the gateway's config), or
/// `default` when it is not set.
pub fn setting_or(key: &str, default: &str) -> String {
    settings::get(key).unwrap_or_else(|| default.to_string())
}

/// A numeric setting of the brand, or `default` when it is not set or not a number.
pub fn setting_number(key: &str, default: f64) -> f64 {
    settings::get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Exports `$ty` (a type implementing [`Guest`]) as the plugin's `handler`.
///
/// This is the generated `export!` macro with the bindings' location filled in:
/// `export_plugin!(MyPlugin)` is `gateway_plugin_sdk::bindings::export!(MyPlugin
/// with_types_in gateway_plugin_sdk::bindings)`. Invoke it once, in the plugin's
/// `lib.rs`.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        $crate::bindings::export!($ty with_types_in $crate::bindings);
    };
}

/// Turns a host call's [`Error`] into the handler's error text.
///
/// A handler that returns `Err(text)` hands the ticket to humans with that reason and
/// nothing it staged is sent, which is the right reaction to a failed read: the plugin
/// cannot decide without the data. The text names what was being done, because a bare
/// "not found" in the audit trail does not say what was missing.
pub trait HostResultExt<T> {
    /// Maps the error to `"<what>: <error>"`.
    ///
    /// # Errors
    ///
    /// The mapped error, when `self` is one.
    fn context(self, what: &str) -> Result<T, String>;
}

impl<T> HostResultExt<T> for Result<T, Error> {
    fn context(self, what: &str) -> Result<T, String> {
        self.map_err(|error| format!("{what}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_the_failed_step() {
        let failed: Result<(), Error> = Err(Error::NotFound("ticket 7".into()));
        let text = failed.context("reading the ticket").unwrap_err();
        assert!(text.starts_with("reading the ticket: "), "{text}");
        assert!(text.contains("ticket 7"), "{text}");
    }
}
