//! Checks 4 and 5: the endpoint's trigger as `setup` would write it (setup's
//! `desired_trigger` and `rule_differs`), the failsafe automation, and "Notify
//! requester" triggers without the API-channel condition.

use super::webhook::Hook;
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

/// The usage counts of one trigger as Zendesk sideloads them on the triggers list
/// (`include=usage_1h,usage_24h,usage_7d`): a number field per sideload on each trigger
/// (the field-per-sideload shape recorded answers show for the same sideloads on
/// macros; a nested `usage` object is read too). `None` when Zendesk sent none: the
/// usage sideloads need Support Professional or Suite Growth and above.
fn usage(t: &Value, key: &str) -> Option<u64> {
    t[key].as_u64().or_else(|| t["usage"][key].as_u64())
}

/// Check 4b: how often the endpoint's trigger fired, against the webhook's invocations
/// in the same 24 hours: one without the other means notifications go astray.
pub(super) fn check_usage(
    ep: &EndpointPlan,
    hook: Option<&Hook>,
    triggers: &[Value],
    rows: &mut Rows<'_>,
) {
    let name = &ep.endpoint.name;
    let title = desired::trigger_title(name);
    let Some(t) = triggers
        .iter()
        .find(|t| t["title"].as_str() == Some(&title))
    else {
        return; // The trigger row already fails.
    };
    let (Some(h1), Some(h24), Some(d7)) = (
        usage(t, "usage_1h"),
        usage(t, "usage_24h"),
        usage(t, "usage_7d"),
    ) else {
        rows.push(
            name,
            "trigger usage",
            Level::Ok,
            "Zendesk sent no usage counts for the trigger (its usage sideloads need Support \
             Professional or Suite Growth and above)",
            None,
        );
        return;
    };
    let fired = format!("fired {h1} time(s) in the last hour, {h24} in 24 h, {d7} in 7 days");
    let Some(hook) = hook else {
        rows.push(name, "trigger usage", Level::Ok, fired, None);
        return;
    };
    let seen = hook.invocations_24h;
    let detail = format!(
        "{fired}; webhook {} saw {seen} invocation(s) in 24 h",
        hook.id
    );
    if h24 == 0 && seen > 0 {
        rows.push(
            name,
            "trigger usage",
            Level::Warning,
            format!(
                "{detail}: something other than {title:?} calls the webhook (another trigger \
                 or automation with a notification_webhook action for it?), so the gateway may \
                 get tickets of other brands or twice; find it in Admin Center > Objects and \
                 rules and remove its webhook action"
            ),
            None,
        );
    } else if h24 > 0 && seen == 0 {
        rows.push(
            name,
            "trigger usage",
            Level::Warning,
            format!(
                "{detail}: Zendesk fired the trigger but called the webhook for none of it \
                 (webhook inactive, paused, or the trigger's action names another webhook); \
                 those notifications are lost (the sweep catches up)"
            ),
            None,
        );
    } else {
        rows.push(name, "trigger usage", Level::Ok, detail, None);
    }
}
