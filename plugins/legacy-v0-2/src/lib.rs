//! A plugin built against `zendesk-gateway:plugin@0.2.0` (the WIT kept in
//! `wit/versions/0.2.0/`), without the SDK, as a plugin written before 0.3.0 was. It uses
//! what 0.2.0 added (settings and the knowledge base), so the gateway's tests check that
//! those imports still reach the latest implementation.

wit_bindgen::generate!({
    world: "brand-plugin",
    path: "../../wit/versions/0.2.0",
});

use exports::zendesk_gateway::plugin::handler::Guest;
use zendesk_gateway::plugin::types::{Event, Outcome};
use zendesk_gateway::plugin::{actions, knowledge, settings, ticket};

struct Legacy;

impl Guest for Legacy {
    fn handle(event: Event) -> Result<Outcome, String> {
        let t = ticket::get().map_err(|e| format!("cannot read the ticket: {e:?}"))?;
        let greeting = settings::get("greeting").unwrap_or_else(|| "Hello".into());
        let found = knowledge::search(&t.subject, 1);
        let article = found
            .first()
            .map(|a| {
                format!(
                    " See \"{}\" ({}).",
                    a.title,
                    a.url.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        actions::reply(&format!(
            "{greeting} from a 0.2.0 plugin, answering \"{}\" for brand {}.{article}",
            t.subject, event.brand
        ))
        .map_err(|e| format!("reply refused: {e:?}"))?;
        actions::add_tags(&["legacy_v0_2".to_string()])
            .map_err(|e| format!("tags refused: {e:?}"))?;
        Ok(Outcome::Handled("answered by the 0.2.0 plugin".into()))
    }
}

export!(Legacy);
