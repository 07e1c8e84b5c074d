//! The triggers and automations APIs (`/api/v2/triggers`, `/api/v2/automations`):
//! list, show, create, update, and the triggers a new account is seeded with.

use serde_json::{json, Value};

use super::registry::{Rule, Rules};
use crate::common::{offset_page, query_param, ApiError};

/// The rules the `active=true|false` query parameter asks for (all without it), in
/// the order Zendesk runs them: by position, then id.
fn active_in_order<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    query: &[(String, String)],
) -> Vec<&'r Rule> {
    let active = query_param(query, "active").map(|v| v == "true");
    let mut rules: Vec<&Rule> = rules
        .filter(|r| active.is_none_or(|a| r.active == a))
        .collect();
    rules.sort_by_key(|r| (r.position, r.id));
    rules
}

impl Rules {
    /// `GET /api/v2/triggers` (offset paging; `active=true|false` filters), ordered by
    /// position as Zendesk runs them.
    ///
    /// `include=usage_1h,usage_24h,usage_7d,usage_30d` (Zendesk's usage sideloads, on
    /// Professional plans and above) adds to each trigger, as a field of that name, how
    /// many times it fired in that last stretch of time. Zendesk's reference lists the
    /// sideloads but shows no example answer; the field-per-sideload shape is as recorded
    /// answers of the same sideloads on macros show it.
    pub(crate) fn list_triggers(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let rules = active_in_order(self.triggers.values(), query);
        let include = query_param(query, "include").unwrap_or("");
        let windows: Vec<(&str, chrono::Duration)> = [
            ("usage_1h", chrono::Duration::hours(1)),
            ("usage_24h", chrono::Duration::hours(24)),
            ("usage_7d", chrono::Duration::days(7)),
            ("usage_30d", chrono::Duration::days(30)),
        ]
        .into_iter()
        .filter(|(name, _)| include.split(',').any(|s| s.trim() == *name))
        .collect();
        let now = chrono::Utc::now();
        let list = rules
            .iter()
            .map(|r| {
                let mut v = r.trigger_json(base);
                let times = self.firings.get(&r.id);
                for (name, span) in &windows {
                    let n = times.map_or(0, |t| t.iter().filter(|t| now - **t <= *span).count());
                    v[*name] = json!(n);
                }
                v
            })
            .collect();
        offset_page(
            list,
            "triggers",
            query,
            &format!("{base}/api/v2/triggers.json"),
        )
    }

    /// `GET /api/v2/triggers/{id}`.
    pub(crate) fn show_trigger(&self, id: u64, base: &str) -> Result<Value, ApiError> {
        let r = self.triggers.get(&id).ok_or(ApiError::NotFound)?;
        Ok(json!({"trigger": r.trigger_json(base)}))
    }

    /// `POST /api/v2/triggers` -> 201. A new trigger goes last.
    pub(crate) fn create_trigger(
        &mut self,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let mut rule = self.rule_fields(body, "trigger", None, false)?;
        rule.id = self.alloc_rule_id();
        if rule.position == 0 {
            rule.position = self
                .triggers
                .values()
                .map(|r| r.position)
                .max()
                .unwrap_or(0)
                + 1;
        }
        let v = rule.trigger_json(base);
        self.triggers.insert(rule.id, rule);
        Ok(json!({"trigger": v}))
    }

    /// `PUT /api/v2/triggers/{id}`.
    pub(crate) fn update_trigger(
        &mut self,
        id: u64,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let current = self.triggers.get(&id).ok_or(ApiError::NotFound)?;
        let rule = self.rule_fields(body, "trigger", Some(current), false)?;
        let v = rule.trigger_json(base);
        self.triggers.insert(id, rule);
        Ok(json!({"trigger": v}))
    }

    /// `GET /api/v2/automations` (offset paging, `active` filter).
    pub(crate) fn list_automations(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let rules = active_in_order(self.automations.values(), query);
        let list = rules.iter().map(|r| r.automation_json()).collect();
        offset_page(
            list,
            "automations",
            query,
            &format!("{base}/api/v2/automations.json"),
        )
    }

    /// `POST /api/v2/automations` -> 201.
    pub(crate) fn create_automation(&mut self, body: Option<&Value>) -> Result<Value, ApiError> {
        let mut rule = self.rule_fields(body, "automation", None, true)?;
        rule.id = self.alloc_rule_id();
        if rule.position == 0 {
            rule.position = self
                .automations
                .values()
                .map(|r| r.position)
                .max()
                .unwrap_or(0)
                + 1;
        }
        let v = rule.automation_json();
        self.automations.insert(rule.id, rule);
        Ok(json!({"automation": v}))
    }

    /// `PUT /api/v2/automations/{id}`.
    pub(crate) fn update_automation(
        &mut self,
        id: u64,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let current = self.automations.get(&id).ok_or(ApiError::NotFound)?;
        let rule = self.rule_fields(body, "automation", Some(current), true)?;
        let v = rule.automation_json();
        self.automations.insert(id, rule);
        Ok(json!({"automation": v}))
    }

    /// Seeds a trigger from its create body (the simulator config's `triggers`).
    pub(crate) fn seed_trigger(&mut self, trigger: &Value) -> Result<(), String> {
        let body = json!({ "trigger": trigger });
        self.create_trigger(Some(&body), "")
            .map(|_| ())
            .map_err(|e| format!("seeded trigger {trigger} is invalid: {e:?}"))
    }

    /// Every trigger as the API shows it, in position order.
    pub(crate) fn triggers_json(&self, base: &str) -> Vec<Value> {
        let mut rules: Vec<&Rule> = self.triggers.values().collect();
        rules.sort_by_key(|r| (r.position, r.id));
        rules.iter().map(|r| r.trigger_json(base)).collect()
    }

    /// Every automation as the API shows it.
    pub(crate) fn automations_json(&self) -> Vec<Value> {
        self.automations
            .values()
            .map(Rule::automation_json)
            .collect()
    }
}
