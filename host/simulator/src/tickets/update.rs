//! `PUT /api/v2/tickets/{id}`: one update carries a comment, a status, an assignment,
//! tags and custom fields, applied in one audit or not at all (422 lists every
//! invalid field).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::checks::{check_safe_update, closed_error, missing_ticket_param};
use super::desk::{Comment, Desk, Ticket};
use super::tags::{parse_tags, push_unique};
use crate::common::{
    as_id, audit_value, fmt_time, is_empty_value, via, via_id, ApiError, UpdateEvent, STATUSES,
};

const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];
const TYPES: [&str; 4] = ["problem", "incident", "question", "task"];

/// Validation errors as `(field, description)`, in the order they were found.
type Errors = Vec<(String, String)>;

fn invalid(errors: &mut Errors, field: &str, msg: String) {
    errors.push((field.to_string(), msg));
}

/// The fields an update may change, as they are before it or will be after it.
#[derive(Clone, PartialEq)]
struct Fields {
    status: String,
    priority: Option<String>,
    kind: Option<String>,
    subject: String,
    assignee_id: Option<u64>,
    group_id: Option<u64>,
    tags: Vec<String>,
    custom_fields: BTreeMap<u64, Value>,
}

impl Fields {
    fn of(t: &Ticket) -> Fields {
        Fields {
            status: t.status.clone(),
            priority: t.priority.clone(),
            kind: t.kind.clone(),
            subject: t.subject.clone(),
            assignee_id: t.assignee_id,
            group_id: t.group_id,
            tags: t.tags.clone(),
            custom_fields: t.custom_fields.clone(),
        }
    }
}

/// The comment an update adds: its author, body and whether it is public.
struct ApiComment {
    author_id: u64,
    body: String,
    public: bool,
}

impl Desk {
    /// `PUT /api/v2/tickets/{id}` by `actor` (the authenticated user): applies
    /// everything in one audit, or nothing. Answers the body and the update triggers
    /// must see (none when nothing changed). `is_member(user, group)` says whether an
    /// agent is in a group (the directory's memberships): Zendesk refuses to assign a
    /// ticket to an agent outside its group.
    pub(crate) fn api_update_ticket(
        &mut self,
        id: u64,
        body: Option<&Value>,
        base: &str,
        actor: u64,
        is_member: &dyn Fn(u64, u64) -> Option<bool>,
    ) -> Result<(Value, Option<UpdateEvent>), ApiError> {
        let params = body
            .and_then(|b| b.get("ticket"))
            .and_then(Value::as_object)
            .ok_or_else(missing_ticket_param)?;
        let t = self.visible_ticket(id)?;
        check_safe_update(params, t)?;
        if t.status == "closed" {
            return Err(closed_error());
        }
        let before = Fields::of(t);
        let mut after = before.clone();
        let mut errors = Errors::new();
        let explicit_status = read_scalars(params, &mut after, &mut errors);
        self.read_people(params, &mut after, &mut errors);
        check_membership(&before, &after, is_member, &mut errors);
        read_tags(params, &mut after, &mut errors);
        read_custom_fields(params, &mut after, &mut errors);
        let comment = self.read_comment(params, actor, &mut errors);
        // Zendesk rules that follow from an agent's update (assumed from how the
        // agent UI and the API behave): any agent change moves a `new` ticket to
        // `open`, and solving an unassigned ticket assigns it to the solver.
        let any_change = comment.is_some() || after != before;
        if !explicit_status && before.status == "new" && any_change {
            after.status = "open".to_string();
        }
        if after.status == "solved" && after.assignee_id.is_none() {
            after.assignee_id = Some(actor);
        }
        if after.status == "solved" && before.status != "solved" {
            self.check_required_on_solve(&after, &mut errors);
        }
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let stamp = t.next_stamp();
        let changes = audit_changes(&before, &after);
        let unchanged = comment.is_none() && changes.is_empty();

        let audit_id = self.alloc_audit();
        let (events, new_comment) = self.audit_events(comment, changes, audit_id, stamp);
        let comment_public = new_comment.as_ref().map(|c| c.public);
        let t = self.tickets.get_mut(&id).expect("checked above");
        let previous_status = t.status.clone();
        // An update that changes nothing creates no ticket event, so Zendesk leaves
        // `updated_at` alone (and a safe update made from it still succeeds).
        if !unchanged {
            apply(t, after, new_comment, stamp);
        }
        let created_at = if unchanged { t.updated_at } else { stamp };
        let event = (!unchanged).then(|| UpdateEvent {
            create: false,
            via_id: via_id::API,
            actor,
            actor_role: self.role_of(actor),
            comment_public,
            previous_status: Some(previous_status),
        });
        let t = self.tickets.get(&id).expect("exists");
        let answer = json!({
            "ticket": self.ticket_json(t, base),
            "audit": {
                "id": audit_id,
                "ticket_id": id,
                "created_at": fmt_time(created_at),
                "author_id": actor,
                "metadata": {"system": {}, "custom": {}},
                "via": via("api"),
                "events": events,
            },
        });
        Ok((answer, event))
    }

    /// `assignee_id` (an agent, or null to unassign) and `group_id`.
    fn read_people(&self, params: &Map<String, Value>, after: &mut Fields, errors: &mut Errors) {
        if let Some(v) = params.get("assignee_id") {
            match v {
                Value::Null => after.assignee_id = None,
                v => match as_id(v) {
                    Some(a) if self.is_agent(a) => after.assignee_id = Some(a),
                    Some(a) if self.users.contains_key(&a) => invalid(
                        errors,
                        "assignee",
                        format!("Assignee: user {a} is not an agent and cannot be assigned"),
                    ),
                    _ => invalid(errors, "assignee_id", format!("Assignee: {v} is invalid")),
                },
            }
        }
        if let Some(v) = params.get("group_id") {
            match v {
                Value::Null => after.group_id = None,
                v => match as_id(v) {
                    Some(g) => after.group_id = Some(g),
                    None => invalid(errors, "group_id", format!("Group: {v} is invalid")),
                },
            }
        }
    }

    /// The update's `comment`, if it has a non-blank one. Its author defaults to the
    /// seat; per the brief and the notes, a comment without `public` is public.
    fn read_comment(
        &self,
        params: &Map<String, Value>,
        actor: u64,
        errors: &mut Errors,
    ) -> Option<ApiComment> {
        let c = params.get("comment").filter(|c| !c.is_null())?;
        let body = c
            .get("body")
            .or_else(|| c.get("html_body"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let public = c.get("public").and_then(Value::as_bool).unwrap_or(true);
        let author = match c.get("author_id").filter(|a| !a.is_null()) {
            None => Some(actor),
            Some(a) => as_id(a).filter(|a| self.users.contains_key(a)),
        };
        match author {
            None => {
                invalid(errors, "comment", "Comment: author is invalid".to_string());
                None
            }
            // Zendesk ignores a blank comment rather than failing the update.
            Some(_) if body.trim().is_empty() => None,
            Some(author_id) => Some(ApiComment {
                author_id,
                body: body.to_string(),
                public,
            }),
        }
    }

    /// Solving needs every field in `required_on_solve` to have a value.
    fn check_required_on_solve(&self, after: &Fields, errors: &mut Errors) {
        for fid in &self.required_on_solve {
            if after.custom_fields.get(fid).is_none_or(is_empty_value) {
                invalid(
                    errors,
                    "base",
                    format!("Field {fid} is required to solve the ticket: it has no value"),
                );
            }
        }
    }

    /// The audit's events: the comment first, then one `Change` per changed field.
    fn audit_events(
        &mut self,
        comment: Option<ApiComment>,
        changes: Vec<(String, Value, Value)>,
        audit_id: u64,
        stamp: chrono::DateTime<chrono::Utc>,
    ) -> (Vec<Value>, Option<Comment>) {
        let mut events = Vec::new();
        let mut new_comment = None;
        if let Some(ApiComment {
            author_id,
            body,
            public,
        }) = comment
        {
            let c = Comment {
                id: self.alloc_event(),
                author_id,
                body,
                public,
                channel: "api",
                audit_id,
                created_at: stamp,
            };
            let mut ev = c.to_json();
            if let Some(obj) = ev.as_object_mut() {
                for k in ["created_at", "via", "metadata"] {
                    obj.remove(k);
                }
            }
            events.push(ev);
            new_comment = Some(c);
        }
        for (field_name, value, previous_value) in changes {
            events.push(json!({
                "id": self.alloc_event(),
                "type": "Change",
                "field_name": field_name,
                "value": value,
                "previous_value": previous_value,
            }));
        }
        (events, new_comment)
    }
}

/// 422 when the update leaves the ticket assigned to an agent who is not a member of
/// its group (as seen in Zendesk's answers: `details.assignee`, "Assignee: is not a
/// member of the group"). Checked only when the assignee or the group changes, and
/// only for groups the directory knows (`is_member` answers `None` for others).
fn check_membership(
    before: &Fields,
    after: &Fields,
    is_member: &dyn Fn(u64, u64) -> Option<bool>,
    errors: &mut Errors,
) {
    let changed = before.assignee_id != after.assignee_id || before.group_id != after.group_id;
    let (Some(assignee), Some(group)) = (after.assignee_id, after.group_id) else {
        return;
    };
    if changed && is_member(assignee, group) == Some(false) {
        invalid(
            errors,
            "assignee",
            "Assignee: is not a member of the group".to_string(),
        );
    }
}

/// `status`, `priority`, `type` and `subject`; true when the update names a status.
fn read_scalars(params: &Map<String, Value>, after: &mut Fields, errors: &mut Errors) -> bool {
    let explicit_status = params.get("status").filter(|v| !v.is_null());
    if let Some(v) = explicit_status {
        match v.as_str().filter(|s| STATUSES.contains(s)) {
            Some("new") if after.status != "new" => {
                invalid(errors, "status", "Status: cannot be set to New".to_string())
            }
            Some(s) => after.status = s.to_string(),
            None => invalid(
                errors,
                "status",
                format!("Status: {v} is not a valid status"),
            ),
        }
    }
    if let Some(v) = params.get("priority") {
        match v {
            Value::Null => after.priority = None,
            Value::String(s) if s.is_empty() => after.priority = None,
            Value::String(s) if PRIORITIES.contains(&s.as_str()) => {
                after.priority = Some(s.clone())
            }
            _ => invalid(errors, "priority", format!("Priority: {v} is not valid")),
        }
    }
    if let Some(v) = params.get("type") {
        match v {
            Value::Null => after.kind = None,
            Value::String(s) if s.is_empty() => after.kind = None,
            Value::String(s) if TYPES.contains(&s.as_str()) => after.kind = Some(s.clone()),
            _ => invalid(errors, "type", format!("Type: {v} is not valid")),
        }
    }
    if let Some(s) = params.get("subject").and_then(Value::as_str) {
        after.subject = s.to_string();
    }
    explicit_status.is_some()
}

/// `tags` replaces the list; the bulk-update style `additional_tags` and
/// `remove_tags` also work on a single update.
fn read_tags(params: &Map<String, Value>, after: &mut Fields, errors: &mut Errors) {
    if let Some(v) = params.get("tags") {
        match parse_tags(v) {
            Some(new) => after.tags = new,
            None => invalid(
                errors,
                "tags",
                "Tags: must be a list of strings".to_string(),
            ),
        }
    }
    if let Some(add) = params.get("additional_tags").and_then(parse_tags) {
        add.iter().for_each(|tag| push_unique(&mut after.tags, tag));
    }
    if let Some(remove) = params.get("remove_tags").and_then(parse_tags) {
        after.tags.retain(|tag| !remove.contains(tag));
    }
}

/// `custom_fields` (or its alias `fields`): `[{id, value}]`, set one by one.
fn read_custom_fields(params: &Map<String, Value>, after: &mut Fields, errors: &mut Errors) {
    for key in ["custom_fields", "fields"] {
        let Some(v) = params.get(key) else { continue };
        let Some(items) = v.as_array() else {
            invalid(
                errors,
                key,
                format!("{key}: must be a list of {{id, value}}"),
            );
            continue;
        };
        for item in items {
            match item.get("id").and_then(as_id) {
                Some(fid) => {
                    after
                        .custom_fields
                        .insert(fid, item.get("value").cloned().unwrap_or(Value::Null));
                }
                None => invalid(errors, key, format!("{key}: entry {item} has no id")),
            }
        }
    }
}

/// `(field name, value, previous value)` for every field the update changes, in the
/// order Zendesk's audit lists them; values as audit events write them.
fn audit_changes(before: &Fields, after: &Fields) -> Vec<(String, Value, Value)> {
    let mut changes = Vec::new();
    let mut change = |name: &str, value: Value, previous: Value| {
        if value != previous {
            changes.push((
                name.to_string(),
                audit_value(&value),
                audit_value(&previous),
            ));
        }
    };
    change("subject", json!(after.subject), json!(before.subject));
    change("status", json!(after.status), json!(before.status));
    change("priority", json!(after.priority), json!(before.priority));
    change("type", json!(after.kind), json!(before.kind));
    change(
        "assignee_id",
        json!(after.assignee_id),
        json!(before.assignee_id),
    );
    change("group_id", json!(after.group_id), json!(before.group_id));
    change("tags", json!(after.tags), json!(before.tags));
    for (fid, value) in &after.custom_fields {
        let previous = before
            .custom_fields
            .get(fid)
            .cloned()
            .unwrap_or(Value::Null);
        change(&fid.to_string(), value.clone(), previous);
    }
    changes
}

/// Writes the update into the ticket.
fn apply(
    t: &mut Ticket,
    after: Fields,
    comment: Option<Comment>,
    stamp: chrono::DateTime<chrono::Utc>,
) {
    t.status = after.status;
    t.priority = after.priority;
    t.kind = after.kind;
    t.subject = after.subject;
    t.assignee_id = after.assignee_id;
    t.group_id = after.group_id;
    t.tags = after.tags;
    t.custom_fields = after.custom_fields;
    t.comments.extend(comment);
    t.updated_at = stamp;
}
