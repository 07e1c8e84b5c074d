//! What a plugin may touch, decided in one reviewed place (as Zed's capability granter
//! does): whom it may assign to, which users it may read, and the sizes and shapes of
//! the text it may stage. The host imports ask here; nothing else grants anything.
//!
//! Which ticket a plugin may read or change needs no check: no import takes a ticket id,
//! so a run can only reach the ticket it was handed.

use super::actions::staging::{AssigneeChange, Refused};
use crate::config::Brand;
use crate::zendesk::{Comment, Ticket};

/// Who a plugin asked to assign the ticket to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignTarget {
    /// The AI seat itself: always allowed.
    Seat,
    /// An agent: only those in `brands.X.allowed_agents`.
    Agent(u64),
    /// A group: only those in `brands.X.allowed_groups`.
    Group(u64),
}

/// The staged change for an assignment the brand's config allows, or why not.
pub fn assignment(brand: &Brand, to: AssignTarget) -> Result<AssigneeChange, Refused> {
    match to {
        AssignTarget::Seat => Ok(AssigneeChange::Seat),
        AssignTarget::Agent(id) if brand.allowed_agents.contains(&id) => {
            Ok(AssigneeChange::Agent(id))
        }
        AssignTarget::Agent(id) => Err(Refused(format!(
            "agent {id} is not in brands.{}.allowed_agents",
            brand.name
        ))),
        AssignTarget::Group(id) if brand.allowed_groups.contains(&id) => {
            Ok(AssigneeChange::Group(id))
        }
        AssignTarget::Group(id) => Err(Refused(format!(
            "group {id} is not in brands.{}.allowed_groups",
            brand.name
        ))),
    }
}

/// Whether user `id` appears on the ticket (requester, assignee, or author of a
/// comment): the only users a plugin may read.
pub fn user_on_ticket(ticket: &Ticket, comments: &[Comment], id: u64) -> bool {
    ticket.requester_id == Some(id)
        || ticket.assignee_id == Some(id)
        || comments.iter().any(|c| c.author_id == id)
}

/// Why reading user `id` is refused.
pub fn user_refused(id: u64, ticket_id: u64) -> Refused {
    Refused(format!("user {id} does not appear on ticket {ticket_id}"))
}

/// A reply or note body within `max_bytes` and not blank.
pub fn text(what: &str, body: String, max_bytes: usize) -> Result<String, Refused> {
    if body.trim().is_empty() {
        return Err(Refused(format!("an empty {what} is not allowed")));
    }
    if body.len() > max_bytes {
        return Err(Refused(format!(
            "the {what} is {} bytes, over the limit of {max_bytes}",
            body.len()
        )));
    }
    Ok(body)
}

/// Longest tag, in bytes (Zendesk's limit is 80 characters; bytes are what is checked,
/// so a tag of non-ASCII letters holds fewer than 80 of them).
pub const MAX_TAG_BYTES: usize = 80;

/// Zendesk tags: lower case, no spaces (Zendesk turns spaces into underscores), 1 to
/// [`MAX_TAG_BYTES`] bytes, no commas, no control characters (a NUL would reach Zendesk).
/// The error quotes the start of a refused tag only: it is kept in the audit trail.
pub fn tags(tags: Vec<String>) -> Result<Vec<String>, Refused> {
    tags.into_iter()
        .map(|t| {
            // Refused before any work on it: lower-casing a megabyte costs the host more
            // than the tag is worth (lower case may grow a text, never by 4 times).
            if t.trim().len() > MAX_TAG_BYTES * 4 {
                let shown = super::log::truncate(&t, 40);
                return Err(Refused(format!(
                    "{shown:?}... ({} bytes) is not a valid tag (1 to {MAX_TAG_BYTES} bytes)",
                    t.len()
                )));
            }
            let bad = t.chars().any(char::is_control);
            let t = t.trim().to_lowercase().replace(char::is_whitespace, "_");
            if t.is_empty() || t.len() > MAX_TAG_BYTES || t.contains(',') || bad {
                let shown = super::log::truncate(&t, 40);
                let cut = if shown.len() < t.len() { "..." } else { "" };
                Err(Refused(format!(
                    "{shown:?}{cut} ({} bytes) is not a valid tag (1 to {MAX_TAG_BYTES} bytes, no commas, no control characters)",
                    t.len()
                )))
            } else if t == super::actions::staging::HANDOFF_ERROR_TAG {
                Err(Refused(format!("the tag {t} belongs to the gateway's hand-offs")))
            } else {
                Ok(t)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> Brand {
        let config = crate::config::Config::parse(
            r#"
            [environments.prod]
            base_url = "http://127.0.0.1:1"
            email = "ai@example.com"
            api_token_env = "TOKEN"
            [brands.retail]
            plugin = "p.wasm"
            mode = "live"
            allowed_agents = [5]
            allowed_groups = [6]
            [endpoints.retail-prod]
            brand = "retail"
            environment = "prod"
            token = "abcdefghijklmnopqrstuvwxyz012345"
            "#,
            std::path::Path::new("/tmp/gateway.toml"),
            &|_| Some("token".to_string()),
        )
        .unwrap();
        config.brands["retail"].clone()
    }

    #[test]
    fn assignment_only_to_configured_agents_and_groups() {
        let b = brand();
        assert_eq!(assignment(&b, AssignTarget::Seat), Ok(AssigneeChange::Seat));
        assert_eq!(
            assignment(&b, AssignTarget::Agent(5)),
            Ok(AssigneeChange::Agent(5))
        );
        assert_eq!(
            assignment(&b, AssignTarget::Group(6)),
            Ok(AssigneeChange::Group(6))
        );
        assert!(assignment(&b, AssignTarget::Agent(6))
            .unwrap_err()
            .0
            .contains("allowed_agents"));
        assert!(assignment(&b, AssignTarget::Group(5))
            .unwrap_err()
            .0
            .contains("allowed_groups"));
    }

    #[test]
    fn users_only_on_the_ticket() {
        let ticket: Ticket = serde_json::from_value(serde_json::json!({
            "id": 1, "status": "open", "requester_id": 7, "assignee_id": 8
        }))
        .unwrap();
        let comments = [Comment {
            id: 1,
            author_id: 9,
            body: None,
            plain_body: None,
            public: true,
            created_at: None,
        }];
        for id in [7, 8, 9] {
            assert!(user_on_ticket(&ticket, &comments, id));
        }
        assert!(!user_on_ticket(&ticket, &comments, 10));
    }

    #[test]
    fn text_and_tags() {
        assert!(text("reply", " ".into(), 10).is_err());
        assert!(text("reply", "x".repeat(11), 10).is_err());
        assert_eq!(text("reply", "ok".into(), 10).unwrap(), "ok");
        assert_eq!(
            tags(vec!["Billing Issue".into()]).unwrap(),
            ["billing_issue"]
        );
        assert!(tags(vec!["a,b".into()]).is_err());
        assert!(tags(vec!["".into()]).is_err());
        assert!(
            tags(vec!["nul\0byte".into()]).is_err(),
            "control characters"
        );
        assert!(
            tags(vec!["bell\u{7}".into()]).is_err(),
            "control characters"
        );
        assert!(tags(vec!["ai_handoff_error".into()]).is_err());
        assert!(tags(vec!["AI_Handoff_Error".into()]).is_err());
        let long = tags(vec!["t".repeat(1 << 20)]).unwrap_err().0;
        assert!(long.len() < 200 && long.contains("1048576 bytes"), "{long}");
        assert!(tags(vec!["é".repeat(40)]).is_ok(), "80 bytes");
        assert!(tags(vec!["é".repeat(41)]).unwrap_err().0.contains("bytes"));
    }
}
