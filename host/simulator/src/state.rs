//! The simulated account: users, tickets, comments, the rate window, the call log
//! and pending faults, plus the Zendesk rules that change them.
//!
//! Everything here is synchronous and runs under the one state mutex, so a request
//! sees and makes a consistent change, as a single Zendesk database transaction would.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Map, Value};

use crate::rules::{via_id, Delivery, Rules, TicketFacts, UpdateEvent};
use crate::{
    AgentEdit, ApiCall, CustomField, Fault, NewComment, NewTicket, SimTicket, SimUser,
    SimulatorConfig, TicketState, DEFAULT_BRAND_ID,
};

/// Zendesk's ticket statuses, in their lifecycle order.
pub(crate) const STATUSES: [&str; 6] = ["new", "open", "pending", "hold", "solved", "closed"];
const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];
const TYPES: [&str; 4] = ["problem", "incident", "question", "task"];
/// Zendesk caps every list page at 100 records.
const MAX_PAGE: usize = 100;
/// The quota is per minute; a sliding window is stricter than a fixed one, so a
/// gateway that stays under it here stays under it on Zendesk too.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// An API error, rendered by `api::reply_for_error` with Zendesk's status and body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 400 with an error code and description.
    BadRequest(&'static str, String),
    /// 401 `Couldn't authenticate you`.
    Unauthorized,
    /// 403 Forbidden (e.g. the seat is not in the ticket's group).
    Forbidden,
    /// 404 RecordNotFound.
    NotFound,
    /// 404 for a path Zendesk does not serve.
    InvalidEndpoint,
    /// 409 UpdateConflict (safe update saw a newer ticket).
    Conflict,
    /// 422 RecordInvalid with `(field, description)` details.
    Invalid(Vec<(String, String)>),
    /// 429 from the per-minute quota.
    TooManyRequests { retry_after: u64 },
    /// An injected fault.
    Injected {
        status: u16,
        retry_after: Option<u32>,
    },
    /// 400 from the webhooks API, which answers with a JSON:API-style `errors` list.
    WebhookInvalid(String),
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Reads an id the way Rails would accept it: a JSON number or a numeric string.
fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value as Zendesk's audit events write it: ids and numbers become strings.
fn audit_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn push_unique(tags: &mut Vec<String>, tag: &str) {
    let tag = tag.trim();
    if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_string());
    }
}

/// Tags as Zendesk accepts them: a list of strings, or one string of
/// space-separated tags (the OAS allows both).
fn parse_tags(v: &Value) -> Option<Vec<String>> {
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

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn via(channel: &str) -> Value {
    json!({"channel": channel, "source": {"from": {}, "to": {}, "rel": null}})
}

struct UserRec {
    user: SimUser,
    created_at: DateTime<Utc>,
}

#[derive(Clone)]
struct Comment {
    id: u64,
    author_id: u64,
    body: String,
    public: bool,
    channel: &'static str,
    audit_id: u64,
    created_at: DateTime<Utc>,
}

impl Comment {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "Comment",
            "author_id": self.author_id,
            "body": self.body,
            "html_body": format!(
                "<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">{}</p></div>",
                html_escape(&self.body)
            ),
            "plain_body": self.body,
            "public": self.public,
            "attachments": [],
            "audit_id": self.audit_id,
            "via": via(self.channel),
            "created_at": fmt_time(self.created_at),
            "metadata": {"system": {}, "custom": {}},
        })
    }
}

struct Ticket {
    id: u64,
    subject: String,
    status: String,
    priority: Option<String>,
    kind: Option<String>,
    requester_id: u64,
    submitter_id: u64,
    assignee_id: Option<u64>,
    group_id: Option<u64>,
    brand_id: u64,
    tags: Vec<String>,
    /// Set values by field id; fields listed in `required_on_solve` show as null
    /// when unset, as a real account lists every active field.
    custom_fields: BTreeMap<u64, Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    comments: Vec<Comment>,
    /// The channel the ticket came in through (see [`via_id`]).
    via_id: u32,
}

impl Ticket {
    /// The stamp for the next change: `updated_at` must strictly advance on every
    /// change, even twice within one second, because safe update compares it.
    fn next_stamp(&self) -> DateTime<Utc> {
        let now = now_secs();
        if now <= self.updated_at {
            self.updated_at + chrono::Duration::seconds(1)
        } else {
            now
        }
    }
}

/// The whole simulated account.
pub(crate) struct State {
    pub(crate) seat: SimUser,
    pub(crate) api_token: String,
    users: BTreeMap<u64, UserRec>,
    tickets: BTreeMap<u64, Ticket>,
    seat_group_ids: Option<Vec<u64>>,
    required_on_solve: Vec<u64>,
    pub(crate) rate_limit: u32,
    window: VecDeque<Instant>,
    pub(crate) calls: Vec<ApiCall>,
    pub(crate) faults: Vec<Fault>,
    next_ticket_id: u64,
    /// Comments are audit events in Zendesk, so comment ids and event ids come
    /// from one global sequence (a comment's id is its event's id).
    next_event_id: u64,
    next_audit_id: u64,
    /// Brands, groups, webhooks, triggers and automations.
    pub(crate) rules: Rules,
    /// Webhook calls decided by triggers, waiting to be sent once the lock is released.
    pub(crate) outbox: Vec<Delivery>,
}

impl State {
    pub(crate) fn new(config: SimulatorConfig) -> State {
        let created_at = now_secs();
        let mut users = BTreeMap::new();
        for user in std::iter::once(config.seat.clone()).chain(config.users) {
            users.insert(user.id, UserRec { user, created_at });
        }
        let mut rules = Rules::new(
            config.brands,
            config.groups,
            config.seat.id,
            config.seat_group_ids.as_deref(),
            created_at,
        );
        for t in &config.triggers {
            if let Err(e) = rules.seed_trigger(t) {
                // A bad seed is a bug in the caller's config: say so loudly, but keep
                // the simulator usable.
                tracing::error!("{e}");
            }
        }
        State {
            seat: config.seat,
            api_token: config.api_token,
            users,
            tickets: BTreeMap::new(),
            seat_group_ids: config.seat_group_ids,
            required_on_solve: config.required_on_solve,
            rate_limit: config.rate_limit_per_minute,
            window: VecDeque::new(),
            calls: Vec::new(),
            faults: Vec::new(),
            next_ticket_id: 1,
            next_event_id: 10_001,
            next_audit_id: 50_001,
            rules,
            outbox: Vec::new(),
        }
    }

    /// The role of a user (`end-user` when unknown).
    fn role_of(&self, id: u64) -> String {
        self.users
            .get(&id)
            .map_or_else(|| "end-user".to_string(), |u| u.user.role.clone())
    }

    /// Runs the account's triggers on one update of ticket `id`, as Zendesk does after
    /// every ticket create and update; their webhook calls wait in `outbox`.
    fn fire_triggers(&mut self, id: u64, event: UpdateEvent) {
        let Some(t) = self.tickets.get(&id) else {
            return;
        };
        let facts = TicketFacts {
            id,
            subject: t.subject.clone(),
            status: t.status.clone(),
            brand_id: t.brand_id,
            assignee_id: t.assignee_id,
            group_id: t.group_id,
            requester_id: t.requester_id,
            tags: t.tags.clone(),
            is_public: t.comments.iter().any(|c| c.public),
            via_id: t.via_id,
        };
        let deliveries = self.rules.fire(&facts, &event);
        self.outbox.extend(deliveries);
    }

    pub(crate) fn auth_header(&self) -> String {
        let raw = format!("{}/token:{}", self.seat.email, self.api_token);
        format!("Basic {}", STANDARD.encode(raw))
    }

    /// Whether an `Authorization` header authenticates the seat. Only API-token
    /// Basic auth is modelled; anything else (passwords, OAuth) is refused.
    pub(crate) fn authenticates(&self, header: Option<&str>) -> bool {
        let Some(encoded) = header.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        }) else {
            return false;
        };
        let Some(decoded) = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((login, token)) = decoded.split_once(':') else {
            return false;
        };
        // Zendesk matches the email case-insensitively; the token exactly.
        let expected_login = format!("{}/token", self.seat.email);
        login.eq_ignore_ascii_case(&expected_login) && token == self.api_token
    }

    // ---- rate limit -------------------------------------------------------------

    fn prune_window(&mut self, now: Instant) {
        while let Some(front) = self.window.front() {
            if now.duration_since(*front) >= RATE_WINDOW {
                self.window.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request against the quota; `false` if the quota is used up.
    pub(crate) fn take_quota(&mut self, now: Instant) -> bool {
        self.prune_window(now);
        if self.window.len() >= self.rate_limit as usize {
            return false;
        }
        self.window.push_back(now);
        true
    }

    pub(crate) fn quota_remaining(&self) -> u32 {
        self.rate_limit.saturating_sub(self.window.len() as u32)
    }

    /// Seconds until the oldest counted request leaves the window (a slot frees).
    pub(crate) fn quota_reset_secs(&self, now: Instant) -> u64 {
        match self.window.front() {
            Some(front) => {
                let left = RATE_WINDOW.saturating_sub(now.duration_since(*front));
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            }
            None => RATE_WINDOW.as_secs(),
        }
        .max(1)
    }

    pub(crate) fn reset_rate_window(&mut self) {
        self.window.clear();
    }

    /// Takes one use of the first pending fault matching the request, if any.
    pub(crate) fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
        })?;
        let fault = self.faults[i].clone();
        self.faults[i].times -= 1;
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    // ---- users ------------------------------------------------------------------

    pub(crate) fn add_user(&mut self, user: SimUser) {
        let created_at = now_secs();
        self.users.insert(user.id, UserRec { user, created_at });
    }

    pub(crate) fn next_user_id(&self) -> u64 {
        self.users.keys().next_back().map_or(1, |id| id + 1)
    }

    pub(crate) fn users(&self) -> Vec<SimUser> {
        self.users.values().map(|u| u.user.clone()).collect()
    }

    fn is_agent(&self, id: u64) -> bool {
        self.users
            .get(&id)
            .is_some_and(|u| u.user.role == "agent" || u.user.role == "admin")
    }

    pub(crate) fn user_json(&self, id: u64, base: &str) -> Option<Value> {
        let rec = self.users.get(&id)?;
        let u = &rec.user;
        let agent = u.role == "agent" || u.role == "admin";
        let is_seat = u.id == self.seat.id;
        let mut v = json!({
            "id": u.id,
            "url": format!("{base}/api/v2/users/{}.json", u.id),
            "name": u.name,
            "email": u.email,
            "created_at": fmt_time(rec.created_at),
            "updated_at": fmt_time(rec.created_at),
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": null,
            "shared_phone_number": null,
            "photo": null,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": null,
            "role": u.role,
            "verified": true,
            "external_id": null,
            "tags": [],
            "alias": "",
            "active": true,
            "shared": false,
            "shared_agent": false,
            "last_login_at": fmt_time(rec.created_at),
            "two_factor_auth_enabled": null,
            "signature": "",
            "details": "",
            "notes": "",
            "role_type": null,
            "custom_role_id": null,
            "moderator": agent,
            "ticket_restriction": if agent { Value::Null } else { json!("requested") },
            "only_private_comments": false,
            "restricted_agent": agent && u.role != "admin",
            "suspended": false,
            "report_csv": agent,
            "user_fields": {},
        });
        // A group-restricted seat reports it the way Zendesk does for such agents.
        if is_seat {
            if let Some(groups) = &self.seat_group_ids {
                v["ticket_restriction"] = json!("groups");
                if let Some(first) = groups.first() {
                    v["default_group_id"] = json!(first);
                }
            }
        }
        Some(v)
    }

    /// What `GET /api/v2/users/me` answers without valid credentials: Zendesk's
    /// anonymous user (200, `id` null, role `end-user`).
    pub(crate) fn anonymous_user_json() -> Value {
        json!({
            "id": null,
            "url": null,
            "name": "Anonymous user",
            "email": "invalid@example.com",
            "created_at": null,
            "updated_at": null,
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": null,
            "shared_phone_number": null,
            "photo": null,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": null,
            "role": "end-user",
            "verified": false,
        })
    }

    // ---- tickets: creation and outside edits ------------------------------------

    fn alloc_event(&mut self) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        id
    }

    fn alloc_audit(&mut self) -> u64 {
        let id = self.next_audit_id;
        self.next_audit_id += 1;
        id
    }

    fn first_user_with(&self, pred: impl Fn(&SimUser) -> bool) -> Option<u64> {
        self.users
            .values()
            .map(|u| &u.user)
            .find(|u| u.id != self.seat.id && pred(u))
            .map(|u| u.id)
    }

    pub(crate) fn create_ticket(&mut self, t: NewTicket) -> u64 {
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
        self.fire_triggers(id, event);
        id
    }

    pub(crate) fn add_comment(&mut self, ticket_id: u64, c: NewComment) -> anyhow::Result<()> {
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
        let event = UpdateEvent {
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
        };
        self.fire_triggers(ticket_id, event);
        Ok(())
    }

    pub(crate) fn agent_edit(&mut self, id: u64, edit: AgentEdit) -> anyhow::Result<()> {
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
        let author_id = if edit.author_id == 0 {
            self.first_user_with(|u| u.role == "agent" || u.role == "admin")
                .unwrap_or(self.seat.id)
        } else {
            edit.author_id
        };
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
        let event = UpdateEvent {
            create: false,
            via_id: via_id::WEB,
            actor: author_id,
            actor_role,
            comment_public,
            previous_status: Some(previous_status),
        };
        self.fire_triggers(id, event);
        Ok(())
    }

    // ---- tickets: views ---------------------------------------------------------

    pub(crate) fn ticket_ids(&self) -> Vec<u64> {
        self.tickets.keys().copied().collect()
    }

    fn ticket_json(&self, t: &Ticket, base: &str) -> Value {
        let mut fields: BTreeMap<u64, Value> = self
            .required_on_solve
            .iter()
            .map(|id| (*id, Value::Null))
            .collect();
        fields.extend(t.custom_fields.iter().map(|(k, v)| (*k, v.clone())));
        let custom_fields: Vec<Value> = fields
            .into_iter()
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect();
        let description = t
            .comments
            .first()
            .map(|c| c.body.clone())
            .unwrap_or_default();
        json!({
            "url": format!("{base}/api/v2/tickets/{}.json", t.id),
            "id": t.id,
            "external_id": null,
            "via": via("web"),
            "created_at": fmt_time(t.created_at),
            "updated_at": fmt_time(t.updated_at),
            "generated_timestamp": t.updated_at.timestamp(),
            "type": t.kind,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": description,
            "priority": t.priority,
            "status": t.status,
            "requester_id": t.requester_id,
            "submitter_id": t.submitter_id,
            "assignee_id": t.assignee_id,
            "organization_id": null,
            "group_id": t.group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "problem_id": null,
            "has_incidents": false,
            "is_public": t.comments.iter().any(|c| c.public),
            "due_at": null,
            "tags": t.tags,
            "custom_fields": custom_fields,
            "fields": custom_fields,
            "sharing_agreement_ids": [],
            "followup_ids": [],
            "ticket_form_id": null,
            "brand_id": t.brand_id,
            "allow_channelback": false,
            "allow_attachments": true,
            "from_messaging_channel": false,
        })
    }

    pub(crate) fn ticket_state(&self, id: u64, base: &str) -> Option<TicketState> {
        let t = self.tickets.get(&id)?;
        Some(TicketState {
            ticket: self.ticket_json(t, base),
            comments: t.comments.iter().map(Comment::to_json).collect(),
        })
    }

    pub(crate) fn sim_ticket(&self, id: u64, base: &str) -> Option<SimTicket> {
        let t = self.tickets.get(&id)?;
        Some(SimTicket {
            id,
            created_at: fmt_time(t.created_at),
            updated_at: fmt_time(t.updated_at),
            ticket: self.ticket_json(t, base),
        })
    }

    /// The ticket, if it exists and the seat may see it.
    fn visible_ticket(&self, id: u64) -> Result<&Ticket, ApiError> {
        let t = self.tickets.get(&id).ok_or(ApiError::NotFound)?;
        if let (Some(groups), Some(group)) = (&self.seat_group_ids, t.group_id) {
            if !groups.contains(&group) {
                return Err(ApiError::Forbidden);
            }
        }
        Ok(t)
    }

    pub(crate) fn api_show_ticket(&self, id: u64, base: &str) -> Result<Value, ApiError> {
        let t = self.visible_ticket(id)?;
        Ok(json!({"ticket": self.ticket_json(t, base)}))
    }

    /// `GET /api/v2/tickets/{id}/comments`.
    ///
    /// With `page[size]`, `page[after]` or `page[before]` it answers with cursor
    /// paging (`meta` + `links`); without them with offset paging (`next_page`,
    /// `previous_page`, `count`, honouring `page` and `per_page`), which is what
    /// Zendesk still does for this endpoint when no cursor parameter is given.
    /// `sort=-created_at` or `sort_order=desc` reverses the order (newest first).
    /// `include=users` sideloads the page's comment authors as a top-level `users`
    /// list, as Zendesk's sideloading does.
    pub(crate) fn api_list_comments(
        &self,
        id: u64,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let mut page = self.comments_page(id, query, base)?;
        let wants_users = query
            .iter()
            .any(|(k, v)| k == "include" && v.split(',').any(|i| i.trim() == "users"));
        if wants_users {
            let mut ids: Vec<u64> = page["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["author_id"].as_u64())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let users: Vec<Value> = ids
                .into_iter()
                .filter_map(|uid| self.user_json(uid, base))
                .collect();
            page["users"] = Value::Array(users);
        }
        Ok(page)
    }

    fn comments_page(
        &self,
        id: u64,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let t = self.visible_ticket(id)?;
        let q = |k: &str| query_param(query, k);
        let desc = match (q("sort"), q("sort_order")) {
            (Some(s), _) if s.starts_with('-') => true,
            (_, Some(o)) => o.eq_ignore_ascii_case("desc"),
            _ => false,
        };
        let mut ordered: Vec<&Comment> = t.comments.iter().collect();
        if desc {
            ordered.reverse();
        }
        let path = format!("{base}/api/v2/tickets/{id}/comments.json");
        let cursor_mode = ["page[size]", "page[after]", "page[before]"]
            .iter()
            .any(|k| q(k).is_some());
        if cursor_mode {
            let size = parse_page_size(q("page[size]"), "page[size]")?;
            // Carry the sort into the links so following them keeps the order.
            let sort_param = match (q("sort"), q("sort_order")) {
                (Some(s), _) => format!("&sort={s}"),
                (None, Some(o)) => format!("&sort_order={o}"),
                _ => String::new(),
            };
            let (page, has_more): (&[&Comment], bool) = if let Some(c) = q("page[before]") {
                let pos = cursor_position(&ordered, c, desc, "page[before]")?;
                // Items strictly before the cursor; the page is the last `size` of them.
                let before = &ordered[..pos];
                let start = before.len().saturating_sub(size);
                (&before[start..], start > 0)
            } else {
                let start = match q("page[after]") {
                    Some(c) => {
                        let pos = cursor_position(&ordered, c, desc, "page[after]")?;
                        // Skip the cursor's own item when it is still present.
                        if ordered
                            .get(pos)
                            .is_some_and(|cm| Some(cm.id) == decode_cursor(c))
                        {
                            pos + 1
                        } else {
                            pos
                        }
                    }
                    None => 0,
                };
                let after = &ordered[start.min(ordered.len())..];
                let n = after.len().min(size);
                (&after[..n], after.len() > n)
            };
            let after_cursor = page.last().map(|c| encode_cursor(c.id));
            let before_cursor = page.first().map(|c| encode_cursor(c.id));
            // Zendesk keeps `links.next` even on the last page (following it gives an
            // empty page); clients must stop on `meta.has_more`, as the notes say.
            let next = after_cursor
                .as_ref()
                .map(|c| format!("{path}?page%5Bafter%5D={c}&page%5Bsize%5D={size}{sort_param}"));
            let prev = before_cursor
                .as_ref()
                .map(|c| format!("{path}?page%5Bbefore%5D={c}&page%5Bsize%5D={size}{sort_param}"));
            Ok(json!({
                "comments": page.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": before_cursor,
                },
                "links": {"next": next, "prev": prev},
            }))
        } else {
            let per_page = parse_page_size(q("per_page"), "per_page")?;
            let page: usize = match q("page") {
                None => 1,
                Some(p) => p.parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
                    ApiError::BadRequest(
                        "InvalidPaginationParameter",
                        format!("page must be a positive integer, got {p:?}"),
                    )
                })?,
            };
            let start = (page - 1).saturating_mul(per_page).min(ordered.len());
            let end = (start + per_page).min(ordered.len());
            let sort_param = if desc { "&sort_order=desc" } else { "" };
            let link = |p: usize| format!("{path}?page={p}&per_page={per_page}{sort_param}");
            Ok(json!({
                "comments": ordered[start..end].iter().map(|c| c.to_json()).collect::<Vec<_>>(),
                "next_page": (end < ordered.len()).then(|| link(page + 1)),
                "previous_page": (page > 1).then(|| link(page - 1)),
                "count": ordered.len(),
            }))
        }
    }

    // ---- tickets: API updates ---------------------------------------------------

    /// Checks `safe_update` + `updated_stamp` against the ticket's `updated_at`.
    ///
    /// Zendesk's OAS says any `safe_update` value (even false) turns the check on
    /// and only omitting it turns it off; the check needs `updated_stamp` too.
    fn check_safe_update(params: &Map<String, Value>, t: &Ticket) -> Result<(), ApiError> {
        let wants = params.get("safe_update").is_some_and(|v| !v.is_null());
        let Some(stamp) = params.get("updated_stamp").filter(|_| wants) else {
            return Ok(());
        };
        let matches = stamp
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .is_some_and(|s| s.with_timezone(&Utc).trunc_subsecs(0) == t.updated_at);
        if matches {
            Ok(())
        } else {
            Err(ApiError::Conflict)
        }
    }

    /// `PUT /api/v2/tickets/{id}`: applies everything in one audit, or nothing.
    pub(crate) fn api_update_ticket(
        &mut self,
        id: u64,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let params = body
            .and_then(|b| b.get("ticket"))
            .and_then(Value::as_object)
            .ok_or_else(missing_ticket_param)?;
        let t = self.visible_ticket(id)?;
        Self::check_safe_update(params, t)?;
        if t.status == "closed" {
            return Err(closed_error());
        }
        let actor = self.seat.id;
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut invalid = |field: &str, msg: String| errors.push((field.to_string(), msg));

        let mut status = t.status.clone();
        let explicit_status = params.get("status").filter(|v| !v.is_null());
        if let Some(v) = explicit_status {
            match v.as_str().filter(|s| STATUSES.contains(s)) {
                Some("new") if t.status != "new" => {
                    invalid("status", "Status: cannot be set to New".to_string())
                }
                Some(s) => status = s.to_string(),
                None => invalid("status", format!("Status: {v} is not a valid status")),
            }
        }
        let mut priority = t.priority.clone();
        if let Some(v) = params.get("priority") {
            match v {
                Value::Null => priority = None,
                Value::String(s) if s.is_empty() => priority = None,
                Value::String(s) if PRIORITIES.contains(&s.as_str()) => priority = Some(s.clone()),
                _ => invalid("priority", format!("Priority: {v} is not valid")),
            }
        }
        let mut kind = t.kind.clone();
        if let Some(v) = params.get("type") {
            match v {
                Value::Null => kind = None,
                Value::String(s) if s.is_empty() => kind = None,
                Value::String(s) if TYPES.contains(&s.as_str()) => kind = Some(s.clone()),
                _ => invalid("type", format!("Type: {v} is not valid")),
            }
        }
        let mut subject = t.subject.clone();
        if let Some(s) = params.get("subject").and_then(Value::as_str) {
            subject = s.to_string();
        }
        let mut assignee_id = t.assignee_id;
        if let Some(v) = params.get("assignee_id") {
            match v {
                Value::Null => assignee_id = None,
                v => match as_id(v) {
                    Some(a) if self.is_agent(a) => assignee_id = Some(a),
                    Some(a) if self.users.contains_key(&a) => invalid(
                        "assignee",
                        format!("Assignee: user {a} is not an agent and cannot be assigned"),
                    ),
                    _ => invalid("assignee_id", format!("Assignee: {v} is invalid")),
                },
            }
        }
        let mut group_id = t.group_id;
        if let Some(v) = params.get("group_id") {
            match v {
                Value::Null => group_id = None,
                v => match as_id(v) {
                    Some(g) => group_id = Some(g),
                    None => invalid("group_id", format!("Group: {v} is invalid")),
                },
            }
        }
        let mut tags = t.tags.clone();
        if let Some(v) = params.get("tags") {
            match parse_tags(v) {
                Some(new) => tags = new,
                None => invalid("tags", "Tags: must be a list of strings".to_string()),
            }
        }
        // Bulk-update style tag edits also work on a single update.
        if let Some(add) = params.get("additional_tags").and_then(parse_tags) {
            add.iter().for_each(|tag| push_unique(&mut tags, tag));
        }
        if let Some(remove) = params.get("remove_tags").and_then(parse_tags) {
            tags.retain(|tag| !remove.contains(tag));
        }
        let mut custom_fields = t.custom_fields.clone();
        for key in ["custom_fields", "fields"] {
            let Some(v) = params.get(key) else { continue };
            let Some(items) = v.as_array() else {
                invalid(key, format!("{key}: must be a list of {{id, value}}"));
                continue;
            };
            for item in items {
                match item.get("id").and_then(as_id) {
                    Some(fid) => {
                        custom_fields
                            .insert(fid, item.get("value").cloned().unwrap_or(Value::Null));
                    }
                    None => invalid(key, format!("{key}: entry {item} has no id")),
                }
            }
        }
        let mut comment: Option<(u64, String, bool)> = None;
        if let Some(c) = params.get("comment").filter(|c| !c.is_null()) {
            let body = c
                .get("body")
                .or_else(|| c.get("html_body"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            // Per the brief and the notes: a comment without `public` is public.
            let public = c.get("public").and_then(Value::as_bool).unwrap_or(true);
            let author = match c.get("author_id").filter(|a| !a.is_null()) {
                None => Some(actor),
                Some(a) => as_id(a).filter(|a| self.users.contains_key(a)),
            };
            match author {
                None => invalid("comment", "Comment: author is invalid".to_string()),
                // Zendesk ignores a blank comment rather than failing the update.
                Some(_) if body.trim().is_empty() => {}
                Some(author) => comment = Some((author, body.to_string(), public)),
            }
        }

        // Zendesk rules that follow from an agent's update (assumed from how the
        // agent UI and the API behave): any agent change moves a `new` ticket to
        // `open`, and solving an unassigned ticket assigns it to the solver.
        let any_change = comment.is_some()
            || status != t.status
            || assignee_id != t.assignee_id
            || group_id != t.group_id
            || priority != t.priority
            || kind != t.kind
            || subject != t.subject
            || tags != t.tags
            || custom_fields != t.custom_fields;
        if explicit_status.is_none() && t.status == "new" && any_change {
            status = "open".to_string();
        }
        if status == "solved" && assignee_id.is_none() {
            assignee_id = Some(actor);
        }
        if status == "solved" && t.status != "solved" {
            for fid in &self.required_on_solve {
                if custom_fields.get(fid).is_none_or(is_empty_value) {
                    invalid(
                        "base",
                        format!("Field {fid} is required to solve the ticket: it has no value"),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }

        // Build the audit: the comment first, then one Change per changed field.
        let mut changes: Vec<(String, Value, Value)> = Vec::new();
        let mut change = |name: &str, value: Value, previous: Value| {
            if value != previous {
                changes.push((
                    name.to_string(),
                    audit_value(&value),
                    audit_value(&previous),
                ));
            }
        };
        change("subject", json!(subject), json!(t.subject));
        change("status", json!(status), json!(t.status));
        change("priority", json!(priority), json!(t.priority));
        change("type", json!(kind), json!(t.kind));
        change("assignee_id", json!(assignee_id), json!(t.assignee_id));
        change("group_id", json!(group_id), json!(t.group_id));
        change("tags", json!(tags), json!(t.tags));
        for (fid, value) in &custom_fields {
            let previous = t.custom_fields.get(fid).cloned().unwrap_or(Value::Null);
            change(&fid.to_string(), value.clone(), previous);
        }
        let stamp = t.next_stamp();
        let unchanged = comment.is_none() && changes.is_empty();

        let audit_id = self.alloc_audit();
        let mut events = Vec::new();
        let mut new_comment = None;
        if let Some((author_id, body, public)) = comment {
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

        let comment_public = new_comment.as_ref().map(|c| c.public);
        let t = self.tickets.get_mut(&id).expect("checked above");
        let previous_status = t.status.clone();
        // An update that changes nothing creates no ticket event, so Zendesk leaves
        // `updated_at` alone (and a safe update made from it still succeeds).
        if !unchanged {
            t.status = status;
            t.priority = priority;
            t.kind = kind;
            t.subject = subject;
            t.assignee_id = assignee_id;
            t.group_id = group_id;
            t.tags = tags;
            t.custom_fields = custom_fields;
            t.comments.extend(new_comment);
            t.updated_at = stamp;
        }
        let created_at = if unchanged { t.updated_at } else { stamp };
        if !unchanged {
            let event = UpdateEvent {
                create: false,
                via_id: via_id::API,
                actor,
                actor_role: self.role_of(actor),
                comment_public,
                previous_status: Some(previous_status),
            };
            self.fire_triggers(id, event);
        }
        let t = self.tickets.get(&id).expect("exists");
        Ok(json!({
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
        }))
    }

    /// `GET|PUT|POST|DELETE /api/v2/tickets/{id}/tags`. `tags` comes from the body
    /// or, for DELETE, from the `tags` query parameter (comma-separated).
    pub(crate) fn api_tags(
        &mut self,
        id: u64,
        method: &str,
        body: Option<&Value>,
        query: &[(String, String)],
    ) -> Result<(u16, Value), ApiError> {
        let t = self.visible_ticket(id)?;
        if method == "GET" {
            return Ok((200, json!({"tags": t.tags})));
        }
        let empty = Map::new();
        let params = body.and_then(Value::as_object).unwrap_or(&empty);
        Self::check_safe_update(params, t)?;
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
        if tags != t.tags {
            self.alloc_audit();
            self.alloc_event();
            let t = self.tickets.get_mut(&id).expect("checked above");
            t.updated_at = t.next_stamp();
            t.tags = tags;
            let event = UpdateEvent {
                create: false,
                via_id: via_id::API,
                actor: self.seat.id,
                actor_role: self.seat.role.clone(),
                comment_public: None,
                previous_status: Some(t.status.clone()),
            };
            self.fire_triggers(id, event);
        }
        Ok((status, json!({"tags": self.tickets[&id].tags})))
    }
}

fn closed_error() -> ApiError {
    ApiError::Invalid(vec![(
        "status".to_string(),
        "Status: closed prevents ticket update".to_string(),
    )])
}

fn missing_param(name: &str) -> ApiError {
    ApiError::BadRequest(
        "ParameterMissing",
        format!("param is missing or the value is empty: {name}"),
    )
}

fn missing_ticket_param() -> ApiError {
    missing_param("ticket")
}

/// The value of query parameter `key`, if given.
pub(crate) fn query_param<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A page size parameter (`page[size]`, `per_page`): absent means the maximum.
pub(crate) fn parse_page_size(v: Option<&str>, name: &str) -> Result<usize, ApiError> {
    let Some(v) = v else { return Ok(MAX_PAGE) };
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Ok(n) if n > MAX_PAGE => Err(ApiError::BadRequest(
            "InvalidPaginationParameter",
            format!("{name} is greater than the maximum allowed page size of {MAX_PAGE}"),
        )),
        _ => Err(ApiError::BadRequest(
            "InvalidPaginationParameter",
            format!("{name} must be a positive integer"),
        )),
    }
}

/// Cursors are opaque to clients; here they carry the comment id.
fn encode_cursor(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("c:")?
        .parse()
        .ok()
}

/// Index of the first item at or past the cursor in the current order (comment
/// ids grow with creation time, so the id orders them).
fn cursor_position(
    ordered: &[&Comment],
    cursor: &str,
    desc: bool,
    name: &str,
) -> Result<usize, ApiError> {
    let id = decode_cursor(cursor).ok_or_else(|| {
        ApiError::BadRequest("InvalidPaginationParameter", format!("{name} is invalid"))
    })?;
    Ok(ordered
        .iter()
        .position(|c| if desc { c.id <= id } else { c.id >= id })
        .unwrap_or(ordered.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        assert_eq!(decode_cursor(&encode_cursor(10_042)), Some(10_042));
        assert_eq!(decode_cursor("not a cursor"), None);
    }

    #[test]
    fn stamp_strictly_advances_within_a_second() {
        let mut st = State::new(SimulatorConfig::default());
        let id = st.create_ticket(NewTicket {
            subject: "s".into(),
            body: "b".into(),
            ..Default::default()
        });
        let first = st.tickets[&id].updated_at;
        st.add_comment(id, NewComment::public(0, "again")).unwrap();
        st.add_comment(id, NewComment::public(0, "and again"))
            .unwrap();
        let third = st.tickets[&id].updated_at;
        assert!(third >= first + chrono::Duration::seconds(2));
    }

    #[test]
    fn auth_accepts_only_the_seat_token() {
        let st = State::new(SimulatorConfig::default());
        assert!(st.authenticates(Some(&st.auth_header())));
        let wrong = format!(
            "Basic {}",
            STANDARD.encode("gladly-ai@example.com/token:nope")
        );
        assert!(!st.authenticates(Some(&wrong)));
        assert!(!st.authenticates(Some("Bearer sim-token")));
        assert!(!st.authenticates(None));
    }

    #[test]
    fn faults_are_used_up() {
        let mut st = State::new(SimulatorConfig::default());
        st.faults.push(Fault {
            method: Some("put".into()),
            path_contains: Some("/tickets/".into()),
            status: 503,
            retry_after: None,
            times: 2,
        });
        assert!(st.take_fault("GET", "/api/v2/tickets/1").is_none());
        assert!(st.take_fault("PUT", "/api/v2/tickets/1").is_some());
        assert!(st.take_fault("PUT", "/api/v2/tickets/1").is_some());
        assert!(st.take_fault("PUT", "/api/v2/tickets/1").is_none());
    }

    #[test]
    fn quota_counts_a_sliding_minute() {
        let mut st = State::new(SimulatorConfig {
            rate_limit_per_minute: 2,
            ..Default::default()
        });
        let t0 = Instant::now();
        assert!(st.take_quota(t0));
        assert!(st.take_quota(t0));
        assert!(!st.take_quota(t0 + Duration::from_secs(30)));
        assert_eq!(st.quota_reset_secs(t0 + Duration::from_secs(30)), 30);
        assert!(st.take_quota(t0 + Duration::from_secs(60)));
    }
}
