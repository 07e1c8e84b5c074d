//! Reading and checking trigger and automation bodies: which condition fields,
//! operators and actions the simulator accepts, and the rules Zendesk enforces on
//! automations.
//!
//! Shapes follow `shared/zendesk-api.md` ("Setting Zendesk up through its API") and
//! Zendesk's OpenAPI description (`TriggerObject`, `AutomationObject`).

use chrono::Utc;
use serde_json::{Map, Value};

use super::registry::{Rule, Rules};
use crate::common::{stored_value, value_text, ApiError};

/// Condition fields the simulator evaluates, with the operators each accepts. A trigger
/// naming anything else is refused (422), so a mistake in `setup` shows up in tests
/// instead of a trigger that silently never fires.
const CONDITIONS: &[(&str, &[&str])] = &[
    ("update_type", &["is", "is_not"]),
    ("brand_id", &["is", "is_not"]),
    ("comment_is_public", &["is", "is_not"]),
    ("current_via_id", &["is", "is_not"]),
    ("via_id", &["is", "is_not"]),
    ("recipient", &["is", "is_not"]),
    (
        "status",
        &["is", "is_not", "less_than", "greater_than", "changed"],
    ),
    ("ticket_is_public", &["is", "is_not"]),
    ("assignee_id", &["is", "is_not"]),
    ("group_id", &["is", "is_not"]),
    ("requester_id", &["is", "is_not"]),
    ("current_user", &["is", "is_not"]),
    ("role", &["is", "is_not"]),
    ("current_tags", &["includes", "not_includes"]),
];

/// Automation conditions: time-based ones (in hours) and the ticket fields above.
const TIME_CONDITIONS: &[&str] = &[
    "NEW",
    "OPEN",
    "PENDING",
    "HOLD",
    "SOLVED",
    "CLOSED",
    "assigned_at",
    "updated_at",
    "requester_updated_at",
    "assignee_updated_at",
    "due_date",
    "until_due_date",
];

/// Action fields accepted. Only `notification_webhook` has an effect here: the
/// simulator models what the gateway depends on (the call to its webhook); ticket
/// changes and emails by triggers are accepted and recorded in the rule, not applied.
const ACTIONS: &[&str] = &[
    "notification_webhook",
    "notification_user",
    "notification_group",
    "status",
    "priority",
    "type",
    "assignee_id",
    "group_id",
    "set_tags",
    "current_tags",
    "remove_tags",
    "comment_value",
    "comment_mode_is_public",
];

/// The title an operator has in the trigger editor.
fn operator_title(op: &str) -> &'static str {
    match op {
        "is" => "Is",
        "is_not" => "Is not",
        "less_than" => "Less than",
        "greater_than" => "Greater than",
        "changed" => "Changed",
        "includes" => "Contains at least one of the following",
        "not_includes" => "Contains none of the following",
        _ => "Other",
    }
}

/// The title a condition has in the trigger editor (for `triggers/definitions`).
fn condition_title(field: &str) -> &'static str {
    match field {
        "update_type" => "Ticket is",
        "brand_id" => "Brand",
        "comment_is_public" => "Comment is",
        "current_via_id" => "Update via",
        "via_id" => "Channel",
        "recipient" => "Received at",
        "status" => "Status",
        "ticket_is_public" => "Privacy",
        "assignee_id" => "Assignee",
        "group_id" => "Group",
        "requester_id" => "Requester",
        "current_user" => "Current user",
        "role" => "Current user role",
        "current_tags" => "Tags",
        _ => "Other",
    }
}

impl Rules {
    /// `GET /api/v2/triggers/definitions`: the conditions (with their operators) and
    /// the actions this account's triggers accept, in the shape of Zendesk's
    /// `TriggerDefinitionResponse`. Exactly what the simulator evaluates, so a
    /// condition `setup` means to write can be checked before it is written.
    pub(crate) fn definitions(&self) -> Value {
        let conditions: Vec<Value> = CONDITIONS
            .iter()
            .map(|(field, ops)| {
                let operators: Vec<Value> = ops
                    .iter()
                    .map(|op| {
                        serde_json::json!({
                            "value": op,
                            "title": operator_title(op),
                            "terminal": *op == "changed",
                        })
                    })
                    .collect();
                serde_json::json!({
                    "subject": field,
                    "title": condition_title(field),
                    "type": if *field == "current_tags" { "tags" } else { "list" },
                    "group": "ticket",
                    "nullable": matches!(*field, "assignee_id" | "group_id"),
                    "repeatable": false,
                    "operators": operators,
                })
            })
            .collect();
        let actions: Vec<Value> = ACTIONS
            .iter()
            .map(|field| {
                serde_json::json!({
                    "subject": field,
                    "title": field,
                    "type": "text",
                    "group": if field.starts_with("notification") { "notification" } else { "ticket" },
                    "nullable": false,
                    "repeatable": field.starts_with("notification"),
                })
            })
            .collect();
        serde_json::json!({"definitions": {
            "actions": actions,
            "conditions_all": conditions,
            "conditions_any": conditions,
        }})
    }

    /// Validates conditions; returns them as stored.
    fn conditions(
        list: Option<&Value>,
        key: &str,
        automation: bool,
        errors: &mut Vec<(String, String)>,
    ) -> Vec<Value> {
        let Some(list) = list.filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Some(items) = list.as_array() else {
            errors.push((key.into(), format!("{key} must be a list of conditions")));
            return Vec::new();
        };
        for c in items {
            let field = c.get("field").and_then(Value::as_str).unwrap_or_default();
            let operator = c
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if automation && TIME_CONDITIONS.contains(&field) {
                if !["is", "less_than", "greater_than"].contains(&operator) {
                    errors.push((
                        key.into(),
                        format!("{field}: operator {operator:?} is not valid for a time condition"),
                    ));
                }
                continue;
            }
            match CONDITIONS.iter().find(|(f, _)| *f == field) {
                None => errors.push((
                    key.into(),
                    format!(
                        "{field:?} is not a condition this simulator knows (see rules/validate.rs)"
                    ),
                )),
                Some((_, ops)) if !ops.contains(&operator) => errors.push((
                    key.into(),
                    format!("{field}: operator {operator:?} is not one of {ops:?}"),
                )),
                _ => {}
            }
        }
        items
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some(v) = c.get("value").cloned() {
                    c["value"] = stored_value(&v);
                }
                c
            })
            .collect()
    }

    fn actions(&self, list: Option<&Value>, errors: &mut Vec<(String, String)>) -> Vec<Value> {
        let items = match list.filter(|v| !v.is_null()) {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) | None => {
                errors.push(("actions".into(), "Actions: cannot be blank".into()));
                return Vec::new();
            }
            Some(_) => {
                errors.push(("actions".into(), "Actions: must be a list".into()));
                return Vec::new();
            }
        };
        for a in items {
            let field = a.get("field").and_then(Value::as_str).unwrap_or_default();
            if !ACTIONS.contains(&field) {
                errors.push((
                    "actions".into(),
                    format!(
                        "{field:?} is not an action this simulator knows (see rules/validate.rs)"
                    ),
                ));
                continue;
            }
            if field == "notification_webhook" {
                let parts = a.get("value").and_then(Value::as_array);
                let id = parts.and_then(|p| p.first()).and_then(Value::as_str);
                let body = parts.and_then(|p| p.get(1)).and_then(Value::as_str);
                match (id, body) {
                    (Some(id), Some(_)) if self.webhook_index(id).is_ok() => {}
                    (Some(id), Some(_)) => errors.push((
                        "actions".into(),
                        format!("notification_webhook: no webhook with id {id:?}"),
                    )),
                    _ => errors.push((
                        "actions".into(),
                        "notification_webhook: value must be [\"<webhook id>\", \"<body>\"]".into(),
                    )),
                }
            }
        }
        items
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(v) = a.get("value").cloned() {
                    a["value"] = stored_value(&v);
                }
                a
            })
            .collect()
    }

    /// Builds a rule from a create or update body (`{"trigger": ...}` or
    /// `{"automation": ...}`) on top of `current`.
    ///
    /// As the OAS notes for updates: sending conditions or actions replaces BOTH lists,
    /// so an update must carry all of them.
    pub(super) fn rule_fields(
        &self,
        body: Option<&Value>,
        key: &str,
        current: Option<&Rule>,
        automation: bool,
    ) -> Result<Rule, ApiError> {
        let obj = body
            .and_then(|b| b.get(key))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "ParameterMissing",
                    format!("param is missing or the value is empty: {key}"),
                )
            })?;
        let mut errors = Vec::new();
        let title = read_title(obj, current, &mut errors);
        let (all, any, actions) = self.read_lists(obj, current, automation, &mut errors);
        if automation && errors.is_empty() {
            automation_errors(&all, &actions, &mut errors);
        }
        let active = match obj.get("active") {
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(("active".into(), "Active: must be true or false".into()));
                true
            }
            None => current.is_none_or(|c| c.active),
        };
        let description = match obj.get("description") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => current.and_then(|c| c.description.clone()),
        };
        let category_id = match obj.get("category_id") {
            Some(Value::Null) => None,
            Some(v) => Some(value_text(v)),
            None => current.and_then(|c| c.category_id.clone()),
        };
        let position = match obj.get("position").and_then(Value::as_u64) {
            Some(p) => p,
            None => current.map_or(0, |c| c.position),
        };
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let now = Utc::now();
        Ok(Rule {
            id: current.map_or(0, |c| c.id),
            title,
            description,
            active,
            position,
            all,
            any,
            actions,
            category_id,
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
        })
    }

    /// The `all` and `any` conditions and the actions of a body, checked; the current
    /// rule's when the body names none of them.
    fn read_lists(
        &self,
        obj: &Map<String, Value>,
        current: Option<&Rule>,
        automation: bool,
        errors: &mut Vec<(String, String)>,
    ) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
        let conditions = obj.get("conditions").filter(|c| !c.is_null());
        // The deprecated top-level `all` / `any` still work.
        let all_src = conditions
            .and_then(|c| c.get("all"))
            .or_else(|| obj.get("all"));
        let any_src = conditions
            .and_then(|c| c.get("any"))
            .or_else(|| obj.get("any"));
        let rules_given = conditions.is_some()
            || obj.contains_key("all")
            || obj.contains_key("any")
            || obj.contains_key("actions");
        match (rules_given, current) {
            (false, Some(c)) => (c.all.clone(), c.any.clone(), c.actions.clone()),
            _ => (
                Self::conditions(all_src, "conditions.all", automation, errors),
                Self::conditions(any_src, "conditions.any", automation, errors),
                self.actions(obj.get("actions"), errors),
            ),
        }
    }
}

/// The title of a body, or the current rule's; blank is an error.
fn read_title(
    obj: &Map<String, Value>,
    current: Option<&Rule>,
    errors: &mut Vec<(String, String)>,
) -> String {
    match obj.get("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            errors.push(("title".into(), "Title: cannot be blank".into()));
            String::new()
        }
        None => match current {
            Some(c) => c.title.clone(),
            None => {
                errors.push(("title".into(), "Title: cannot be blank".into()));
                String::new()
            }
        },
    }
}

/// What Zendesk requires of an automation on top of valid conditions and actions.
fn automation_errors(all: &[Value], actions: &[Value], errors: &mut Vec<(String, String)>) {
    let fields: Vec<&str> = all
        .iter()
        .filter_map(|c| c.get("field").and_then(Value::as_str))
        .collect();
    if !fields.iter().any(|f| TIME_CONDITIONS.contains(f)) {
        errors.push((
            "base".into(),
            "Automations need at least one time-based condition in \"all\"".into(),
        ));
    }
    if !fields
        .iter()
        .any(|f| ["status", "type", "group_id", "assignee_id", "requester_id"].contains(f))
    {
        errors.push((
            "base".into(),
            "Automations need a condition on status, type, group_id, assignee_id or requester_id in \"all\"".into(),
        ));
    }
    // The action must undo one condition, or the automation fires every hour
    // forever; checked here as "an action sets a field a condition tests".
    let nullifies = actions.iter().any(|a| {
        a.get("field")
            .and_then(Value::as_str)
            .is_some_and(|f| fields.contains(&f))
    });
    if !nullifies {
        errors.push((
            "base".into(),
            "Automations need an action that nullifies one of their conditions".into(),
        ));
    }
}
