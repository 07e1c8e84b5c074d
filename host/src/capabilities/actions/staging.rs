//! What a plugin asked for during a run, kept aside until the run ends, then turned into
//! the one Zendesk update that commits it. Listening Mode is applied here: the one place
//! that decides what may reach a customer.

use super::super::grants;
use crate::config::{DraftsIn, Limits, Mode};
use crate::zendesk::{CustomFieldValue, Ticket, TicketUpdate, TicketUpdateComment};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A change of assignee a plugin staged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeChange {
    /// Assign to the AI seat.
    Seat,
    /// Assign to an agent.
    Agent(u64),
    /// Assign to a group, agent left empty.
    Group(u64),
    /// Remove the assignee.
    Unassign,
}

/// A status a plugin may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StagedStatus {
    /// `open`
    Open,
    /// `pending`
    Pending,
    /// `solved`
    Solved,
}

impl StagedStatus {
    /// Zendesk's word for it.
    pub fn as_zendesk(self) -> &'static str {
        match self {
            StagedStatus::Open => "open",
            StagedStatus::Pending => "pending",
            StagedStatus::Solved => "solved",
        }
    }
}

/// Everything one run staged. Serialised into the audit trail as "what the plugin asked".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Staged {
    /// The public reply, if any.
    pub reply: Option<String>,
    /// Internal notes, in order.
    pub notes: Vec<String>,
    /// The last assignee change asked for.
    pub assignee: Option<AssigneeChange>,
    /// Tags to add.
    pub add_tags: BTreeSet<String>,
    /// Tags to remove.
    pub remove_tags: BTreeSet<String>,
    /// The last status asked for.
    pub status: Option<StagedStatus>,
    /// Custom field values by field id (the last one asked for each).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<u64, StagedField>,
}

/// A custom field value a plugin staged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagedField {
    /// The field's title, for the audit trail.
    pub name: String,
    /// The value as Zendesk stores it.
    pub value: serde_json::Value,
}

pub use super::super::grants::{Refused, HANDOFF_ERROR_TAG};

/// The update that hands a ticket to humans: an internal note saying why (cut to
/// `max_note_bytes`), the error tag, and the AI seat unassigned if it holds the ticket.
/// Safe update against the ticket as read; nothing the plugin staged is part of it.
/// Without a note (`None`) it is the minimal hand-off, for when Zendesk refused the note.
pub fn hand_off_update(
    ticket: &Ticket,
    seat_id: u64,
    note: Option<&str>,
    max_note_bytes: usize,
) -> TicketUpdate {
    let mut tags = ticket.tags.clone();
    if !tags.iter().any(|t| t == HANDOFF_ERROR_TAG) {
        tags.push(HANDOFF_ERROR_TAG.to_string());
    }
    let note = note.map(|n| {
        if n.len() <= max_note_bytes {
            n.to_string()
        } else {
            let cut = crate::text::truncate(n, max_note_bytes.saturating_sub(3));
            format!("{cut}...")
        }
    });
    TicketUpdate {
        comment: note.map(|body| TicketUpdateComment {
            body,
            public: false,
        }),
        assignee_id: (ticket.assignee_id == Some(seat_id)).then_some(None),
        tags: Some(tags),
        safe_update: Some(true),
        updated_stamp: ticket.updated_at.clone(),
        ..Default::default()
    }
}

/// Marks the note that holds a listening-mode draft, so the seat's own drafts are
/// recognisable in the conversation.
pub const DRAFT_HEADER: &str = "[AI draft - Listening Mode, not sent to the customer]";

impl Staged {
    /// Stages a public reply.
    pub fn reply(&mut self, body: String, limits: &Limits) -> Result<(), Refused> {
        if self.reply.is_some() {
            return Err(Refused("a run sends at most one public reply".into()));
        }
        if !self.notes.is_empty() {
            return Err(Refused(
                "this run already wrote an internal note; one update carries one comment, so a run replies or notes, not both"
                    .into(),
            ));
        }
        let body = grants::text("reply", body, limits.max_reply_bytes)?;
        self.reply = Some(body);
        Ok(())
    }

    /// Stages an internal note.
    pub fn note(&mut self, body: String, limits: &Limits) -> Result<(), Refused> {
        if self.reply.is_some() {
            return Err(Refused(
                "this run already replied; one update carries one comment, so a run replies or notes, not both"
                    .into(),
            ));
        }
        let used: usize = self.notes.iter().map(|n| n.len()).sum();
        let body = grants::text("note", body, limits.max_note_bytes.saturating_sub(used))?;
        self.notes.push(body);
        Ok(())
    }

    /// Stages tags to add; normalised as Zendesk does (lower case, spaces to `_`).
    pub fn add_tags(&mut self, tags: Vec<String>, limits: &Limits) -> Result<(), Refused> {
        let tags = grants::tags(tags)?;
        if self.add_tags.len() + tags.len() > limits.max_tags {
            return Err(Refused(format!(
                "a run may add at most {} tags",
                limits.max_tags
            )));
        }
        for t in tags {
            self.remove_tags.remove(&t);
            self.add_tags.insert(t);
        }
        Ok(())
    }

    /// Stages tags to remove.
    pub fn remove_tags(&mut self, tags: Vec<String>, limits: &Limits) -> Result<(), Refused> {
        let tags = grants::tags(tags)?;
        if self.remove_tags.len() + tags.len() > limits.max_tags {
            return Err(Refused(format!(
                "a run may remove at most {} tags",
                limits.max_tags
            )));
        }
        for t in tags {
            self.add_tags.remove(&t);
            self.remove_tags.insert(t);
        }
        Ok(())
    }

    /// Stages a custom field's value (already checked against the field).
    pub fn set_field(&mut self, id: u64, name: &str, value: serde_json::Value) {
        self.fields.insert(
            id,
            StagedField {
                name: name.to_string(),
                value,
            },
        );
    }

    /// True when nothing was staged.
    pub fn is_empty(&self) -> bool {
        *self == Staged::default()
    }

    /// The one update that commits this run, given the ticket as it was read.
    ///
    /// In Listening Mode nothing customer-visible is sent: the reply becomes an internal
    /// draft note and a status change is only described in it. Tags and assignment stay:
    /// they are invisible to the requester, and so are custom fields. A solve fills the
    /// fields of `on_solve` (field id, value) that are still empty, so Zendesk's
    /// "required to solve" does not refuse it.
    pub fn to_update(
        &self,
        ticket: &Ticket,
        seat_id: u64,
        mode: Mode,
        drafts: DraftsIn,
        on_solve: &[(u64, serde_json::Value)],
    ) -> TicketUpdate {
        let mut update = TicketUpdate {
            safe_update: Some(true),
            updated_stamp: ticket.updated_at.clone(),
            ..Default::default()
        };
        match mode {
            Mode::Live => {
                if let Some(reply) = &self.reply {
                    update.comment = Some(TicketUpdateComment {
                        body: reply.clone(),
                        public: true,
                    });
                } else if !self.notes.is_empty() {
                    update.comment = Some(TicketUpdateComment {
                        body: self.notes.join("\n\n"),
                        public: false,
                    });
                }
                update.status = self.status.map(|s| s.as_zendesk().to_string());
            }
            Mode::Listening => {
                let mut draft = Vec::new();
                if let Some(reply) = &self.reply {
                    draft.push(format!("Reply the AI would have sent:\n\n{reply}"));
                }
                if let Some(status) = self.status {
                    draft.push(format!(
                        "Status the AI would have set: {}",
                        status.as_zendesk()
                    ));
                }
                let mut parts = Vec::new();
                if !draft.is_empty() && drafts == DraftsIn::Note {
                    parts.push(format!("{DRAFT_HEADER}\n\n{}", draft.join("\n\n")));
                }
                parts.extend(self.notes.iter().cloned());
                if !parts.is_empty() {
                    update.comment = Some(TicketUpdateComment {
                        body: parts.join("\n\n"),
                        public: false,
                    });
                }
            }
        }
        match &self.assignee {
            Some(AssigneeChange::Seat) => update.assignee_id = Some(Some(seat_id)),
            Some(AssigneeChange::Agent(id)) => update.assignee_id = Some(Some(*id)),
            Some(AssigneeChange::Group(g)) => {
                update.group_id = Some(*g);
                update.assignee_id = Some(None);
            }
            // Only when someone holds it: an update that changes nothing is skipped.
            Some(AssigneeChange::Unassign) if ticket.assignee_id.is_some() => {
                update.assignee_id = Some(None);
            }
            Some(AssigneeChange::Unassign) => {}
            None => {}
        }
        if !self.add_tags.is_empty() || !self.remove_tags.is_empty() {
            // Zendesk's `tags` replaces the whole list, so the new list is computed from
            // the one read; safe update guarantees nobody changed it since.
            let mut tags: Vec<String> = ticket
                .tags
                .iter()
                .filter(|t| !self.remove_tags.contains(*t))
                .cloned()
                .collect();
            for t in &self.add_tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            if tags != ticket.tags {
                update.tags = Some(tags);
            }
        }
        let mut fields: BTreeMap<u64, serde_json::Value> = self
            .fields
            .iter()
            .map(|(id, f)| (*id, f.value.clone()))
            .collect();
        if update.status.as_deref() == Some("solved") {
            for (id, value) in on_solve {
                let current = ticket
                    .custom_fields
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| &c.value);
                let empty = current.is_none_or(crate::capabilities::fields::is_empty);
                if empty && !fields.contains_key(id) {
                    fields.insert(*id, value.clone());
                }
            }
        }
        // Only what differs from the ticket as read: an update that changes nothing is
        // skipped.
        fields.retain(|id, v| {
            ticket
                .custom_fields
                .iter()
                .find(|c| c.id == *id)
                .is_none_or(|c| &c.value != v)
        });
        if !fields.is_empty() {
            update.custom_fields = Some(
                fields
                    .into_iter()
                    .map(|(id, value)| CustomFieldValue { id, value })
                    .collect(),
            );
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(tags: &[&str], assignee: Option<u64>) -> Ticket {
        serde_json::from_value(serde_json::json!({
            "id": 7, "status": "open", "tags": tags, "assignee_id": assignee,
            "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn live_update_carries_everything_once() {
        let l = Limits::default();
        let mut s = Staged::default();
        s.reply("Hello".into(), &l).unwrap();
        s.add_tags(vec!["Billing Issue".into()], &l).unwrap();
        s.remove_tags(vec!["old".into()], &l).unwrap();
        s.status = Some(StagedStatus::Solved);
        s.assignee = Some(AssigneeChange::Unassign);
        let u = s.to_update(
            &ticket(&["old", "keep"], Some(9000)),
            9000,
            Mode::Live,
            DraftsIn::Note,
            &[],
        );
        assert!(u.comment.as_ref().unwrap().public);
        assert_eq!(u.tags, Some(vec!["keep".into(), "billing_issue".into()]));
        assert_eq!(u.status.as_deref(), Some("solved"));
        assert_eq!(u.assignee_id, Some(None));
        assert_eq!(u.safe_update, Some(true));
        assert_eq!(u.updated_stamp.as_deref(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn listening_mode_sends_nothing_customer_visible() {
        let l = Limits::default();
        let mut s = Staged::default();
        s.reply("Hello".into(), &l).unwrap();
        s.status = Some(StagedStatus::Solved);
        let u = s.to_update(&ticket(&[], None), 1, Mode::Listening, DraftsIn::Note, &[]);
        let c = u.comment.unwrap();
        assert!(!c.public);
        assert!(c.body.starts_with(DRAFT_HEADER) && c.body.contains("Hello"));
        assert!(u.status.is_none());
    }

    #[test]
    fn one_comment_per_run_and_limits() {
        let l = Limits {
            max_reply_bytes: 10,
            max_tags: 2,
            ..Limits::default()
        };
        let mut s = Staged::default();
        assert!(s.reply("x".repeat(11), &l).is_err());
        s.reply("short".into(), &l).unwrap();
        assert!(s.note("n".into(), &l).is_err());
        assert!(s.reply("again".into(), &l).is_err());
        assert!(s
            .add_tags(vec!["a".into(), "b".into(), "c".into()], &l)
            .is_err());
        assert!(s.add_tags(vec!["bad,tag".into()], &l).is_err());
    }

    #[test]
    fn hand_off_tags_once_and_unassigns_only_the_seat() {
        let u = hand_off_update(
            &ticket(&["x", HANDOFF_ERROR_TAG], Some(1)),
            1,
            Some("why"),
            100,
        );
        assert_eq!(u.tags, Some(vec!["x".into(), HANDOFF_ERROR_TAG.into()]));
        assert_eq!(u.assignee_id, Some(None));
        assert!(!u.comment.unwrap().public);
        let u = hand_off_update(&ticket(&[], Some(9)), 1, Some("why"), 100);
        assert_eq!(u.assignee_id, None);
        let long = "x".repeat(1000);
        let u = hand_off_update(&ticket(&[], None), 1, Some(&long), 100);
        assert!(u.comment.unwrap().body.len() <= 100);
        let u = hand_off_update(&ticket(&[], Some(1)), 1, None, 100);
        assert!(u.comment.is_none() && u.tags.is_some());
    }

    #[test]
    fn a_solve_fills_empty_required_fields_with_the_defaults_once() {
        let reason = 360001u64;
        let mut t = ticket(&[], None);
        t.custom_fields = vec![CustomFieldValue {
            id: reason,
            value: serde_json::Value::Null,
        }];
        let defaults = [(reason, serde_json::json!("answered_by_ai"))];
        let mut s = Staged {
            status: Some(StagedStatus::Solved),
            ..Default::default()
        };
        let u = s.to_update(&t, 1, Mode::Live, DraftsIn::Note, &defaults);
        assert_eq!(
            u.custom_fields,
            Some(vec![CustomFieldValue {
                id: reason,
                value: serde_json::json!("answered_by_ai")
            }])
        );
        // The plugin's own value wins over the default.
        s.set_field(reason, "Reason for contact", serde_json::json!("billing"));
        let u = s.to_update(&t, 1, Mode::Live, DraftsIn::Note, &defaults);
        assert_eq!(u.custom_fields.unwrap()[0].value, "billing");
        // No solve, no default; listening mode solves nothing.
        let open = Staged {
            status: Some(StagedStatus::Open),
            ..Default::default()
        };
        assert!(open
            .to_update(&t, 1, Mode::Live, DraftsIn::Note, &defaults)
            .custom_fields
            .is_none());
        assert!(Staged {
            status: Some(StagedStatus::Solved),
            ..Default::default()
        }
        .to_update(&t, 1, Mode::Listening, DraftsIn::Note, &defaults)
        .custom_fields
        .is_none());
    }

    #[test]
    fn unassign_leaves_an_unassigned_ticket_alone() {
        let s = Staged {
            assignee: Some(AssigneeChange::Unassign),
            ..Default::default()
        };
        let u = s.to_update(&ticket(&[], None), 1, Mode::Live, DraftsIn::Note, &[]);
        assert!(u.is_empty());
    }
}
