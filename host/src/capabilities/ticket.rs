//! The `ticket` import: the ticket, its conversation and the people on it, read lazily
//! through the run's [`ReadCache`](crate::zendesk::ReadCache). Capability scope is
//! structural: no import takes a ticket id, so a plugin only ever reads its own ticket.

use super::context::RunContext;
use super::grants;
use crate::bindings::zendesk_gateway::plugin::{ticket, types};
use crate::bindings::{FieldError, PluginError};
use crate::zendesk::{Comment, Seat, Ticket, User, ZendeskError, ZendeskErrorKind};

/// Maps Zendesk's errors onto the contract's typed errors.
pub fn to_plugin_error(e: ZendeskError) -> PluginError {
    let text = e.to_string();
    match e.kind {
        ZendeskErrorKind::NotFound => PluginError::NotFound(text),
        ZendeskErrorKind::Forbidden | ZendeskErrorKind::Unauthorized => {
            PluginError::Forbidden(text)
        }
        ZendeskErrorKind::Invalid => PluginError::Invalid(
            e.details
                .into_iter()
                .map(|(field, description)| FieldError { field, description })
                .collect(),
        ),
        ZendeskErrorKind::Conflict => PluginError::Conflict(text),
        ZendeskErrorKind::RateLimited => {
            PluginError::RateLimited(e.retry_after.map(|d| d.as_secs() as u32).unwrap_or(60))
        }
        ZendeskErrorKind::Unavailable | ZendeskErrorKind::Unexpected => {
            PluginError::Unavailable(text)
        }
    }
}

impl types::Host for RunContext {}

impl ticket::Host for RunContext {
    async fn get(&mut self) -> wasmtime::Result<Result<ticket::TicketInfo, PluginError>> {
        let c = self;
        match c
            .clock
            .clone()
            .wait(c.reads.ticket(&c.client, c.ticket_id))
            .await
        {
            Ok(t) => Ok(Ok(ticket_info(t))),
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn comments(&mut self) -> wasmtime::Result<Result<Vec<ticket::Comment>, PluginError>> {
        let c = self;
        match c
            .clock
            .clone()
            .wait(c.reads.comments(&c.client, c.ticket_id))
            .await
        {
            Ok(list) => Ok(Ok(list.iter().map(comment_info).collect())),
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn get_user(&mut self, id: u64) -> wasmtime::Result<Result<ticket::User, PluginError>> {
        let c = self;
        if id == c.seat.id {
            return Ok(Ok(seat_info(&c.seat)));
        }
        // Only the people on this ticket: requester, assignee, authors of comments.
        if let Err(e) = c
            .clock
            .clone()
            .wait(c.reads.ticket(&c.client, c.ticket_id))
            .await
        {
            return Ok(Err(c.zendesk_error(e)));
        }
        if let Err(e) = c
            .clock
            .clone()
            .wait(c.reads.comments(&c.client, c.ticket_id))
            .await
        {
            return Ok(Err(c.zendesk_error(e)));
        }
        let on_ticket = match (c.reads.ticket_if_read(), c.reads.comments_if_read()) {
            (Some(t), Some(list)) => grants::user_on_ticket(t, list, id),
            _ => false,
        };
        if !on_ticket {
            return c.refuse("user", grants::user_refused(id, c.ticket_id));
        }
        if let Some(u) = c.reads.user_if_read(id) {
            return Ok(Ok(user_info(u, id)));
        }
        match c.clock.clone().wait(c.client.user(id)).await {
            Ok(u) => {
                let info = user_info(&u, id);
                c.reads.remember_user(id, u);
                Ok(Ok(info))
            }
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn seat(&mut self) -> wasmtime::Result<ticket::User> {
        Ok(seat_info(&self.seat))
    }
}

fn ticket_info(t: &Ticket) -> ticket::TicketInfo {
    ticket::TicketInfo {
        id: t.id,
        subject: t.subject.clone().unwrap_or_default(),
        description: t.description.clone().unwrap_or_default(),
        status: t.status.clone(),
        priority: t.priority.clone(),
        ticket_type: t.ticket_type.clone(),
        requester_id: t.requester_id.unwrap_or(0),
        assignee_id: t.assignee_id,
        group_id: t.group_id,
        brand_id: t.brand_id,
        tags: t.tags.clone(),
        channel: t
            .via
            .as_ref()
            .and_then(|v| v.channel.clone())
            .unwrap_or_default(),
        created_at: t.created_at.clone().unwrap_or_default(),
        updated_at: t.updated_at.clone().unwrap_or_default(),
    }
}

fn comment_info(c: &Comment) -> ticket::Comment {
    ticket::Comment {
        id: c.id,
        author_id: c.author_id,
        body: c.text().to_string(),
        public: c.public,
        created_at: c.created_at.clone().unwrap_or_default(),
    }
}

fn user_info(u: &User, id: u64) -> ticket::User {
    ticket::User {
        id,
        name: u.name.clone(),
        email: u.email.clone(),
        role: u.role.clone(),
    }
}

fn seat_info(s: &Seat) -> ticket::User {
    ticket::User {
        id: s.id,
        name: s.name.clone(),
        email: Some(s.email.clone()),
        role: s.role.clone(),
    }
}
