//! Changes made outside the API, as the customer and the human agents make them: a
//! ticket opened, a comment written, an agent's edit in the Zendesk UI. Each returns
//! the update triggers must see.

use crate::common::{now_secs, via_id, UpdateEvent, STATUSES};
use crate::config::DEFAULT_BRAND_ID;
use crate::model::{AgentEdit, CustomField, NewComment, NewTicket};

use super::desk::{Comment, Desk, Ticket};
use super::tags::push_unique;

impl Desk {
    /// Opens a ticket as its requester would; the body is its first, public comment.
    pub(crate) fn create_ticket(&mut self, t: NewTicket) -> (u64, UpdateEvent) {
        let requester_id = if t.requester_id == 0 {
            self.first_user_with(|u| u.role == "end-user")
                .unwrap_or(self.seat.id)
        } else {
            t.requester_id
        };
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        let stamp = now_secs();
        let audit_id = self.alloc_audit();
        let comment = Comment {
            id: self.alloc_event(),
            author_id: requester_id,
            body: t.body,
            public: true,
            channel: "web",
            audit_id,
            created_at: stamp,
        };
        let mut tags = Vec::new();
        for tag in &t.tags {
            push_unique(&mut tags, tag);
        }
        // Zendesk moves a ticket out of `new` as soon as it has an assignee.
        let status = if t.assignee_id.is_some() {
            "open"
        } else {
            "new"
        };
        self.tickets.insert(
            id,
            Ticket {
                id,
                subject: t.subject,
                status: status.to_string(),
                priority: t.priority,
                kind: None,
                requester_id,
                submitter_id: requester_id,
                assignee_id: t.assignee_id,
                group_id: t.group_id,
                brand_id: t.brand_id.unwrap_or(DEFAULT_BRAND_ID),
                tags,
                custom_fields: t
                    .custom_fields
                    .into_iter()
                    .map(|f| (f.id, f.value))
                    .collect(),
                created_at: stamp,
                updated_at: stamp,
                comments: vec![comment],
                via_id: via_id::WEB,
            },
        );
        let event = UpdateEvent {
            create: true,
            via_id: via_id::WEB,
            actor: requester_id,
            actor_role: self.role_of(requester_id),
            comment_public: Some(true),
            previous_status: None,
        };
        (id, event)
    }

    /// Adds a comment by a customer or an agent; a requester's reply reopens a
    /// pending or solved ticket.
    pub(crate) fn add_comment(
        &mut self,
        ticket_id: u64,
        c: NewComment,
    ) -> anyhow::Result<UpdateEvent> {
        let t = self
            .tickets
            .get(&ticket_id)
            .ok_or_else(|| anyhow::anyhow!("no ticket {ticket_id}"))?;
        anyhow::ensure!(
            t.status != "closed",
            "ticket {ticket_id} is closed and cannot take comments"
        );
        let author_id = if c.author_id == 0 {
            t.requester_id
        } else {
            c.author_id
        };
        anyhow::ensure!(self.users.contains_key(&author_id), "no user {author_id}");
        let is_requester = author_id == t.requester_id;
        let author_is_agent = self.is_agent(author_id);
        let previous_status = t.status.clone();
        let public = c.public;
        let audit_id = self.alloc_audit();
        let id = self.alloc_event();
        let t = self.tickets.get_mut(&ticket_id).expect("checked above");
        let stamp = t.next_stamp();
        t.comments.push(Comment {
            id,
            author_id,
            body: c.body,
            public: c.public,
            channel: if author_is_agent { "web" } else { "email" },
            audit_id,
            created_at: stamp,
        });
        t.updated_at = stamp;
        // A requester's reply reopens a pending or solved ticket, as Zendesk does.
        if is_requester && !author_is_agent && (t.status == "pending" || t.status == "solved") {
            t.status = "open".to_string();
        }
        Ok(UpdateEvent {
            create: false,
            via_id: if author_is_agent {
                via_id::WEB
            } else {
                via_id::EMAIL
            },
            actor: author_id,
            actor_role: self.role_of(author_id),
            comment_public: Some(public),
            previous_status: Some(previous_status),
        })
    }

    /// Who makes an edit: its author, or the first human agent configured.
    pub(crate) fn edit_author(&self, edit: &AgentEdit) -> u64 {
        if edit.author_id == 0 {
            self.first_user_with(|u| u.role == "agent" || u.role == "admin")
                .unwrap_or(self.seat.id)
        } else {
            edit.author_id
        }
    }

    /// A human agent's edit in the Zendesk UI; always advances `updated_at`.
    pub(crate) fn agent_edit(&mut self, id: u64, edit: AgentEdit) -> anyhow::Result<UpdateEvent> {
        let t = self
            .tickets
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no ticket {id}"))?;
        anyhow::ensure!(t.status != "closed", "ticket {id} is closed");
        if let Some(status) = &edit.status {
            anyhow::ensure!(
                STATUSES.contains(&status.as_str()),
                "unknown status {status}"
            );
        }
        let author_id = self.edit_author(&edit);
        let audit_id = self.alloc_audit();
        let comment_id = edit.comment.as_ref().map(|_| self.alloc_event());
        let comment_public = edit.comment.as_ref().map(|c| c.public);
        let actor_role = self.role_of(author_id);
        let t = self.tickets.get_mut(&id).expect("checked above");
        let previous_status = t.status.clone();
        let stamp = t.next_stamp();
        if let Some(status) = edit.status {
            t.status = status;
        }
        if let Some(a) = edit.assignee_id {
            t.assignee_id = a;
        }
        if let Some(g) = edit.group_id {
            t.group_id = g;
        }
        if let Some(p) = edit.priority {
            t.priority = p;
        }
        if let Some(tags) = edit.tags {
            t.tags.clear();
            for tag in &tags {
                push_unique(&mut t.tags, tag);
            }
        }
        for CustomField { id, value } in edit.custom_fields.unwrap_or_default() {
            t.custom_fields.insert(id, value);
        }
        if let (Some(c), Some(cid)) = (edit.comment, comment_id) {
            t.comments.push(Comment {
                id: cid,
                author_id,
                body: c.body,
                public: c.public,
                channel: "web",
                audit_id,
                created_at: stamp,
            });
        }
        t.updated_at = stamp;
        Ok(UpdateEvent {
            create: false,
            via_id: via_id::WEB,
            actor: author_id,
            actor_role,
            comment_public,
            previous_status: Some(previous_status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimulatorConfig;

    #[test]
    fn stamp_strictly_advances_within_a_second() {
        let mut desk = Desk::new(&SimulatorConfig::default(), now_secs());
        let (id, _) = desk.create_ticket(NewTicket {
            subject: "s".into(),
            body: "b".into(),
            ..Default::default()
        });
        let first = desk.tickets[&id].updated_at;
        desk.add_comment(id, NewComment::public(0, "again"))
            .unwrap();
        desk.add_comment(id, NewComment::public(0, "and again"))
            .unwrap();
        let third = desk.tickets[&id].updated_at;
        assert!(third >= first + chrono::Duration::seconds(2));
    }
}
