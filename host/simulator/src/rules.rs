//! The account's configuration objects that `zendesk-gateway setup` manages or checks:
//! brands, groups and memberships, webhooks, triggers and automations, plus trigger
//! evaluation (which conditions hold for one ticket update, which webhooks to call).
//!
//! Shapes follow `shared/zendesk-api.md` ("Setting Zendesk up through its API") and
//! Zendesk's OpenAPI description (`TriggerObject`, `AutomationObject`, `BrandObject`,
//! `GroupObject`, `GroupMembershipObject`). The webhooks API is not in that description;
//! its shapes follow Zendesk's webhooks reference as far as the notes confirm it, and
//! the code says where it assumes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{json, Map, Value};

use crate::state::{fmt_time, parse_page_size, query_param, ApiError, STATUSES};
use crate::{SimBrand, SimGroup};

/// Via ids (Zendesk's "Via types reference"): the channel of an update, as trigger
/// conditions `via_id` / `current_via_id` compare it.
pub(crate) mod via_id {
    /// Web form or the agent interface.
    pub const WEB: u32 = 0;
    /// Email.
    pub const EMAIL: u32 = 4;
    /// Web Service (API): every update the gateway makes.
    pub const API: u32 = 5;
}

/// Condition fields the simulator evaluates, with the operators each accepts. A trigger
/// naming anything else is refused (422), so a mistake in `setup` shows up in tests
/// instead of a trigger that silently never fires.
const CONDITIONS: &[(&str, &[&str])] = &[
    ("update_type", &["is", "is_not"]),
    ("brand_id", &["is", "is_not"]),
    ("comment_is_public", &["is", "is_not"]),
    ("current_via_id", &["is", "is_not"]),
    ("via_id", &["is", "is_not"]),
    ("recipient", &["is", "is_not"]),
    (
        "status",
        &["is", "is_not", "less_than", "greater_than", "changed"],
    ),
    ("ticket_is_public", &["is", "is_not"]),
    ("assignee_id", &["is", "is_not"]),
    ("group_id", &["is", "is_not"]),
    ("requester_id", &["is", "is_not"]),
    ("current_user", &["is", "is_not"]),
    ("role", &["is", "is_not"]),
    ("current_tags", &["includes", "not_includes"]),
];

/// Automation conditions: time-based ones (in hours) and the ticket fields above.
const TIME_CONDITIONS: &[&str] = &[
    "NEW",
    "OPEN",
    "PENDING",
    "HOLD",
    "SOLVED",
    "CLOSED",
    "assigned_at",
    "updated_at",
    "requester_updated_at",
    "assignee_updated_at",
    "due_date",
    "until_due_date",
];

/// Action fields accepted. Only `notification_webhook` has an effect here: the
/// simulator models what the gateway depends on (the call to its webhook); ticket
/// changes and emails by triggers are accepted and recorded in the rule, not applied.
const ACTIONS: &[&str] = &[
    "notification_webhook",
    "notification_user",
    "notification_group",
    "status",
    "priority",
    "type",
    "assignee_id",
    "group_id",
    "set_tags",
    "current_tags",
    "remove_tags",
    "comment_value",
    "comment_mode_is_public",
];

/// What one ticket update looks like to trigger conditions.
#[derive(Debug, Clone)]
pub(crate) struct UpdateEvent {
    /// True for the update that created the ticket (`update_type` `Create`).
    pub(crate) create: bool,
    /// The channel of this update (see [`via_id`]).
    pub(crate) via_id: u32,
    /// Who made the update.
    pub(crate) actor: u64,
    /// `end-user`, `agent` or `admin`.
    pub(crate) actor_role: String,
    /// `Some(public)` when the update carries a comment.
    pub(crate) comment_public: Option<bool>,
    /// The status before the update (`None` on create).
    pub(crate) previous_status: Option<String>,
}

/// The ticket as trigger conditions see it after the update.
#[derive(Debug, Clone)]
pub(crate) struct TicketFacts {
    pub(crate) id: u64,
    pub(crate) subject: String,
    pub(crate) status: String,
    pub(crate) brand_id: u64,
    pub(crate) assignee_id: Option<u64>,
    pub(crate) group_id: Option<u64>,
    pub(crate) requester_id: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) is_public: bool,
    /// The channel the ticket was created through.
    pub(crate) via_id: u32,
}

/// A webhook call a trigger decided to make; sent off the request path.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// Index into the delivery log.
    pub(crate) seq: usize,
    pub(crate) webhook_id: String,
    pub(crate) endpoint: String,
    pub(crate) method: String,
    pub(crate) body: String,
    pub(crate) secret: String,
}

struct Webhook {
    id: String,
    name: String,
    description: Option<String>,
    status: String,
    endpoint: String,
    http_method: String,
    request_format: String,
    subscriptions: Vec<String>,
    secret: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    created_by: u64,
    updated_by: u64,
}

impl Webhook {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "subscriptions": self.subscriptions,
            "created_at": fmt_time(self.created_at),
            // Zendesk writes the creating user's id as a string here (assumed from
            // the webhooks reference's examples).
            "created_by": self.created_by.to_string(),
            "endpoint": self.endpoint,
            "http_method": self.http_method,
            "request_format": self.request_format,
            "updated_at": fmt_time(self.updated_at),
            "updated_by": self.updated_by.to_string(),
        });
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        v
    }
}

/// A trigger or an automation: both are a titled list of conditions and actions.
struct Rule {
    id: u64,
    title: String,
    description: Option<String>,
    active: bool,
    position: u64,
    all: Vec<Value>,
    any: Vec<Value>,
    actions: Vec<Value>,
    category_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Rule {
    fn trigger_json(&self, base: &str) -> Value {
        let mut v = json!({
            "url": format!("{base}/api/v2/triggers/{}.json", self.id),
            "id": self.id,
            "title": self.title,
            "raw_title": self.title,
            "active": self.active,
            "position": self.position,
            "default": false,
            "conditions": {"all": self.all, "any": self.any},
            "actions": self.actions,
            "category_id": self.category_id,
            "restriction": null,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        });
        v["description"] = json!(self.description.clone().unwrap_or_default());
        v
    }

    fn automation_json(&self) -> Value {
        // `AutomationObject` declares no `url`, `description` or `category_id`.
        json!({
            "id": self.id,
            "title": self.title,
            "raw_title": self.title,
            "active": self.active,
            "position": self.position,
            "default": false,
            "conditions": {"all": self.all, "any": self.any},
            "actions": self.actions,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

/// One row of the webhook call log (see [`crate::WebhookDelivery`]).
pub(crate) type DeliveryLog = Vec<crate::WebhookDelivery>;

/// The configuration objects of the simulated account.
pub(crate) struct Rules {
    brands: Vec<SimBrand>,
    groups: Vec<SimGroup>,
    /// (membership id, user id, group id), in creation order.
    memberships: Vec<(u64, u64, u64)>,
    webhooks: Vec<Webhook>,
    triggers: BTreeMap<u64, Rule>,
    automations: BTreeMap<u64, Rule>,
    next_rule_id: u64,
    created_at: DateTime<Utc>,
    pub(crate) deliveries: DeliveryLog,
}

/// A string id that sorts by creation time, like the ULIDs Zendesk gives webhooks:
/// 48 bits of milliseconds and 80 random bits in Crockford's base 32 (26 characters).
fn ulid(now: DateTime<Utc>) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let mut n: u128 = (now.timestamp_millis().max(0) as u128) << 80;
    for (i, b) in random.iter().enumerate() {
        n |= (*b as u128) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| ALPHABET[((n >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// A new signing secret: 32 random bytes in URL-safe base64, the form of the secret in
/// Zendesk's published example (`HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=`).
fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// A condition or action value as Zendesk stores it: numbers and booleans become strings
/// (Zendesk answers `"value": "296220096"` whatever was sent).
fn stored_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(stored_value).collect()),
        other => other.clone(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn webhook_invalid(msg: impl Into<String>) -> ApiError {
    ApiError::WebhookInvalid(msg.into())
}

/// The rules the `active=true|false` query parameter asks for (all without it), in
/// the order Zendesk runs them: by position, then id.
fn active_in_order<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    query: &[(String, String)],
) -> Vec<&'r Rule> {
    let active = query_param(query, "active").map(|v| v == "true");
    let mut rules: Vec<&Rule> = rules
        .filter(|r| active.is_none_or(|a| r.active == a))
        .collect();
    rules.sort_by_key(|r| (r.position, r.id));
    rules
}

/// Offset paging over an already ordered list, as Zendesk's `page` / `per_page`.
fn offset_page(
    items: Vec<Value>,
    key: &str,
    query: &[(String, String)],
    path: &str,
) -> Result<Value, ApiError> {
    let q = |k: &str| query_param(query, k);
    let per_page = parse_page_size(q("per_page"), "per_page")?;
    let page = match q("page") {
        None => 1,
        Some(v) => v.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            ApiError::BadRequest(
                "InvalidPaginationParameter",
                "page must be a positive integer".to_string(),
            )
        })?,
    };
    let count = items.len();
    let start = (page - 1).saturating_mul(per_page).min(count);
    let end = (start + per_page).min(count);
    let link = |p: usize| format!("{path}?page={p}&per_page={per_page}");
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(items[start..end].to_vec()));
    out.insert(
        "next_page".into(),
        json!((end < count).then(|| link(page + 1))),
    );
    out.insert(
        "previous_page".into(),
        json!((page > 1).then(|| link(page - 1))),
    );
    out.insert("count".into(), json!(count));
    Ok(Value::Object(out))
}

impl Rules {
    pub(crate) fn new(
        brands: Vec<SimBrand>,
        groups: Vec<SimGroup>,
        seat_id: u64,
        seat_group_ids: Option<&[u64]>,
        now: DateTime<Utc>,
    ) -> Rules {
        let mut memberships = Vec::new();
        let mut next_membership = 70_001;
        for g in &groups {
            for user in &g.member_ids {
                memberships.push((next_membership, *user, g.id));
                next_membership += 1;
            }
        }
        // A seat restricted to some groups is a member of each of them.
        for gid in seat_group_ids.unwrap_or_default() {
            if !memberships
                .iter()
                .any(|(_, u, g)| *u == seat_id && g == gid)
            {
                memberships.push((next_membership, seat_id, *gid));
                next_membership += 1;
            }
        }
        Rules {
            brands,
            groups,
            memberships,
            webhooks: Vec::new(),
            triggers: BTreeMap::new(),
            automations: BTreeMap::new(),
            next_rule_id: 360_100_001,
            created_at: now,
            deliveries: Vec::new(),
        }
    }

    fn alloc_rule_id(&mut self) -> u64 {
        let id = self.next_rule_id;
        self.next_rule_id += 1;
        id
    }

    // ---- brands, groups, memberships -------------------------------------------------

    /// `GET /api/v2/brands`: every brand, sorted by name (as the OAS says).
    pub(crate) fn list_brands(&self, base: &str) -> Value {
        let mut brands: Vec<&SimBrand> = self.brands.iter().collect();
        brands.sort_by(|a, b| a.name.cmp(&b.name));
        let default_id = self.brands.first().map(|b| b.id);
        let list: Vec<Value> = brands
            .iter()
            .map(|b| {
                json!({
                    "url": format!("{base}/api/v2/brands/{}.json", b.id),
                    "id": b.id,
                    "name": b.name,
                    "brand_url": format!("https://{}.zendesk.com", b.subdomain),
                    "subdomain": b.subdomain,
                    "has_help_center": false,
                    "help_center_state": "disabled",
                    "active": true,
                    "default": Some(b.id) == default_id,
                    "is_deleted": false,
                    "ticket_form_ids": [],
                    "signature_template": "{{agent.signature}}",
                    "user_separation": "account",
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        let count = list.len();
        json!({"brands": list, "count": count, "next_page": null, "previous_page": null})
    }

    /// `GET /api/v2/groups`.
    pub(crate) fn list_groups(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                json!({
                    "url": format!("{base}/api/v2/groups/{}.json", g.id),
                    "id": g.id,
                    "name": g.name,
                    "description": "",
                    "default": false,
                    "deleted": false,
                    "is_public": true,
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        offset_page(
            groups,
            "groups",
            query,
            &format!("{base}/api/v2/groups.json"),
        )
    }

    /// `GET /api/v2/group_memberships`, `/api/v2/users/{id}/group_memberships` and
    /// `/api/v2/groups/{id}/memberships`.
    pub(crate) fn list_memberships(
        &self,
        user: Option<u64>,
        group: Option<u64>,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let list: Vec<Value> = self
            .memberships
            .iter()
            .filter(|(_, u, g)| user.is_none_or(|x| x == *u) && group.is_none_or(|x| x == *g))
            .map(|(id, u, g)| {
                // The user's first membership is the default one.
                let default = self
                    .memberships
                    .iter()
                    .find(|(_, u2, _)| u2 == u)
                    .is_some_and(|(first, _, _)| first == id);
                json!({
                    "url": format!("{base}/api/v2/group_memberships/{id}.json"),
                    "id": id,
                    "user_id": u,
                    "group_id": g,
                    "default": default,
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        let path = match (user, group) {
            (Some(u), _) => format!("{base}/api/v2/users/{u}/group_memberships.json"),
            (None, Some(g)) => format!("{base}/api/v2/groups/{g}/memberships.json"),
            _ => format!("{base}/api/v2/group_memberships.json"),
        };
        offset_page(list, "group_memberships", query, &path)
    }

    // ---- webhooks ----------------------------------------------------------------------

    fn webhook_index(&self, id: &str) -> Result<usize, ApiError> {
        self.webhooks
            .iter()
            .position(|w| w.id == id)
            .ok_or(ApiError::NotFound)
    }

    /// `GET /api/v2/webhooks`: cursor paging (`page[size]`, `page[after]`), and the
    /// filters `filter[name_contains]` and `filter[status]`.
    pub(crate) fn list_webhooks(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let q = |k: &str| query_param(query, k);
        let size = parse_page_size(q("page[size]"), "page[size]")?;
        let name_filter = q("filter[name_contains]").map(str::to_lowercase);
        let status_filter = q("filter[status]");
        let matching: Vec<&Webhook> = self
            .webhooks
            .iter()
            .filter(|w| {
                name_filter
                    .as_deref()
                    .is_none_or(|n| w.name.to_lowercase().contains(n))
                    && status_filter.is_none_or(|s| w.status == s)
            })
            .collect();
        // The cursor is the id of the last webhook of the previous page. (Ids made in
        // the same millisecond do not sort by creation, so find it, not compare it.)
        let start = match q("page[after]") {
            Some(after) => match matching.iter().position(|w| w.id == after) {
                Some(i) => i + 1,
                None => matching
                    .iter()
                    .position(|w| w.id.as_str() > after)
                    .unwrap_or(matching.len()),
            },
            None => 0,
        };
        let page = &matching[start..(start + size).min(matching.len())];
        let has_more = start + page.len() < matching.len();
        let after = page.last().map(|w| w.id.clone());
        let before = page.first().map(|w| w.id.clone());
        let next = match (&after, has_more) {
            (Some(a), true) => Some(format!(
                "{base}/api/v2/webhooks?page%5Bafter%5D={a}&page%5Bsize%5D={size}"
            )),
            _ => None,
        };
        Ok(json!({
            "webhooks": page.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {"next": next, "prev": null},
        }))
    }

    /// Reads and checks the writable fields of a webhook body, on top of `current`
    /// (all fields required on create).
    fn webhook_fields(
        body: Option<&Value>,
        current: Option<&Webhook>,
    ) -> Result<Webhook, ApiError> {
        let w = body
            .and_then(|b| b.get("webhook"))
            .and_then(Value::as_object)
            .ok_or_else(|| webhook_invalid("the body must be {\"webhook\": {...}}"))?;
        let text = |key: &str, fallback: Option<&String>| -> Result<String, ApiError> {
            match w.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(_) => Err(webhook_invalid(format!("{key} must be a non-empty string"))),
                None => fallback
                    .cloned()
                    .ok_or_else(|| webhook_invalid(format!("{key} is required"))),
            }
        };
        let name = text("name", current.map(|c| &c.name))?;
        let endpoint = text("endpoint", current.map(|c| &c.endpoint))?;
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(webhook_invalid(format!(
                "endpoint {endpoint:?} must be an http(s) URL"
            )));
        }
        let http_method = text("http_method", current.map(|c| &c.http_method))?;
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&http_method.as_str()) {
            return Err(webhook_invalid(format!(
                "http_method {http_method:?} must be GET, POST, PUT, PATCH or DELETE"
            )));
        }
        let request_format = text("request_format", current.map(|c| &c.request_format))?;
        if !["json", "xml", "form_encoded"].contains(&request_format.as_str()) {
            return Err(webhook_invalid(format!(
                "request_format {request_format:?} must be json, xml or form_encoded"
            )));
        }
        let status = text("status", current.map(|c| &c.status))?;
        if !["active", "inactive"].contains(&status.as_str()) {
            return Err(webhook_invalid(format!(
                "status {status:?} must be active or inactive"
            )));
        }
        let subscriptions = match w.get("subscriptions") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| webhook_invalid("subscriptions must be a list of strings"))?,
            Some(_) => return Err(webhook_invalid("subscriptions must be a list of strings")),
            None => match current {
                Some(c) => c.subscriptions.clone(),
                None => return Err(webhook_invalid("subscriptions is required")),
            },
        };
        let description = match w.get("description") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) => None,
            Some(_) => return Err(webhook_invalid("description must be a string")),
            None => current.and_then(|c| c.description.clone()),
        };
        Ok(Webhook {
            id: String::new(),
            name,
            description,
            status,
            endpoint,
            http_method,
            request_format,
            subscriptions,
            secret: String::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            created_by: 0,
            updated_by: 0,
        })
    }

    /// `POST /api/v2/webhooks` -> 201 `{"webhook": ...}`.
    pub(crate) fn create_webhook(
        &mut self,
        body: Option<&Value>,
        actor: u64,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let mut w = Self::webhook_fields(body, None)?;
        w.id = ulid(now);
        w.secret = new_secret();
        w.created_at = now;
        w.updated_at = now;
        w.created_by = actor;
        w.updated_by = actor;
        let v = w.to_json();
        self.webhooks.push(w);
        Ok(json!({"webhook": v}))
    }

    /// `GET /api/v2/webhooks/{id}`.
    pub(crate) fn show_webhook(&self, id: &str) -> Result<Value, ApiError> {
        let i = self.webhook_index(id)?;
        Ok(json!({"webhook": self.webhooks[i].to_json()}))
    }

    /// `PUT` (replace) or `PATCH` (merge) `/api/v2/webhooks/{id}` -> 204 without body,
    /// as Zendesk answers an update. The signing secret is kept.
    pub(crate) fn update_webhook(
        &mut self,
        id: &str,
        body: Option<&Value>,
        actor: u64,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let i = self.webhook_index(id)?;
        let next = Self::webhook_fields(body, Some(&self.webhooks[i]))?;
        let w = &mut self.webhooks[i];
        w.name = next.name;
        w.description = next.description;
        w.status = next.status;
        w.endpoint = next.endpoint;
        w.http_method = next.http_method;
        w.request_format = next.request_format;
        w.subscriptions = next.subscriptions;
        w.updated_at = now;
        w.updated_by = actor;
        Ok(())
    }

    /// `GET /api/v2/webhooks/{id}/signing_secret`.
    pub(crate) fn signing_secret(&self, id: &str) -> Result<Value, ApiError> {
        let i = self.webhook_index(id)?;
        Ok(json!({"signing_secret": {"algorithm": "sha256", "secret": self.webhooks[i].secret}}))
    }

    /// `POST /api/v2/webhooks/{id}/signing_secret`: a new secret (the old one stops
    /// signing at once).
    pub(crate) fn reset_signing_secret(&mut self, id: &str) -> Result<Value, ApiError> {
        let i = self.webhook_index(id)?;
        self.webhooks[i].secret = new_secret();
        self.signing_secret(id)
    }

    /// The current signing secret of a webhook (for tests).
    pub(crate) fn webhook_secret(&self, id: &str) -> Option<String> {
        self.webhooks
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.secret.clone())
    }

    /// Every webhook as the API shows it.
    pub(crate) fn webhooks_json(&self) -> Vec<Value> {
        self.webhooks.iter().map(Webhook::to_json).collect()
    }

    // ---- triggers and automations ------------------------------------------------------

    /// Validates conditions; returns them as stored.
    fn conditions(
        list: Option<&Value>,
        key: &str,
        automation: bool,
        errors: &mut Vec<(String, String)>,
    ) -> Vec<Value> {
        let Some(list) = list.filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Some(items) = list.as_array() else {
            errors.push((key.into(), format!("{key} must be a list of conditions")));
            return Vec::new();
        };
        for c in items {
            let field = c.get("field").and_then(Value::as_str).unwrap_or_default();
            let operator = c
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if automation && TIME_CONDITIONS.contains(&field) {
                if !["is", "less_than", "greater_than"].contains(&operator) {
                    errors.push((
                        key.into(),
                        format!("{field}: operator {operator:?} is not valid for a time condition"),
                    ));
                }
                continue;
            }
            match CONDITIONS.iter().find(|(f, _)| *f == field) {
                None => errors.push((
                    key.into(),
                    format!("{field:?} is not a condition this simulator knows (see rules.rs)"),
                )),
                Some((_, ops)) if !ops.contains(&operator) => errors.push((
                    key.into(),
                    format!("{field}: operator {operator:?} is not one of {ops:?}"),
                )),
                _ => {}
            }
        }
        items
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some(v) = c.get("value").cloned() {
                    c["value"] = stored_value(&v);
                }
                c
            })
            .collect()
    }

    fn actions(&self, list: Option<&Value>, errors: &mut Vec<(String, String)>) -> Vec<Value> {
        let items = match list.filter(|v| !v.is_null()) {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) | None => {
                errors.push(("actions".into(), "Actions: cannot be blank".into()));
                return Vec::new();
            }
            Some(_) => {
                errors.push(("actions".into(), "Actions: must be a list".into()));
                return Vec::new();
            }
        };
        for a in items {
            let field = a.get("field").and_then(Value::as_str).unwrap_or_default();
            if !ACTIONS.contains(&field) {
                errors.push((
                    "actions".into(),
                    format!("{field:?} is not an action this simulator knows (see rules.rs)"),
                ));
                continue;
            }
            if field == "notification_webhook" {
                let parts = a.get("value").and_then(Value::as_array);
                let id = parts.and_then(|p| p.first()).and_then(Value::as_str);
                let body = parts.and_then(|p| p.get(1)).and_then(Value::as_str);
                match (id, body) {
                    (Some(id), Some(_)) if self.webhook_index(id).is_ok() => {}
                    (Some(id), Some(_)) => errors.push((
                        "actions".into(),
                        format!("notification_webhook: no webhook with id {id:?}"),
                    )),
                    _ => errors.push((
                        "actions".into(),
                        "notification_webhook: value must be [\"<webhook id>\", \"<body>\"]".into(),
                    )),
                }
            }
        }
        items
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(v) = a.get("value").cloned() {
                    a["value"] = stored_value(&v);
                }
                a
            })
            .collect()
    }

    /// Builds a rule from a create or update body (`{"trigger": ...}` or
    /// `{"automation": ...}`) on top of `current`.
    ///
    /// As the OAS notes for updates: sending conditions or actions replaces BOTH lists,
    /// so an update must carry all of them.
    fn rule_fields(
        &self,
        body: Option<&Value>,
        key: &str,
        current: Option<&Rule>,
        automation: bool,
    ) -> Result<Rule, ApiError> {
        let obj = body
            .and_then(|b| b.get(key))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "ParameterMissing",
                    format!("param is missing or the value is empty: {key}"),
                )
            })?;
        let mut errors = Vec::new();
        let title = match obj.get("title") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => {
                errors.push(("title".into(), "Title: cannot be blank".into()));
                String::new()
            }
            None => match current {
                Some(c) => c.title.clone(),
                None => {
                    errors.push(("title".into(), "Title: cannot be blank".into()));
                    String::new()
                }
            },
        };
        let conditions = obj.get("conditions").filter(|c| !c.is_null());
        // The deprecated top-level `all` / `any` still work.
        let all_src = conditions
            .and_then(|c| c.get("all"))
            .or_else(|| obj.get("all"));
        let any_src = conditions
            .and_then(|c| c.get("any"))
            .or_else(|| obj.get("any"));
        let rules_given = conditions.is_some()
            || obj.contains_key("all")
            || obj.contains_key("any")
            || obj.contains_key("actions");
        let (all, any, actions) = match (rules_given, current) {
            (false, Some(c)) => (c.all.clone(), c.any.clone(), c.actions.clone()),
            _ => (
                Self::conditions(all_src, "conditions.all", automation, &mut errors),
                Self::conditions(any_src, "conditions.any", automation, &mut errors),
                self.actions(obj.get("actions"), &mut errors),
            ),
        };
        if automation && errors.is_empty() {
            let fields: Vec<&str> = all
                .iter()
                .filter_map(|c| c.get("field").and_then(Value::as_str))
                .collect();
            if !fields.iter().any(|f| TIME_CONDITIONS.contains(f)) {
                errors.push((
                    "base".into(),
                    "Automations need at least one time-based condition in \"all\"".into(),
                ));
            }
            if !fields
                .iter()
                .any(|f| ["status", "type", "group_id", "assignee_id", "requester_id"].contains(f))
            {
                errors.push((
                    "base".into(),
                    "Automations need a condition on status, type, group_id, assignee_id or requester_id in \"all\"".into(),
                ));
            }
            // The action must undo one condition, or the automation fires every hour
            // forever; checked here as "an action sets a field a condition tests".
            let nullifies = actions.iter().any(|a| {
                a.get("field")
                    .and_then(Value::as_str)
                    .is_some_and(|f| fields.contains(&f))
            });
            if !nullifies {
                errors.push((
                    "base".into(),
                    "Automations need an action that nullifies one of their conditions".into(),
                ));
            }
        }
        let active = match obj.get("active") {
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(("active".into(), "Active: must be true or false".into()));
                true
            }
            None => current.is_none_or(|c| c.active),
        };
        let description = match obj.get("description") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => current.and_then(|c| c.description.clone()),
        };
        let category_id = match obj.get("category_id") {
            Some(Value::Null) => None,
            Some(v) => Some(value_text(v)),
            None => current.and_then(|c| c.category_id.clone()),
        };
        let position = match obj.get("position").and_then(Value::as_u64) {
            Some(p) => p,
            None => current.map_or(0, |c| c.position),
        };
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let now = Utc::now();
        Ok(Rule {
            id: current.map_or(0, |c| c.id),
            title,
            description,
            active,
            position,
            all,
            any,
            actions,
            category_id,
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
        })
    }

    /// `GET /api/v2/triggers` (offset paging; `active=true|false` filters), ordered by
    /// position as Zendesk runs them.
    pub(crate) fn list_triggers(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let rules = active_in_order(self.triggers.values(), query);
        let list = rules.iter().map(|r| r.trigger_json(base)).collect();
        offset_page(
            list,
            "triggers",
            query,
            &format!("{base}/api/v2/triggers.json"),
        )
    }

    /// `GET /api/v2/triggers/{id}`.
    pub(crate) fn show_trigger(&self, id: u64, base: &str) -> Result<Value, ApiError> {
        let r = self.triggers.get(&id).ok_or(ApiError::NotFound)?;
        Ok(json!({"trigger": r.trigger_json(base)}))
    }

    /// `POST /api/v2/triggers` -> 201. A new trigger goes last.
    pub(crate) fn create_trigger(
        &mut self,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let mut rule = self.rule_fields(body, "trigger", None, false)?;
        rule.id = self.alloc_rule_id();
        if rule.position == 0 {
            rule.position = self
                .triggers
                .values()
                .map(|r| r.position)
                .max()
                .unwrap_or(0)
                + 1;
        }
        let v = rule.trigger_json(base);
        self.triggers.insert(rule.id, rule);
        Ok(json!({"trigger": v}))
    }

    /// `PUT /api/v2/triggers/{id}`.
    pub(crate) fn update_trigger(
        &mut self,
        id: u64,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let current = self.triggers.get(&id).ok_or(ApiError::NotFound)?;
        let rule = self.rule_fields(body, "trigger", Some(current), false)?;
        let v = rule.trigger_json(base);
        self.triggers.insert(id, rule);
        Ok(json!({"trigger": v}))
    }

    /// `GET /api/v2/automations` (offset paging, `active` filter).
    pub(crate) fn list_automations(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let rules = active_in_order(self.automations.values(), query);
        let list = rules.iter().map(|r| r.automation_json()).collect();
        offset_page(
            list,
            "automations",
            query,
            &format!("{base}/api/v2/automations.json"),
        )
    }

    /// `POST /api/v2/automations` -> 201.
    pub(crate) fn create_automation(&mut self, body: Option<&Value>) -> Result<Value, ApiError> {
        let mut rule = self.rule_fields(body, "automation", None, true)?;
        rule.id = self.alloc_rule_id();
        if rule.position == 0 {
            rule.position = self
                .automations
                .values()
                .map(|r| r.position)
                .max()
                .unwrap_or(0)
                + 1;
        }
        let v = rule.automation_json();
        self.automations.insert(rule.id, rule);
        Ok(json!({"automation": v}))
    }

    /// `PUT /api/v2/automations/{id}`.
    pub(crate) fn update_automation(
        &mut self,
        id: u64,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let current = self.automations.get(&id).ok_or(ApiError::NotFound)?;
        let rule = self.rule_fields(body, "automation", Some(current), true)?;
        let v = rule.automation_json();
        self.automations.insert(id, rule);
        Ok(json!({"automation": v}))
    }

    /// Seeds a trigger from its create body (the simulator config's `triggers`).
    pub(crate) fn seed_trigger(&mut self, trigger: &Value) -> Result<(), String> {
        let body = json!({ "trigger": trigger });
        self.create_trigger(Some(&body), "")
            .map(|_| ())
            .map_err(|e| format!("seeded trigger {trigger} is invalid: {e:?}"))
    }

    /// Every trigger as the API shows it, in position order.
    pub(crate) fn triggers_json(&self, base: &str) -> Vec<Value> {
        let mut rules: Vec<&Rule> = self.triggers.values().collect();
        rules.sort_by_key(|r| (r.position, r.id));
        rules.iter().map(|r| r.trigger_json(base)).collect()
    }

    /// Every automation as the API shows it.
    pub(crate) fn automations_json(&self) -> Vec<Value> {
        self.automations
            .values()
            .map(Rule::automation_json)
            .collect()
    }

    // ---- trigger evaluation ------------------------------------------------------------

    /// The webhook calls the active triggers make for one update, in trigger order.
    /// Each trigger fires at most once per update, as in Zendesk. Only
    /// `notification_webhook` actions are carried out (see [`ACTIONS`]).
    pub(crate) fn fire(&mut self, ticket: &TicketFacts, event: &UpdateEvent) -> Vec<Delivery> {
        let mut rules: Vec<&Rule> = self.triggers.values().filter(|r| r.active).collect();
        rules.sort_by_key(|r| (r.position, r.id));
        let mut out = Vec::new();
        let mut log = Vec::new();
        for rule in rules {
            let all_hold = rule.all.iter().all(|c| condition_holds(c, ticket, event));
            let any_holds =
                rule.any.is_empty() || rule.any.iter().any(|c| condition_holds(c, ticket, event));
            if !(all_hold && any_holds) {
                continue;
            }
            for action in &rule.actions {
                if action.get("field").and_then(Value::as_str) != Some("notification_webhook") {
                    continue;
                }
                let parts = action.get("value").and_then(Value::as_array);
                let (Some(id), Some(template)) = (
                    parts.and_then(|p| p.first()).and_then(Value::as_str),
                    parts.and_then(|p| p.get(1)).and_then(Value::as_str),
                ) else {
                    continue;
                };
                let Some(w) = self.webhooks.iter().find(|w| w.id == id) else {
                    continue;
                };
                // An inactive webhook, or one not subscribed to trigger events, is
                // not called.
                if w.status != "active"
                    || !w
                        .subscriptions
                        .iter()
                        .any(|s| s == "conditional_ticket_events")
                {
                    continue;
                }
                let body = render(template, ticket);
                let seq = self.deliveries.len() + log.len();
                log.push(crate::WebhookDelivery {
                    id: seq as u64,
                    webhook_id: w.id.clone(),
                    trigger_id: rule.id,
                    ticket_id: ticket.id,
                    endpoint: w.endpoint.clone(),
                    body: body.clone(),
                    status: None,
                    error: None,
                    requested_at: Utc::now(),
                });
                out.push(Delivery {
                    seq,
                    webhook_id: w.id.clone(),
                    endpoint: w.endpoint.clone(),
                    method: w.http_method.clone(),
                    body,
                    secret: w.secret.clone(),
                });
            }
        }
        self.deliveries.extend(log);
        out
    }
}

/// Placeholders Zendesk would fill in a webhook body: the few a gateway trigger uses.
fn render(template: &str, t: &TicketFacts) -> String {
    template
        .replace("{{ticket.id}}", &t.id.to_string())
        .replace("{{ticket.status}}", &t.status)
        .replace("{{ticket.brand.id}}", &t.brand_id.to_string())
        .replace("{{ticket.title}}", &t.subject)
}

fn status_rank(s: &str) -> Option<usize> {
    STATUSES.iter().position(|x| x.eq_ignore_ascii_case(s))
}

/// Whether one `{field, operator, value}` condition holds for this update.
fn condition_holds(c: &Value, t: &TicketFacts, e: &UpdateEvent) -> bool {
    let field = c.get("field").and_then(Value::as_str).unwrap_or_default();
    let op = c
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = c.get("value").map(value_text).unwrap_or_default();
    let id_matches = |actual: Option<u64>| match value.as_str() {
        "" => actual.is_none(),
        "current_user" => actual == Some(e.actor),
        v => v.parse::<u64>().ok() == actual,
    };
    let is = |holds: bool| match op {
        "is" | "includes" => holds,
        "is_not" | "not_includes" => !holds,
        _ => false,
    };
    match field {
        "update_type" => is(if e.create {
            value.eq_ignore_ascii_case("Create")
        } else {
            value.eq_ignore_ascii_case("Change")
        }),
        "brand_id" => is(value.parse::<u64>().ok() == Some(t.brand_id)),
        "comment_is_public" => match value.as_str() {
            "not_relevant" => true,
            "true" | "requester_can_see_comment" => is(e.comment_public == Some(true)),
            "false" => is(e.comment_public == Some(false)),
            _ => false,
        },
        "current_via_id" => is(value.parse::<u32>().ok() == Some(e.via_id)),
        "via_id" => is(value.parse::<u32>().ok() == Some(t.via_id)),
        // Tickets here are never received at a support address, so "Received at" never
        // matches: `is` fails and `is_not` holds.
        "recipient" => is(false),
        "status" => {
            let (Some(actual), wanted) = (status_rank(&t.status), status_rank(&value)) else {
                return false;
            };
            match op {
                "is" => wanted == Some(actual),
                "is_not" => wanted != Some(actual),
                "less_than" => wanted.is_some_and(|w| actual < w),
                "greater_than" => wanted.is_some_and(|w| actual > w),
                "changed" => e.previous_status.as_deref() != Some(t.status.as_str()),
                _ => false,
            }
        }
        "ticket_is_public" => is((value == "public") == t.is_public),
        "assignee_id" => is(id_matches(t.assignee_id)),
        "group_id" => is(id_matches(t.group_id)),
        "requester_id" => is(id_matches(Some(t.requester_id))),
        "current_user" => match value.as_str() {
            "end_user" | "(end_user)" => is(e.actor_role == "end-user"),
            "agent" | "(agent)" => is(e.actor_role != "end-user"),
            v => is(v.parse::<u64>().ok() == Some(e.actor)),
        },
        "role" => is(match value.as_str() {
            "end_user" => e.actor_role == "end-user",
            "agent" => e.actor_role == "agent" || e.actor_role == "admin",
            "admin" => e.actor_role == "admin",
            _ => false,
        }),
        "current_tags" => is(value
            .split_whitespace()
            .any(|tag| t.tags.iter().any(|x| x == tag))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_26_crockford_characters_in_time_order() {
        let a = ulid("2024-01-01T00:00:00Z".parse().unwrap());
        let b = ulid("2024-01-01T00:00:01Z".parse().unwrap());
        assert_eq!(a.len(), 26);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && c != 'I' && c != 'L'));
        assert!(a < b);
    }

    #[test]
    fn conditions_evaluate_for_one_update() {
        let t = TicketFacts {
            id: 7,
            subject: "s".into(),
            status: "open".into(),
            brand_id: 2,
            assignee_id: None,
            group_id: Some(10),
            requester_id: 501,
            tags: vec!["vip".into()],
            is_public: true,
            via_id: via_id::WEB,
        };
        let e = UpdateEvent {
            create: false,
            via_id: via_id::API,
            actor: 9000,
            actor_role: "agent".into(),
            comment_public: Some(true),
            previous_status: Some("new".into()),
        };
        let holds = |f: &str, op: &str, v: Value| {
            condition_holds(&json!({"field": f, "operator": op, "value": v}), &t, &e)
        };
        assert!(holds("update_type", "is", json!("Change")));
        assert!(!holds("update_type", "is", json!("Create")));
        assert!(holds("brand_id", "is", json!("2")));
        assert!(holds("comment_is_public", "is", json!("true")));
        assert!(!holds("current_via_id", "is_not", json!("5")));
        assert!(holds("recipient", "is_not", json!("ai@x")));
        assert!(holds("status", "less_than", json!("solved")));
        assert!(holds("status", "changed", Value::Null));
        assert!(holds("assignee_id", "is", json!("")));
        assert!(holds("group_id", "is", json!("10")));
        assert!(holds("current_tags", "includes", json!("vip gold")));
        assert!(holds("current_user", "is", json!("9000")));
    }
}
