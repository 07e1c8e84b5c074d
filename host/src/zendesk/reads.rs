//! What one run has read from Zendesk, and the AI seat it acts as: shared by the host's
//! own guards, the plugin's reads and `replay`, so that each thing is fetched at most once.

use super::{Comment, Ticket, User, ZendeskClient, ZendeskError};
use std::collections::HashMap;

/// The AI seat of an environment, as `users/me` reported it at start-up.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Zendesk user id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Login email.
    pub email: String,
    /// `agent` or `admin`.
    pub role: String,
}

/// What has been read from Zendesk for one ticket, shared by the host's own checks and
/// the plugin, so that each thing is fetched at most once per run.
#[derive(Debug, Default, Clone)]
pub struct ReadCache {
    ticket: Option<Ticket>,
    comments: Option<Vec<Comment>>,
    users: HashMap<u64, User>,
}

impl ReadCache {
    /// The ticket, fetched on first use.
    pub async fn ticket(
        &mut self,
        client: &ZendeskClient,
        id: u64,
    ) -> Result<&Ticket, ZendeskError> {
        if self.ticket.is_none() {
            self.ticket = Some(client.ticket(id).await?);
        }
        Ok(self.ticket.as_ref().expect("just filled"))
    }

    /// The conversation, fetched on first use together with its authors (Zendesk
    /// sideloads them), so reading who said what costs no extra request.
    pub async fn comments(
        &mut self,
        client: &ZendeskClient,
        id: u64,
    ) -> Result<&[Comment], ZendeskError> {
        if self.comments.is_none() {
            let (comments, users) = client.comments_with_users(id).await?;
            for u in users {
                if let Some(uid) = u.id {
                    self.users.entry(uid).or_insert(u);
                }
            }
            self.comments = Some(comments);
        }
        Ok(self.comments.as_deref().expect("just filled"))
    }

    /// A cache holding a whole ticket already, so a run reads nothing from Zendesk:
    /// for replaying a saved ticket (a fixture) offline.
    pub fn prefilled(ticket: Ticket, comments: Vec<Comment>, users: Vec<User>) -> ReadCache {
        ReadCache {
            ticket: Some(ticket),
            comments: Some(comments),
            users: users
                .into_iter()
                .filter_map(|u| u.id.map(|id| (id, u)))
                .collect(),
        }
    }

    /// The conversation if it was read in this run.
    pub fn comments_if_read(&self) -> Option<&[Comment]> {
        self.comments.as_deref()
    }

    /// A user if it was read (or sideloaded with the comments) in this run.
    pub fn user_if_read(&self, id: u64) -> Option<&User> {
        self.users.get(&id)
    }

    /// Forgets the conversation read so far, so the next use reads it again.
    pub fn forget_comments(&mut self) {
        self.comments = None;
    }

    /// Keeps a user read during the run.
    pub fn remember_user(&mut self, id: u64, user: User) {
        self.users.insert(id, user);
    }

    /// The ticket if it was read in this run.
    pub fn ticket_if_read(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }
}
