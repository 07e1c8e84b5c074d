//! How an object Zendesk has is compared with the one `setup` wants: only the fields
//! `setup` manages count, and Zendesk's reordering and string-typed values are no
//! difference. Also the setup guide's check of "Notify requester" triggers. Pure.

use super::desired::VIA_API;
use serde_json::{json, Value};

/// A value as Zendesk answers it: numbers and booleans as strings, lists item by item.
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(canonical_value).collect()),
        Value::Null => Value::String(String::new()),
        other => other.clone(),
    }
}

/// A list of conditions or actions as a sorted list of canonical strings: Zendesk may
/// reorder them and answers values as strings, neither of which is a difference.
fn canonical_list(list: Option<&Value>, keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| {
            let parts: Vec<Value> = keys
                .iter()
                .map(|k| canonical_value(item.get(*k).unwrap_or(&Value::Null)))
                .collect();
            Value::Array(parts).to_string()
        })
        .collect();
    out.sort();
    out
}

/// Conditions of a rule, from `conditions.all|any` or the legacy top-level `all|any`.
fn conditions<'a>(rule: &'a Value, which: &str) -> Option<&'a Value> {
    rule.get("conditions")
        .and_then(|c| c.get(which))
        .or_else(|| rule.get(which))
}

/// Whether an existing trigger or automation differs from the wanted one in what
/// `setup` manages: title, active, conditions and actions (position, category and
/// description are left to the admin).
pub fn rule_differs(existing: &Value, desired: &Value) -> bool {
    let cond = ["field", "operator", "value"];
    let act = ["field", "value"];
    existing.get("title") != desired.get("title")
        || existing
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
            != desired
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        || canonical_list(conditions(existing, "all"), &cond)
            != canonical_list(conditions(desired, "all"), &cond)
        || canonical_list(conditions(existing, "any"), &cond)
            != canonical_list(conditions(desired, "any"), &cond)
        || canonical_list(existing.get("actions"), &act)
            != canonical_list(desired.get("actions"), &act)
}

/// Whether an existing webhook differs from the wanted one in a field `setup` sets.
pub fn webhook_differs(existing: &Value, desired: &Value) -> bool {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let subscriptions = |v: &Value| {
        let mut s: Vec<String> = v
            .get("subscriptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        s.sort();
        s
    };
    [
        "name",
        "status",
        "endpoint",
        "http_method",
        "request_format",
    ]
    .iter()
    .any(|k| text(existing, k) != text(desired, k))
        || subscriptions(existing) != subscriptions(desired)
}

/// Whether a trigger is one of the account's "Notify requester ..." triggers the setup
/// guide asks to restrict, and active.
pub fn is_active_notify_requester(trigger: &Value) -> bool {
    trigger
        .get("title")
        .and_then(Value::as_str)
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("notify requester"))
        && trigger
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
}

/// Whether a trigger has the guide's "Channel is not Web Service (API)" condition:
/// `{"field": "current_via_id", "operator": "is_not", "value": "5"}` in `all`.
pub fn has_not_api_condition(trigger: &Value) -> bool {
    conditions(trigger, "all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("field").and_then(Value::as_str) == Some("current_via_id")
                && c.get("operator").and_then(Value::as_str) == Some("is_not")
                && canonical_value(c.get("value").unwrap_or(&Value::Null)) == json!(VIA_API)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::setup::desired::{desired_trigger, desired_webhook};

    #[test]
    fn comparison_ignores_order_value_types_and_unmanaged_fields() {
        let desired = desired_trigger("x", "W", Some(7), "ai@x", 9000);
        let mut existing = desired.clone();
        existing["id"] = json!(12);
        existing["position"] = json!(40);
        existing["conditions"]["all"][0]["value"] = json!(7);
        existing["conditions"]["any"]
            .as_array_mut()
            .unwrap()
            .reverse();
        assert!(!rule_differs(&existing, &desired));
        existing["conditions"]["all"].as_array_mut().unwrap().pop();
        assert!(rule_differs(&existing, &desired));
        let mut inactive = desired.clone();
        inactive["active"] = json!(false);
        assert!(rule_differs(&inactive, &desired));
        let other_hook = desired_trigger("x", "W2", Some(7), "ai@x", 9000);
        assert!(rule_differs(&other_hook, &desired));

        let w = desired_webhook("x", "https://gw/notify/t");
        let mut seen = w.clone();
        seen["id"] = json!("01H");
        seen["created_at"] = json!("2024-01-01T00:00:00Z");
        assert!(!webhook_differs(&seen, &w));
        seen["endpoint"] = json!("https://old/notify/t");
        assert!(webhook_differs(&seen, &w));
    }

    #[test]
    fn notify_requester_check_finds_the_api_condition() {
        let with = json!({"title": "Notify requester and CCs of comment update", "active": true,
            "conditions": {"all": [{"field": "current_via_id", "operator": "is_not", "value": 5}]}});
        let without = json!({"title": "Notify requester and CCs of received request",
            "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Create"}]}});
        assert!(is_active_notify_requester(&with) && has_not_api_condition(&with));
        assert!(is_active_notify_requester(&without) && !has_not_api_condition(&without));
        assert!(!is_active_notify_requester(
            &json!({"title": "Notify requester", "active": false})
        ));
        assert!(!is_active_notify_requester(
            &json!({"title": "Notify retail of Ticket Change"})
        ));
    }
}
