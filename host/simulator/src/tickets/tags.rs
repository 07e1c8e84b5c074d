//! Tags: how Zendesk reads a tag list, and the tags endpoints
//! (`GET|PUT|POST|DELETE /api/v2/tickets/{id}/tags`), which add, replace or remove
//! tags without touching the rest of the ticket.

use serde_json::{json, Map, Value};

use super::checks::{check_safe_update, closed_error, missing_param};
use super::desk::Desk;
use crate::common::{via_id, ApiError, UpdateEvent};

/// Adds a tag (trimmed) unless it is blank or already there.
pub(super) fn push_unique(tags: &mut Vec<String>, tag: &str) {
    let tag = tag.trim();
    if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_string());
    }
}

/// Tags as Zendesk accepts them: a list of strings, or one string of
/// space-separated tags (the OAS allows both).
pub(super) fn parse_tags(v: &Value) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for item in items {
                for tag in item.as_str()?.split_whitespace() {
                    push_unique(&mut out, tag);
                }
            }
        }
        Value::String(s) => s.split_whitespace().for_each(|t| push_unique(&mut out, t)),
        Value::Null => {}
        _ => return None,
    }
    Some(out)
}

impl Desk {
    /// `GET|PUT|POST|DELETE /api/v2/tickets/{id}/tags`. `tags` comes from the body
    /// or, for DELETE, from the `tags` query parameter (comma-separated). Answers the
    /// status, the body and the update triggers must see (none when nothing changed).
    pub(crate) fn api_tags(
        &mut self,
        id: u64,
        method: &str,
        body: Option<&Value>,
        query: &[(String, String)],
    ) -> Result<(u16, Value, Option<UpdateEvent>), ApiError> {
        let t = self.visible_ticket(id)?;
        if method == "GET" {
            return Ok((200, json!({"tags": t.tags}), None));
        }
        let empty = Map::new();
        let params = body.and_then(Value::as_object).unwrap_or(&empty);
        check_safe_update(params, t)?;
        if t.status == "closed" {
            return Err(closed_error());
        }
        let given = match params.get("tags") {
            Some(v) => parse_tags(v).ok_or_else(|| {
                ApiError::BadRequest("InvalidValue", "tags must be a list of strings".to_string())
            })?,
            None => match query.iter().find(|(k, _)| k == "tags") {
                Some((_, v)) => parse_tags(&json!(v.replace(',', " "))).unwrap_or_default(),
                None => return Err(missing_param("tags")),
            },
        };
        let mut tags = t.tags.clone();
        match method {
            "PUT" => given.iter().for_each(|tag| push_unique(&mut tags, tag)),
            "POST" => tags = given,
            _ => tags.retain(|tag| !given.contains(tag)),
        }
        let status = if method == "POST" { 201 } else { 200 };
        let mut event = None;
        if tags != t.tags {
            self.alloc_audit();
            self.alloc_event();
            let t = self.tickets.get_mut(&id).expect("checked above");
            t.updated_at = t.next_stamp();
            t.tags = tags;
            event = Some(UpdateEvent {
                create: false,
                via_id: via_id::API,
                actor: self.seat.id,
                actor_role: self.seat.role.clone(),
                comment_public: None,
                previous_status: Some(t.status.clone()),
            });
        }
        Ok((status, json!({"tags": self.tickets[&id].tags}), event))
    }
}
