//! Plugins built against `zendesk-gateway:plugin@0.1.0` keep working: this module binds
//! the 0.1.0 WIT (kept in `wit/versions/0.1.0/`) and implements its imports by converting
//! to and from the latest types and delegating to the latest implementation, as Zed does
//! with its `since_v0_x` modules. 0.2.0 only added interfaces, so every 0.1.0 type has a
//! twin with the same shape.

use crate::bindings as latest;
use crate::bindings::v0_1_0::zendesk_gateway::plugin::{actions, log, ticket, types};
use crate::capabilities::RunContext;
use latest::zendesk_gateway::plugin::{actions as l_actions, log as l_log, ticket as l_ticket};

super::twins::core_interfaces!();
