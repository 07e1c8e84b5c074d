//! Checks 4 and 5: the endpoint's trigger as `setup` would write it (setup's
//! `desired_trigger` and `rule_differs`), the failsafe automation, and "Notify
//! requester" triggers without the API-channel condition.

use super::{Fix, Level, Rows};
use crate::commands::setup::account::Seat;
use crate::commands::setup::compare;
use crate::commands::setup::desired;
use crate::commands::setup::plan::EndpointPlan;
use serde_json::{json, Value};

pub(super) fn check_trigger(
    ep: &EndpointPlan,
    hook: Option<&str>,
    brand: Option<u64>,
    seat: &Seat,
    triggers: &[Value],
    rows: &mut Rows<'_>,
) {
    let name = &ep.endpoint.name;
    let title = desired::trigger_title(name);
    let Some(found) = triggers
        .iter()
        .find(|t| t["title"].as_str() == Some(&title))
    else {
        rows.push(
            name,
            "trigger",
            Level::Failure,
            format!("no trigger {title:?}: Zendesk never notifies this endpoint; run setup"),
            None,
        );
        return;
    };
    let want = desired::desired_trigger(name, hook.unwrap_or("-"), brand, &seat.email, seat.id);
    if found["active"].as_bool() == Some(false) {
        rows.push(
            name,
            "trigger",
            Level::Failure,
            format!(
                "trigger {title:?} (id {}) is inactive: run setup to activate it",
                found["id"]
            ),
            None,
        );
    } else if compare::rule_differs(found, &want) {
        rows.push(
            name,
            "trigger",
            Level::Warning,
            format!(
                "trigger {title:?} (id {}) differs from what setup writes (conditions or \
                 webhook): run setup to update it",
                found["id"]
            ),
            None,
        );
    } else {
        rows.push(
            name,
            "trigger",
            Level::Ok,
            format!(
                "{title:?} (id {}) active, conditions as setup writes them",
                found["id"]
            ),
            None,
        );
    }
}

pub(super) fn check_environment_rules(
    seat: &Seat,
    automations: &[Value],
    triggers: &[Value],
    rows: &mut Rows<'_>,
) {
    let want = desired::desired_automation(seat.id);
    match automations
        .iter()
        .find(|a| a["title"].as_str() == Some(desired::AUTOMATION_TITLE))
    {
        None => rows.push(
            "-",
            "failsafe",
            Level::Warning,
            format!(
                "no automation {:?}: a ticket the gateway leaves assigned to the seat never \
                 reaches humans; run setup",
                desired::AUTOMATION_TITLE
            ),
            None,
        ),
        Some(a) if compare::rule_differs(a, &want) => rows.push(
            "-",
            "failsafe",
            Level::Warning,
            format!(
                "automation {:?} differs from what setup writes (or is inactive): run setup",
                desired::AUTOMATION_TITLE
            ),
            None,
        ),
        Some(_) => rows.push(
            "-",
            "failsafe",
            Level::Ok,
            "failsafe automation active",
            None,
        ),
    }
    let mut all_ok = true;
    for t in triggers {
        if compare::is_active_notify_requester(t) && !compare::has_not_api_condition(t) {
            all_ok = false;
            let mut body = json!({
                "title": t["title"],
                "conditions": t["conditions"].clone(),
                "actions": t["actions"].clone(),
            });
            let cond =
                json!({"field": "current_via_id", "operator": "is_not", "value": desired::VIA_API});
            match body["conditions"]["all"].as_array_mut() {
                Some(all) => all.push(cond),
                None => body["conditions"]["all"] = json!([cond]),
            }
            rows.push(
                "-",
                "notify requester",
                Level::Warning,
                format!(
                    "trigger {:?} (id {}) lacks \"Channel is not Web Service (API)\": customers \
                     get an email for each of the gateway's updates; fix: doctor --fix adds it",
                    t["title"].as_str().unwrap_or(""),
                    t["id"]
                ),
                t["id"]
                    .as_u64()
                    .map(|trigger| Fix::AddApiCondition { trigger, body }),
            );
        }
    }
    if all_ok {
        rows.push(
            "-",
            "notify requester",
            Level::Ok,
            "every active \"Notify requester\" trigger skips API updates",
            None,
        );
    }
}
