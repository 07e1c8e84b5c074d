//! The account's ticket fields, ticket forms and business hours schedules
//! (`GET /api/v2/ticket_fields`, `/ticket_forms`, `/business_hours/schedules`), with the
//! shapes of Zendesk's reference pages (only the attributes the gateway and a careful
//! client read, plus the common ones).
//!
//! Assumed where the notes are silent: the field list holds the custom fields only
//! (a real account lists its system fields too, with `removable: false`; clients skip
//! them); a form without agent conditions has `agent_conditions: []`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::fmt_time;
use crate::config::{SimSchedule, SimTicketField, SimTicketForm};

/// Fields, forms and schedules of the account.
pub(crate) struct Catalog {
    pub(crate) fields: Vec<SimTicketField>,
    forms: Vec<SimTicketForm>,
    schedules: Vec<SimSchedule>,
    created_at: DateTime<Utc>,
}

impl Catalog {
    /// The catalog of a new account; fields whose ids are in `required_on_solve` are
    /// "required to solve".
    pub(crate) fn new(
        mut fields: Vec<SimTicketField>,
        forms: Vec<SimTicketForm>,
        schedules: Vec<SimSchedule>,
        required_on_solve: &[u64],
        created_at: DateTime<Utc>,
    ) -> Catalog {
        for f in &mut fields {
            f.required |= required_on_solve.contains(&f.id);
        }
        Catalog {
            fields,
            forms,
            schedules,
            created_at,
        }
    }

    /// The ids of fields required to solve.
    pub(crate) fn required_ids(&self) -> Vec<u64> {
        self.fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.id)
            .collect()
    }

    /// `GET /api/v2/ticket_fields`.
    pub(crate) fn list_fields(&self, base: &str) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({
                    "url": format!("{base}/api/v2/ticket_fields/{}.json", f.id),
                    "id": f.id,
                    "type": f.kind,
                    "title": f.title,
                    "raw_title": f.title,
                    "description": "",
                    "position": i + 1,
                    "active": true,
                    "required": f.required,
                    "collapsed_for_agents": false,
                    "regexp_for_validation": null,
                    "title_in_portal": f.title,
                    "visible_in_portal": false,
                    "editable_in_portal": false,
                    "required_in_portal": false,
                    "tag": null,
                    "removable": true,
                    "agent_description": null,
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                    "custom_field_options": f.options.iter().enumerate().map(|(j, (name, value))| json!({
                        "id": f.id * 100 + j as u64 + 1,
                        "name": name,
                        "raw_name": name,
                        "value": value,
                        "default": false,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let count = fields.len();
        json!({"ticket_fields": fields, "next_page": null, "previous_page": null, "count": count})
    }

    /// `GET /api/v2/ticket_forms`: the configured forms, or one default form with every
    /// field.
    pub(crate) fn list_forms(&self, base: &str) -> Value {
        let default = [SimTicketForm {
            id: 1,
            name: "Default Ticket Form".into(),
            field_ids: self.fields.iter().map(|f| f.id).collect(),
            agent_conditions: Vec::new(),
        }];
        let forms = if self.forms.is_empty() {
            &default[..]
        } else {
            &self.forms[..]
        };
        let forms: Vec<Value> = forms
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({
                    "url": format!("{base}/api/v2/ticket_forms/{}.json", f.id),
                    "id": f.id,
                    "name": f.name,
                    "raw_name": f.name,
                    "display_name": f.name,
                    "raw_display_name": f.name,
                    "position": i,
                    "active": true,
                    "end_user_visible": true,
                    "default": i == 0,
                    "in_all_brands": true,
                    "restricted_brand_ids": [],
                    "ticket_field_ids": f.field_ids,
                    "agent_conditions": f.agent_conditions,
                    "end_user_conditions": [],
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        let count = forms.len();
        json!({"ticket_forms": forms, "next_page": null, "previous_page": null, "count": count})
    }

    /// `GET /api/v2/business_hours/schedules`.
    pub(crate) fn list_schedules(&self) -> Value {
        let schedules: Vec<Value> = self
            .schedules
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "name": s.name,
                    "time_zone": s.time_zone,
                    "intervals": s.intervals.iter().map(|(a, b)| json!({"start_time": a, "end_time": b})).collect::<Vec<_>>(),
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        json!({ "schedules": schedules })
    }

    /// Replaces a schedule's intervals (tests move business hours around "now").
    pub(crate) fn set_schedule(&mut self, s: SimSchedule) {
        self.schedules.retain(|x| x.id != s.id);
        self.schedules.push(s);
        self.schedules.sort_by_key(|s| s.id);
    }
}
