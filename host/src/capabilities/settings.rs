//! The `settings` import: the brand's free-form plugin settings.

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::settings;

impl settings::Host for RunContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.capabilities.settings.get(&key).cloned())
    }
}
