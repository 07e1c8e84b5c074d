//! A view of the ticket's conversation from the AI seat's point of view.

use crate::text::{first_name, is_gratitude_only};
use crate::ticket::{self, Comment, TicketInfo};
use crate::types::Error;

/// The ticket's comments (oldest first, as `ticket::comments()` returns them) together
/// with the id of the AI seat, answering the questions every plugin asks first: did we
/// already answer, is the last word ours, what did the customer say last?
///
/// "The customer" is kept simple: any public comment not written by the seat. Human
/// agents replying publicly count as well; a plugin that cares can look at the author.
/// Internal notes (private comments) never count, since the requester cannot see them.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    seat_id: u64,
    comments: Vec<Comment>,
}

impl Conversation {
    /// Builds the view from data already at hand (in tests, or when the plugin has read
    /// the comments itself).
    pub fn new(seat_id: u64, comments: Vec<Comment>) -> Self {
        Self { seat_id, comments }
    }

    /// Reads the seat and the comments from the host.
    ///
    /// # Errors
    ///
    /// The host's error when the comments cannot be read.
    pub fn load() -> Result<Self, Error> {
        let seat = ticket::seat();
        let comments = ticket::comments()?;
        Ok(Self::new(seat.id, comments))
    }

    /// The AI seat's user id.
    pub fn seat_id(&self) -> u64 {
        self.seat_id
    }

    /// All comments, oldest first, internal notes included.
    pub fn comments(&self) -> &[Comment] {
        &self.comments
    }

    /// The public comments, oldest first.
    pub fn public(&self) -> impl DoubleEndedIterator<Item = &Comment> {
        self.comments.iter().filter(|comment| comment.public)
    }

    /// The newest public comment, whoever wrote it.
    pub fn last_public(&self) -> Option<&Comment> {
        self.public().next_back()
    }

    /// Whether the newest public comment is the seat's own.
    ///
    /// The gateway is notified about its own updates too; a plugin that answered again
    /// would talk to itself forever, so this is the loop guard every plugin checks first.
    pub fn last_public_is_from_seat(&self) -> bool {
        self.last_public()
            .is_some_and(|comment| comment.author_id == self.seat_id)
    }

    /// The newest public comment not written by the seat: what the customer said last.
    pub fn latest_customer_message(&self) -> Option<&Comment> {
        self.public()
            .rev()
            .find(|comment| comment.author_id != self.seat_id)
    }

    /// Whether the seat has written a public reply on this ticket before.
    pub fn seat_has_replied(&self) -> bool {
        self.public()
            .any(|comment| comment.author_id == self.seat_id)
    }

    /// The public comments by others since the seat's last public reply (all of them if
    /// the seat never replied), oldest first: everything the customer is still waiting
    /// for an answer to, since people often send two messages in a row.
    pub fn unanswered(&self) -> Vec<&Comment> {
        let mut unanswered: Vec<&Comment> = self
            .public()
            .rev()
            .take_while(|comment| comment.author_id != self.seat_id)
            .collect();
        unanswered.reverse();
        unanswered
    }

    /// The bodies of [`Self::unanswered`], joined by blank lines.
    pub fn unanswered_text(&self) -> String {
        self.unanswered()
            .iter()
            .map(|comment| comment.body.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// What the customer is asking now: [`Self::unanswered_text`], or the ticket's
    /// description when no public comment waits (a ticket opened by phone, or by an agent
    /// with a private first comment), with the subject in front on first contact, where
    /// it often is the question itself.
    pub fn question(&self, ticket: &TicketInfo) -> String {
        let mut text = self.unanswered_text();
        if text.is_empty() {
            text = ticket.description.clone();
        }
        if !self.seat_has_replied() {
            text = format!("{}\n\n{}", ticket.subject, text);
        }
        text
    }

    /// Whether the seat replied before and the customer's latest message only says
    /// thanks: the moment to solve the ticket. A thanks signed with the requester's first
    /// name (from `requester_name`, their full name) still counts.
    pub fn only_thanks_after_reply(&self, requester_name: Option<&str>) -> bool {
        if !self.seat_has_replied() {
            return false;
        }
        let latest = self
            .latest_customer_message()
            .map(|comment| comment.body.as_str())
            .unwrap_or_default();
        let signed: Vec<&str> = requester_name.and_then(first_name).into_iter().collect();
        is_gratitude_only(latest, &signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEAT: u64 = 1;
    const CUSTOMER: u64 = 2;

    fn comment(id: u64, author_id: u64, body: &str, public: bool) -> Comment {
        Comment {
            id,
            author_id,
            body: body.into(),
            public,
            created_at: format!("2026-01-01T00:00:{id:02}Z"),
        }
    }

    #[test]
    fn empty_conversation() {
        let conversation = Conversation::new(SEAT, vec![]);
        assert!(!conversation.last_public_is_from_seat());
        assert!(!conversation.seat_has_replied());
        assert!(conversation.latest_customer_message().is_none());
        assert_eq!(conversation.unanswered_text(), "");
    }

    #[test]
    fn notes_do_not_count_as_the_last_word() {
        let conversation = Conversation::new(
            SEAT,
            vec![
                comment(1, CUSTOMER, "help", true),
                comment(2, SEAT, "on it", true),
                comment(3, CUSTOMER, "still broken", true),
                comment(4, SEAT, "internal note", false),
            ],
        );
        assert!(!conversation.last_public_is_from_seat());
        assert!(conversation.seat_has_replied());
        assert_eq!(
            conversation.latest_customer_message().map(|c| c.id),
            Some(3)
        );
        assert_eq!(conversation.unanswered_text(), "still broken");
    }

    #[test]
    fn last_word_is_ours() {
        let conversation = Conversation::new(
            SEAT,
            vec![
                comment(1, CUSTOMER, "help", true),
                comment(2, SEAT, "on it", true),
            ],
        );
        assert!(conversation.last_public_is_from_seat());
        assert!(conversation.unanswered().is_empty());
        assert_eq!(
            conversation.latest_customer_message().map(|c| c.id),
            Some(1)
        );
    }

    #[test]
    fn unanswered_collects_consecutive_customer_messages() {
        let conversation = Conversation::new(
            SEAT,
            vec![
                comment(1, CUSTOMER, "first", true),
                comment(2, SEAT, "reply", true),
                comment(3, CUSTOMER, "second", true),
                comment(4, CUSTOMER, "note", false),
                comment(5, CUSTOMER, "third", true),
            ],
        );
        assert_eq!(conversation.unanswered_text(), "second\n\nthird");
    }
}
