//! The objects `setup` wants in a Zendesk environment, as JSON exactly as
//! `shared/zendesk-api.md` ("Setting Zendesk up through its API") gives it, and the names
//! it finds them by. Pure, so all of it is unit-tested.

use serde_json::{json, Value};

/// The body Zendesk's trigger posts: the ticket id, as the gateway's ingress expects.
pub const WEBHOOK_BODY: &str = "{\"id\": {{ticket.id}}}";

/// Title of the failsafe automation (one per environment: it is about the seat).
/// Zendesk runs automations once an hour and its time conditions count whole hours, so
/// "assigned more than 1 hour ago" fires at the first hourly run after that: one to
/// three hours after the assignment, depending on when in the hour each falls.
pub const AUTOMATION_TITLE: &str = "AI seat failsafe: unassign 1 to 3 hours after assignment";

/// Titles earlier versions gave the failsafe automation: found and renamed, not
/// duplicated.
pub const FORMER_AUTOMATION_TITLES: &[&str] = &["AI seat failsafe: unassign after 1 hour"];

/// Via id of "Web Service (API)" (Zendesk's via types reference): the channel of every
/// update made through the API, by the gateway or by any other integration.
pub const VIA_API: &str = "5";

/// The name `setup` gives, and finds, the webhook of an endpoint.
pub fn webhook_name(endpoint: &str) -> String {
    format!("Zendesk Gateway {endpoint}")
}

/// The title `setup` gives, and finds, the trigger of an endpoint (the setup guide's
/// "Notify ... of Ticket Change").
pub fn trigger_title(endpoint: &str) -> String {
    format!("Notify {endpoint} of Ticket Change")
}

/// `<public_base_url>/notify/<token>`: where Zendesk posts an endpoint's notifications.
pub fn notify_url(public_base_url: &str, token: &str) -> String {
    format!("{}/notify/{token}", public_base_url.trim_end_matches('/'))
}

/// The webhook of an endpoint (the object inside `{"webhook": ...}`).
pub fn desired_webhook(endpoint: &str, url: &str) -> Value {
    json!({
        "name": webhook_name(endpoint),
        "status": "active",
        "endpoint": url,
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
    })
}

/// The trigger of an endpoint (inside `{"trigger": ...}`): when a ticket of the brand
/// is created or updated with a public comment, not received at the seat's address and
/// not made by the AI seat, post `{"id": <ticket id>}` to the webhook.
///
/// The updater condition `current_user is_not <seat id>` ("Current user is not <the AI
/// seat>", as Zendesk's own AI agents guard against loops) keeps the gateway's own
/// updates from notifying it again: each would cost a run and Zendesk quota only for the
/// loop guard to skip it. It replaces `current_via_id is_not 5`, which also dropped every
/// ticket and reply that other integrations (contact forms, shop apps) make through the
/// API. Condition values are strings, as Zendesk stores and answers them, so the
/// comparison on the next run finds them equal.
pub fn desired_trigger(
    endpoint: &str,
    webhook_id: &str,
    brand_id: Option<u64>,
    seat_email: &str,
    seat_id: u64,
) -> Value {
    let mut all = Vec::new();
    if let Some(b) = brand_id {
        all.push(json!({"field": "brand_id", "operator": "is", "value": b.to_string()}));
    }
    all.push(json!({"field": "comment_is_public", "operator": "is", "value": "true"}));
    all.push(json!({"field": "recipient", "operator": "is_not", "value": seat_email}));
    all.push(json!({"field": "current_user", "operator": "is_not", "value": seat_id.to_string()}));
    json!({
        "title": trigger_title(endpoint),
        "active": true,
        "conditions": {
            "all": all,
            "any": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "update_type", "operator": "is", "value": "Change"},
            ],
        },
        "actions": [
            {"field": "notification_webhook", "value": [webhook_id, WEBHOOK_BODY]},
        ],
    })
}

/// The failsafe automation (inside `{"automation": ...}`): a ticket still assigned to
/// the seat, unsolved, more than an hour after it was assigned, is unassigned at
/// Zendesk's next hourly run of automations (one to three hours after the assignment),
/// so it reaches humans even if the gateway is down. The action undoes the first condition, so it
/// fires once per ticket, not every hour.
pub fn desired_automation(seat_id: u64) -> Value {
    json!({
        "title": AUTOMATION_TITLE,
        "active": true,
        "conditions": {
            "all": [
                {"field": "assignee_id", "operator": "is", "value": seat_id.to_string()},
                {"field": "status", "operator": "less_than", "value": "solved"},
                {"field": "assigned_at", "operator": "greater_than", "value": "1"},
            ],
            "any": [],
        },
        "actions": [{"field": "assignee_id", "value": ""}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_and_automation_are_the_documented_json() {
        let t = desired_trigger(
            "retail-prod",
            "01HWEBHOOK",
            Some(360_001),
            "ai@acme.com",
            9000,
        );
        assert_eq!(
            t,
            json!({
                "title": "Notify retail-prod of Ticket Change",
                "active": true,
                "conditions": {
                    "all": [
                        {"field": "brand_id", "operator": "is", "value": "360001"},
                        {"field": "comment_is_public", "operator": "is", "value": "true"},
                        {"field": "recipient", "operator": "is_not", "value": "ai@acme.com"},
                        {"field": "current_user", "operator": "is_not", "value": "9000"}
                    ],
                    "any": [
                        {"field": "update_type", "operator": "is", "value": "Create"},
                        {"field": "update_type", "operator": "is", "value": "Change"}
                    ]
                },
                "actions": [{"field": "notification_webhook",
                             "value": ["01HWEBHOOK", "{\"id\": {{ticket.id}}}"]}]
            })
        );
        let shared = desired_trigger("all", "W", None, "ai@acme.com", 9000);
        assert!(!shared.to_string().contains("brand_id"));
        let a = desired_automation(9000);
        assert_eq!(a["conditions"]["all"][0]["value"], "9000");
        assert_eq!(a["conditions"]["all"][2]["field"], "assigned_at");
        assert_eq!(a["actions"], json!([{"field": "assignee_id", "value": ""}]));
    }
}
