//! JSON shapes of the Zendesk objects the gateway reads and writes. Only the fields the
//! gateway uses are typed; unknown fields are ignored, as Zendesk adds fields over time.

use serde::{Deserialize, Serialize};

/// A Zendesk ticket (`GET /api/v2/tickets/{id}` -> `{"ticket": Ticket}`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Ticket {
    /// Ticket id.
    pub id: u64,
    /// Subject line; Zendesk may send null for tickets without one.
    #[serde(default)]
    pub subject: Option<String>,
    /// The first comment's text.
    #[serde(default)]
    pub description: Option<String>,
    /// `new|open|pending|hold|solved|closed`.
    pub status: String,
    /// `urgent|high|normal|low` or null.
    #[serde(default)]
    pub priority: Option<String>,
    /// `problem|incident|question|task` or null.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    /// Who asked.
    #[serde(default)]
    pub requester_id: Option<u64>,
    /// Assigned agent, if any.
    #[serde(default)]
    pub assignee_id: Option<u64>,
    /// Assigned group, if any.
    #[serde(default)]
    pub group_id: Option<u64>,
    /// Brand id in Zendesk.
    #[serde(default)]
    pub brand_id: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How the ticket came in.
    #[serde(default)]
    pub via: Option<Via>,
    /// ISO-8601.
    #[serde(default)]
    pub created_at: Option<String>,
    /// ISO-8601; the stamp a safe update sends back.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// How many comments the ticket has, when asked for with the `comment_count`
    /// sideload: lets a run check that the conversation it read is the one the stamp
    /// covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_count: Option<u64>,
    /// Custom field values, `[{id, value}]` (Zendesk lists every active field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// One custom field's value on a ticket, or in an update (`{"id": N, "value": ...}`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CustomFieldValue {
    /// The ticket field's id.
    pub id: u64,
    /// A string, number, boolean, list of strings (multi-select) or null.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The `via` object: the channel a ticket or comment came through.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Via {
    /// `email`, `web`, `api`...
    #[serde(default)]
    pub channel: Option<String>,
}

/// One comment (`GET /api/v2/tickets/{id}/comments`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Comment {
    /// Comment id.
    pub id: u64,
    /// Author's user id.
    pub author_id: u64,
    /// Text (may contain Markdown-ish formatting).
    #[serde(default)]
    pub body: Option<String>,
    /// Text with formatting removed; preferred when present.
    #[serde(default)]
    pub plain_body: Option<String>,
    /// Public comment (visible to the requester) or internal note.
    pub public: bool,
    /// ISO-8601.
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Comment {
    /// The comment's text, preferring the plain form.
    pub fn text(&self) -> &str {
        self.plain_body
            .as_deref()
            .or(self.body.as_deref())
            .unwrap_or("")
    }
}

/// A Zendesk user (`GET /api/v2/users/{id}` and `users/me`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct User {
    /// Null for the anonymous user that `users/me` returns to bad credentials.
    pub id: Option<u64>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Email, if visible.
    #[serde(default)]
    pub email: Option<String>,
    /// `end-user`, `agent` or `admin`.
    #[serde(default)]
    pub role: String,
}

/// The body of one `PUT /api/v2/tickets/{id}`: everything a run changes, at once.
/// Absent fields are left as they are; `assignee_id: Some(None)` sends `null` to unassign.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TicketUpdate {
    /// A comment to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<TicketUpdateComment>,
    /// New assignee; `Some(None)` unassigns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Option<u64>>,
    /// New group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The complete new tag list (Zendesk replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom field values to set (only the fields listed change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    /// Ask Zendesk to refuse (409) if the ticket changed since `updated_stamp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_update: Option<bool>,
    /// The `updated_at` the run read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_stamp: Option<String>,
}

impl TicketUpdate {
    /// True when the update would change nothing (so no PUT is needed).
    pub fn is_empty(&self) -> bool {
        self.comment.is_none()
            && self.assignee_id.is_none()
            && self.group_id.is_none()
            && self.status.is_none()
            && self.tags.is_none()
            && self.custom_fields.is_none()
    }
}

/// A comment inside an update. `public` is always sent: otherwise Zendesk keeps the
/// ticket's previous comment visibility.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TicketUpdateComment {
    /// Text.
    pub body: String,
    /// Public reply or internal note.
    pub public: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unassign_serialises_null_and_empty_fields_are_absent() {
        let u = TicketUpdate {
            assignee_id: Some(None),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"assignee_id":null}"#
        );
        assert!(TicketUpdate::default().is_empty());
    }
}
