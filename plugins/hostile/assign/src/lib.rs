//! Test plugin: assigns every ticket to the AI seat, whatever the ticket's group.
//!
//! Zendesk refuses to assign a ticket to an agent who is not a member of its group
//! (422 "Assignee: is not a member of the group"); the end-to-end tests check that
//! the gateway hands such a ticket off with Zendesk's reason instead of failing quietly.

use gateway_plugin_sdk::{actions, export_plugin, Assignee, Event, Guest, Outcome};

/// The plugin.
pub struct AssignToSeat;

impl Guest for AssignToSeat {
    fn handle(_event: Event) -> Result<Outcome, String> {
        actions::assign(Assignee::AiSeat).map_err(|e| format!("assign refused: {e:?}"))?;
        Ok(Outcome::Handled("assigned to the AI seat".into()))
    }
}

export_plugin!(AssignToSeat);
