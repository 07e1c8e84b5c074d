//! Trigger evaluation: which active triggers' conditions hold for one ticket update,
//! and the webhook calls their `notification_webhook` actions make (rendered bodies).

use chrono::Utc;
use serde_json::Value;

use super::registry::{Delivery, Rule, Rules, Webhook};
use crate::common::{value_text, TicketFacts, UpdateEvent, STATUSES};
use crate::model::WebhookDelivery;

impl Rules {
    /// The webhook calls the active triggers make for one update, in trigger order.
    /// Each trigger fires at most once per update, as in Zendesk. Only
    /// `notification_webhook` actions are carried out (see `validate::ACTIONS`).
    pub(crate) fn fire(&mut self, ticket: &TicketFacts, event: &UpdateEvent) -> Vec<Delivery> {
        let mut rules: Vec<&Rule> = self.triggers.values().filter(|r| r.active).collect();
        rules.sort_by_key(|r| (r.position, r.id));
        let mut out = Vec::new();
        let mut log = Vec::new();
        let mut fired = Vec::new();
        for rule in rules {
            let all_hold = rule.all.iter().all(|c| condition_holds(c, ticket, event));
            let any_holds =
                rule.any.is_empty() || rule.any.iter().any(|c| condition_holds(c, ticket, event));
            if !(all_hold && any_holds) {
                continue;
            }
            fired.push(rule.id);
            for action in &rule.actions {
                let Some((w, template)) = webhook_action(&self.webhooks, action) else {
                    continue;
                };
                let body = render(template, ticket);
                let seq = self.deliveries.len() + log.len();
                let invocation_id = super::webhooks::ulid(Utc::now());
                log.push(WebhookDelivery {
                    id: seq as u64,
                    invocation_id: invocation_id.clone(),
                    webhook_id: w.id.clone(),
                    trigger_id: rule.id,
                    ticket_id: ticket.id,
                    endpoint: w.endpoint.clone(),
                    body: body.clone(),
                    status: None,
                    error: None,
                    requested_at: Utc::now(),
                    outcome: "pending".to_string(),
                    attempts: Vec::new(),
                });
                out.push(Delivery {
                    seq,
                    invocation_id,
                    webhook_id: w.id.clone(),
                    endpoint: w.endpoint.clone(),
                    method: w.http_method.clone(),
                    body,
                    secret: w.secret.clone(),
                });
            }
        }
        self.deliveries.extend(log);
        let now = Utc::now();
        for id in fired {
            let times = self.firings.entry(id).or_default();
            times.retain(|t| now - *t <= chrono::Duration::days(30));
            times.push(now);
        }
        out
    }
}

/// The webhook an action calls and its body template, if the action is a
/// `notification_webhook` naming a webhook that takes trigger events.
fn webhook_action<'w>(
    webhooks: &'w [Webhook],
    action: &'w Value,
) -> Option<(&'w Webhook, &'w str)> {
    if action.get("field").and_then(Value::as_str) != Some("notification_webhook") {
        return None;
    }
    let parts = action.get("value").and_then(Value::as_array)?;
    let id = parts.first().and_then(Value::as_str)?;
    let template = parts.get(1).and_then(Value::as_str)?;
    let w = webhooks.iter().find(|w| w.id == id)?;
    // An inactive webhook, or one not subscribed to trigger events, is not called.
    let subscribed = w
        .subscriptions
        .iter()
        .any(|s| s == "conditional_ticket_events");
    (w.status == "active" && subscribed).then_some((w, template))
}

/// Placeholders Zendesk would fill in a webhook body: the few a gateway trigger uses.
fn render(template: &str, t: &TicketFacts) -> String {
    template
        .replace("{{ticket.id}}", &t.id.to_string())
        .replace("{{ticket.status}}", &t.status)
        .replace("{{ticket.brand.id}}", &t.brand_id.to_string())
        .replace("{{ticket.title}}", &t.subject)
}

fn status_rank(s: &str) -> Option<usize> {
    STATUSES.iter().position(|x| x.eq_ignore_ascii_case(s))
}

/// Whether one `{field, operator, value}` condition holds for this update.
fn condition_holds(c: &Value, t: &TicketFacts, e: &UpdateEvent) -> bool {
    let field = c.get("field").and_then(Value::as_str).unwrap_or_default();
    let op = c
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = c.get("value").map(value_text).unwrap_or_default();
    let id_matches = |actual: Option<u64>| match value.as_str() {
        "" => actual.is_none(),
        "current_user" => actual == Some(e.actor),
        v => v.parse::<u64>().ok() == actual,
    };
    let is = |holds: bool| match op {
        "is" | "includes" => holds,
        "is_not" | "not_includes" => !holds,
        _ => false,
    };
    match field {
        "update_type" => is(if e.create {
            value.eq_ignore_ascii_case("Create")
        } else {
            value.eq_ignore_ascii_case("Change")
        }),
        "brand_id" => is(value.parse::<u64>().ok() == Some(t.brand_id)),
        "comment_is_public" => match value.as_str() {
            "not_relevant" => true,
            "true" | "requester_can_see_comment" => is(e.comment_public == Some(true)),
            "false" => is(e.comment_public == Some(false)),
            _ => false,
        },
        "current_via_id" => is(value.parse::<u32>().ok() == Some(e.via_id)),
        "via_id" => is(value.parse::<u32>().ok() == Some(t.via_id)),
        // Tickets here are never received at a support address, so "Received at" never
        // matches: `is` fails and `is_not` holds.
        "recipient" => is(false),
        "status" => {
            let (Some(actual), wanted) = (status_rank(&t.status), status_rank(&value)) else {
                return false;
            };
            match op {
                "is" => wanted == Some(actual),
                "is_not" => wanted != Some(actual),
                "less_than" => wanted.is_some_and(|w| actual < w),
                "greater_than" => wanted.is_some_and(|w| actual > w),
                "changed" => e.previous_status.as_deref() != Some(t.status.as_str()),
                _ => false,
            }
        }
        "ticket_is_public" => is((value == "public") == t.is_public),
        "assignee_id" => is(id_matches(t.assignee_id)),
        "group_id" => is(id_matches(t.group_id)),
        "requester_id" => is(id_matches(Some(t.requester_id))),
        "current_user" => match value.as_str() {
            "end_user" | "(end_user)" => is(e.actor_role == "end-user"),
            "agent" | "(agent)" => is(e.actor_role != "end-user"),
            v => is(v.parse::<u64>().ok() == Some(e.actor)),
        },
        "role" => is(match value.as_str() {
            "end_user" => e.actor_role == "end-user",
            "agent" => e.actor_role == "agent" || e.actor_role == "admin",
            "admin" => e.actor_role == "admin",
            _ => false,
        }),
        "current_tags" => is(value
            .split_whitespace()
            .any(|tag| t.tags.iter().any(|x| x == tag))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::common::via_id;

    #[test]
    fn conditions_evaluate_for_one_update() {
        let t = TicketFacts {
            id: 7,
            subject: "s".into(),
            status: "open".into(),
            brand_id: 2,
            assignee_id: None,
            group_id: Some(10),
            requester_id: 501,
            tags: vec!["vip".into()],
            is_public: true,
            via_id: via_id::WEB,
        };
        let e = UpdateEvent {
            create: false,
            via_id: via_id::API,
            actor: 9000,
            actor_role: "agent".into(),
            comment_public: Some(true),
            previous_status: Some("new".into()),
        };
        let holds = |f: &str, op: &str, v: Value| {
            condition_holds(&json!({"field": f, "operator": op, "value": v}), &t, &e)
        };
        assert!(holds("update_type", "is", json!("Change")));
        assert!(!holds("update_type", "is", json!("Create")));
        assert!(holds("brand_id", "is", json!("2")));
        assert!(holds("comment_is_public", "is", json!("true")));
        assert!(!holds("current_via_id", "is_not", json!("5")));
        assert!(holds("recipient", "is_not", json!("ai@x")));
        assert!(holds("status", "less_than", json!("solved")));
        assert!(holds("status", "changed", Value::Null));
        assert!(holds("assignee_id", "is", json!("")));
        assert!(holds("group_id", "is", json!("10")));
        assert!(holds("current_tags", "includes", json!("vip gold")));
        assert!(holds("current_user", "is", json!("9000")));
    }
}
