//! A plugin built against `zendesk-gateway:plugin@0.1.0` (the WIT kept in
//! `wit/versions/0.1.0/`), without the SDK, as a plugin written before 0.2.0 was. The
//! gateway's tests check that a current gateway still loads and runs it.

wit_bindgen::generate!({
    world: "brand-plugin",
    path: "../../wit/versions/0.1.0",
});

use exports::zendesk_gateway::plugin::handler::Guest;
use zendesk_gateway::plugin::types::{Event, Outcome};
use zendesk_gateway::plugin::{actions, ticket};

struct Legacy;

impl Guest for Legacy {
    fn handle(event: Event) -> Result<Outcome, String> {
        let t = ticket::get().map_err(|e| format!("cannot read the ticket: {e:?}"))?;
        let seat = ticket::seat();
        actions::reply(&format!(
            "Hello from a 0.1.0 plugin ({}), answering \"{}\" for brand {}.",
            seat.name, t.subject, event.brand
        ))
        .map_err(|e| format!("reply refused: {e:?}"))?;
        actions::add_tags(&["legacy_v0_1".to_string()])
            .map_err(|e| format!("tags refused: {e:?}"))?;
        Ok(Outcome::Handled("answered by the 0.1.0 plugin".into()))
    }
}

export!(Legacy);
