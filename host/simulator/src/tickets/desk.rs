//! The records of the help desk ([`Desk`]: users, tickets, comments, id sequences) and
//! how the API shows a ticket. Changes live in the sibling modules.
//!
//! Everything here is synchronous and runs under the one state mutex, so a request
//! sees and makes a consistent change, as a single Zendesk database transaction would.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::{fmt_time, html_escape, now_secs, via, ApiError, TicketFacts};
use crate::config::{SimUser, SimulatorConfig};
use crate::model::{SimTicket, TicketState};

/// A user and when it was created.
pub(super) struct UserRec {
    pub(super) user: SimUser,
    pub(super) created_at: DateTime<Utc>,
}

/// A comment on a ticket (in Zendesk, a `Comment` audit event).
#[derive(Clone)]
pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) author_id: u64,
    pub(super) body: String,
    pub(super) public: bool,
    pub(super) channel: &'static str,
    pub(super) audit_id: u64,
    pub(super) created_at: DateTime<Utc>,
}

impl Comment {
    /// The comment as `GET /api/v2/tickets/{id}/comments` shows it.
    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "Comment",
            "author_id": self.author_id,
            "body": self.body,
            "html_body": format!(
                "<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">{}</p></div>",
                html_escape(&self.body)
            ),
            "plain_body": self.body,
            "public": self.public,
            "attachments": [],
            "audit_id": self.audit_id,
            "via": via(self.channel),
            "created_at": fmt_time(self.created_at),
            "metadata": {"system": {}, "custom": {}},
        })
    }
}

/// A ticket and its comments, oldest first.
pub(super) struct Ticket {
    pub(super) id: u64,
    pub(super) subject: String,
    pub(super) status: String,
    pub(super) priority: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) requester_id: u64,
    pub(super) submitter_id: u64,
    pub(super) assignee_id: Option<u64>,
    pub(super) group_id: Option<u64>,
    pub(super) brand_id: u64,
    pub(super) tags: Vec<String>,
    /// Set values by field id; fields listed in `required_on_solve` show as null
    /// when unset, as a real account lists every active field.
    pub(super) custom_fields: BTreeMap<u64, Value>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) comments: Vec<Comment>,
    /// The channel the ticket came in through (see `common::via_id`).
    pub(super) via_id: u32,
}

impl Ticket {
    /// The stamp for the next change: `updated_at` must strictly advance on every
    /// change, even twice within one second, because safe update compares it.
    pub(super) fn next_stamp(&self) -> DateTime<Utc> {
        let now = now_secs();
        if now <= self.updated_at {
            self.updated_at + chrono::Duration::seconds(1)
        } else {
            now
        }
    }
}

/// The help desk of the simulated account: the seat, users, tickets and comments.
pub(crate) struct Desk {
    pub(crate) seat: SimUser,
    pub(crate) api_token: String,
    pub(crate) admin: SimUser,
    pub(crate) admin_api_token: String,
    pub(super) users: BTreeMap<u64, UserRec>,
    pub(super) tickets: BTreeMap<u64, Ticket>,
    pub(super) seat_group_ids: Option<Vec<u64>>,
    pub(super) required_on_solve: Vec<u64>,
    /// Every custom field's id: a ticket lists each (null when unset).
    field_ids: Vec<u64>,
    pub(super) next_ticket_id: u64,
    /// Comments are audit events in Zendesk, so comment ids and event ids come
    /// from one global sequence (a comment's id is its event's id).
    next_event_id: u64,
    next_audit_id: u64,
}

impl Desk {
    /// The desk of a new account: the seat and the configured users, no tickets.
    pub(crate) fn new(config: &SimulatorConfig, created_at: DateTime<Utc>) -> Desk {
        let mut users = BTreeMap::new();
        let people = [&config.seat, &config.admin];
        for user in people.into_iter().chain(&config.users) {
            let user = user.clone();
            users.insert(user.id, UserRec { user, created_at });
        }
        Desk {
            seat: config.seat.clone(),
            api_token: config.api_token.clone(),
            admin: config.admin.clone(),
            admin_api_token: config.admin_api_token.clone(),
            users,
            tickets: BTreeMap::new(),
            seat_group_ids: config.seat_group_ids.clone(),
            required_on_solve: config.required_on_solve.clone(),
            field_ids: Vec::new(),
            next_ticket_id: 1,
            next_event_id: 10_001,
            next_audit_id: 50_001,
        }
    }

    /// The account's custom fields: `ids` are listed on every ticket, `required` must
    /// have a value to solve (besides `required_on_solve`).
    pub(crate) fn use_fields(&mut self, ids: Vec<u64>, required: Vec<u64>) {
        self.field_ids = ids;
        for id in required {
            if !self.required_on_solve.contains(&id) {
                self.required_on_solve.push(id);
            }
        }
    }

    /// The next id of the event sequence (comments and changes).
    pub(super) fn alloc_event(&mut self) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        id
    }

    /// The next audit id.
    pub(super) fn alloc_audit(&mut self) -> u64 {
        let id = self.next_audit_id;
        self.next_audit_id += 1;
        id
    }

    /// The first user other than the seat matching `pred`, in id order.
    pub(super) fn first_user_with(&self, pred: impl Fn(&SimUser) -> bool) -> Option<u64> {
        self.users
            .values()
            .map(|u| &u.user)
            .find(|u| u.id != self.seat.id && pred(u))
            .map(|u| u.id)
    }

    /// The role of a user (`end-user` when unknown).
    pub(super) fn role_of(&self, id: u64) -> String {
        self.users
            .get(&id)
            .map_or_else(|| "end-user".to_string(), |u| u.user.role.clone())
    }

    /// Whether a user is an agent or an admin.
    pub(super) fn is_agent(&self, id: u64) -> bool {
        self.users
            .get(&id)
            .is_some_and(|u| u.user.role == "agent" || u.user.role == "admin")
    }

    /// The ticket as trigger conditions see it now.
    pub(crate) fn facts(&self, id: u64) -> Option<TicketFacts> {
        let t = self.tickets.get(&id)?;
        Some(TicketFacts {
            id,
            subject: t.subject.clone(),
            status: t.status.clone(),
            brand_id: t.brand_id,
            assignee_id: t.assignee_id,
            group_id: t.group_id,
            requester_id: t.requester_id,
            tags: t.tags.clone(),
            is_public: t.comments.iter().any(|c| c.public),
            via_id: t.via_id,
        })
    }

    // ---- views ------------------------------------------------------------------

    /// Every ticket id, in order.
    pub(crate) fn ticket_ids(&self) -> Vec<u64> {
        self.tickets.keys().copied().collect()
    }

    /// The ticket as `GET /api/v2/tickets/{id}` shows it.
    pub(super) fn ticket_json(&self, t: &Ticket, base: &str) -> Value {
        let mut fields: BTreeMap<u64, Value> = self
            .required_on_solve
            .iter()
            .chain(&self.field_ids)
            .map(|id| (*id, Value::Null))
            .collect();
        fields.extend(t.custom_fields.iter().map(|(k, v)| (*k, v.clone())));
        let custom_fields: Vec<Value> = fields
            .into_iter()
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect();
        let description = t
            .comments
            .first()
            .map(|c| c.body.clone())
            .unwrap_or_default();
        json!({
            "url": format!("{base}/api/v2/tickets/{}.json", t.id),
            "id": t.id,
            "external_id": null,
            "via": via("web"),
            "created_at": fmt_time(t.created_at),
            "updated_at": fmt_time(t.updated_at),
            "generated_timestamp": t.updated_at.timestamp(),
            "type": t.kind,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": description,
            "priority": t.priority,
            "status": t.status,
            "requester_id": t.requester_id,
            "submitter_id": t.submitter_id,
            "assignee_id": t.assignee_id,
            "organization_id": null,
            "group_id": t.group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "problem_id": null,
            "has_incidents": false,
            "is_public": t.comments.iter().any(|c| c.public),
            "due_at": null,
            "tags": t.tags,
            "custom_fields": custom_fields,
            "fields": custom_fields,
            "sharing_agreement_ids": [],
            "followup_ids": [],
            "ticket_form_id": null,
            "brand_id": t.brand_id,
            "allow_channelback": false,
            "allow_attachments": true,
            "from_messaging_channel": false,
        })
    }

    /// The ticket's JSON and all its comments.
    pub(crate) fn ticket_state(&self, id: u64, base: &str) -> Option<TicketState> {
        let t = self.tickets.get(&id)?;
        Some(TicketState {
            ticket: self.ticket_json(t, base),
            comments: t.comments.iter().map(Comment::to_json).collect(),
        })
    }

    /// The ticket's id, stamps and JSON.
    pub(crate) fn sim_ticket(&self, id: u64, base: &str) -> Option<SimTicket> {
        let t = self.tickets.get(&id)?;
        Some(SimTicket {
            id,
            created_at: fmt_time(t.created_at),
            updated_at: fmt_time(t.updated_at),
            ticket: self.ticket_json(t, base),
        })
    }

    /// The ticket, if it exists and the seat may see it.
    pub(super) fn visible_ticket(&self, id: u64) -> Result<&Ticket, ApiError> {
        let t = self.tickets.get(&id).ok_or(ApiError::NotFound)?;
        if let (Some(groups), Some(group)) = (&self.seat_group_ids, t.group_id) {
            if !groups.contains(&group) {
                return Err(ApiError::Forbidden);
            }
        }
        Ok(t)
    }

    /// `GET /api/v2/tickets/{id}`.
    ///
    /// `include=comment_count` (one of Zendesk's ticket sideloads) adds the number of
    /// comments, public and private, to the ticket object. Assumed from Zendesk's
    /// "Tickets" reference, which lists `comment_count` among the sideloads.
    pub(crate) fn api_show_ticket(
        &self,
        id: u64,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let t = self.visible_ticket(id)?;
        let mut ticket = self.ticket_json(t, base);
        let sideloads = crate::common::query_param(query, "include").unwrap_or("");
        if sideloads.split(',').any(|s| s.trim() == "comment_count") {
            ticket["comment_count"] = json!(t.comments.len());
        }
        Ok(json!({"ticket": ticket}))
    }
}
