//! The changes a plugin decided on, as plain data.
//!
//! Writing the decision into a [`Plan`] first and staging it in one go keeps the
//! decision logic free of host calls, so it can be unit-tested natively, and makes the
//! contract's rules hard to break by accident: a plan carries at most one comment, a
//! public reply or an internal note, because a run commits in one Zendesk update and an
//! update carries one comment.

use crate::actions::{self, Status};
use crate::types::Error;

/// The one comment a run may add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A public reply to the requester.
    Reply(String),
    /// An internal note for the agents.
    Note(String),
}

/// Changes to stage on the ticket; see the [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The comment to add, if any.
    pub message: Option<Message>,
    /// Tags to add, in the order they were decided.
    pub tags: Vec<String>,
    /// The new status, if it changes.
    pub status: Option<Status>,
    /// Whether to remove the assignee so that a human picks the ticket up.
    pub unassign: bool,
}

impl Plan {
    /// An empty plan: no change at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replies publicly with `body`, replacing any comment decided before.
    pub fn reply(mut self, body: impl Into<String>) -> Self {
        self.message = Some(Message::Reply(body.into()));
        self
    }

    /// Adds an internal note with `body`, replacing any comment decided before.
    pub fn note(mut self, body: impl Into<String>) -> Self {
        self.message = Some(Message::Note(body.into()));
        self
    }

    /// Adds one tag, unless the plan already has it.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// Adds several tags (see [`Self::tag`]).
    pub fn tags<T: Into<String>>(self, tags: impl IntoIterator<Item = T>) -> Self {
        tags.into_iter().fold(self, Self::tag)
    }

    /// Sets the status.
    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Removes the assignee.
    pub fn unassign(mut self) -> Self {
        self.unassign = true;
        self
    }

    /// The public reply's text, if the plan replies.
    pub fn reply_text(&self) -> Option<&str> {
        match &self.message {
            Some(Message::Reply(body)) => Some(body),
            _ => None,
        }
    }

    /// The internal note's text, if the plan writes one.
    pub fn note_text(&self) -> Option<&str> {
        match &self.message {
            Some(Message::Note(body)) => Some(body),
            _ => None,
        }
    }

    /// Stages every change with the host: tags, status, the comment, then the unassign.
    ///
    /// # Errors
    ///
    /// The first refusal by the host; staging stops there. The handler should then
    /// return an error, so that nothing half-staged is committed.
    pub fn stage(&self) -> Result<(), Error> {
        if !self.tags.is_empty() {
            actions::add_tags(&self.tags)?;
        }
        if let Some(status) = self.status {
            actions::set_status(status)?;
        }
        match &self.message {
            Some(Message::Reply(body)) => actions::reply(body)?,
            Some(Message::Note(body)) => actions::note(body)?,
            None => {}
        }
        if self.unassign {
            actions::unassign()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_one_comment_and_unique_tags() {
        let plan = Plan::new()
            .note("first")
            .reply("hello")
            .tags(["a", "b"])
            .tag("a")
            .status(Status::Pending)
            .unassign();
        assert_eq!(plan.reply_text(), Some("hello"));
        assert_eq!(plan.note_text(), None);
        assert_eq!(plan.tags, ["a", "b"]);
        assert_eq!(plan.status, Some(Status::Pending));
        assert!(plan.unassign);
    }
}
