//! How a simulated account is set up: its seat, users, brands, groups and starting
//! triggers ([`SimulatorConfig`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The brand a ticket gets when the creator names none (admin API without `brand_id`).
pub const DEFAULT_BRAND_ID: u64 = 1;

/// A Zendesk user known to the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// The user id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Primary email address.
    pub email: String,
    /// `end-user`, `agent` or `admin`.
    pub role: String,
}

impl SimUser {
    /// A user with the given fields; saves writing `.to_string()` four times in tests.
    pub fn new(id: u64, name: &str, email: &str, role: &str) -> SimUser {
        SimUser {
            id,
            name: name.to_string(),
            email: email.to_string(),
            role: role.to_string(),
        }
    }
}

/// A Zendesk brand (`GET /api/v2/brands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimBrand {
    /// The brand id (tickets carry it as `brand_id`).
    pub id: u64,
    /// The brand's name, as setup looks it up.
    pub name: String,
    /// Its `{subdomain}.zendesk.com` host name.
    pub subdomain: String,
}

impl SimBrand {
    /// A brand with the given fields.
    pub fn new(id: u64, name: &str, subdomain: &str) -> SimBrand {
        SimBrand {
            id,
            name: name.to_string(),
            subdomain: subdomain.to_string(),
        }
    }
}

/// A group of agents (`GET /api/v2/groups`) and who is a member of it
/// (`GET /api/v2/group_memberships`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimGroup {
    /// The group id.
    pub id: u64,
    /// The group's name.
    pub name: String,
    /// The user ids of its members (agents).
    pub member_ids: Vec<u64>,
}

impl SimGroup {
    /// A group with the given members.
    pub fn new(id: u64, name: &str, member_ids: &[u64]) -> SimGroup {
        SimGroup {
            id,
            name: name.to_string(),
            member_ids: member_ids.to_vec(),
        }
    }
}

/// A custom ticket field (`GET /api/v2/ticket_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTicketField {
    /// The field id.
    pub id: u64,
    /// Zendesk's type: `text`, `tagger`, `checkbox`, `integer`...
    pub kind: String,
    /// The title agents see.
    pub title: String,
    /// "Required to solve a ticket" (fields in `required_on_solve` are too).
    pub required: bool,
    /// A drop-down's options: (name, tag value).
    pub options: Vec<(String, String)>,
}

impl SimTicketField {
    /// A field with no options.
    pub fn new(id: u64, kind: &str, title: &str, required: bool) -> SimTicketField {
        SimTicketField {
            id,
            kind: kind.to_string(),
            title: title.to_string(),
            required,
            options: Vec::new(),
        }
    }

    /// A drop-down (`tagger`) with `options` as (name, value).
    pub fn dropdown(
        id: u64,
        title: &str,
        required: bool,
        options: &[(&str, &str)],
    ) -> SimTicketField {
        SimTicketField {
            options: options
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..SimTicketField::new(id, "tagger", title, required)
        }
    }
}

/// A ticket form (`GET /api/v2/ticket_forms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimTicketForm {
    /// The form id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The fields on it.
    pub field_ids: Vec<u64>,
    /// Zendesk's `agent_conditions` objects, as given.
    pub agent_conditions: Vec<Value>,
}

/// A business hours schedule (`GET /api/v2/business_hours/schedules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSchedule {
    /// The schedule id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Zendesk's time zone name (`London`, `Eastern Time (US & Canada)`).
    pub time_zone: String,
    /// Working periods in minutes since Sunday 00:00 local time.
    pub intervals: Vec<(u32, u32)>,
}

/// A custom agent role (`GET /api/v2/custom_roles`, Zendesk Enterprise): the part of its
/// `configuration` that decides which tickets an agent may update. Shapes and values as
/// in Zendesk's custom roles reference (`ticket_access` is one of `all`,
/// `within-groups`, `within-groups-and-public-groups`, `within-organization`,
/// `assigned-only`; the reference's example shows `within-groups`, the rest of the
/// list is as the Admin Center offers it, not confirmed in the stored docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCustomRole {
    /// The role id (a user carries it as `custom_role_id`).
    pub id: u64,
    /// The role's name.
    pub name: String,
    /// Which tickets its agents may see and update.
    pub ticket_access: String,
    /// Whether its agents may edit ticket properties at all.
    pub ticket_editing: bool,
    /// Whether its agents may move a ticket into a group they are not in.
    pub assign_tickets_to_any_group: bool,
}

impl SimCustomRole {
    /// A role that may edit tickets, with the given ticket access.
    pub fn new(id: u64, name: &str, ticket_access: &str) -> SimCustomRole {
        SimCustomRole {
            id,
            name: name.to_string(),
            ticket_access: ticket_access.to_string(),
            ticket_editing: true,
            assign_tickets_to_any_group: false,
        }
    }
}

/// The triggers a new Zendesk account has that the setup guide talks about, as create
/// bodies: "Notify requester and CCs of received request" WITHOUT the "Channel is not
/// Web Service (API)" condition (so `setup` has something to report), and "... of
/// comment update" with it.
pub fn default_triggers() -> Vec<Value> {
    vec![
        serde_json::json!({
            "title": "Notify requester and CCs of received request",
            "active": true,
            "conditions": {"all": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "status", "operator": "is_not", "value": "solved"},
                {"field": "ticket_is_public", "operator": "is", "value": "public"}
            ], "any": []},
            "actions": [{"field": "notification_user", "value": [
                "requester_and_ccs",
                "[Request received] {{ticket.title}}",
                "Your request ({{ticket.id}}) has been received and is being reviewed by our support staff."
            ]}]
        }),
        serde_json::json!({
            "title": "Notify requester and CCs of comment update",
            "active": true,
            "conditions": {"all": [
                {"field": "update_type", "operator": "is", "value": "Change"},
                {"field": "comment_is_public", "operator": "is", "value": "requester_can_see_comment"},
                {"field": "current_via_id", "operator": "is_not", "value": "5"}
            ], "any": []},
            "actions": [{"field": "notification_user", "value": [
                "requester_and_ccs",
                "[{{ticket.account}}] Re: {{ticket.title}}",
                "{{ticket.latest_public_comment_html}}"
            ]}]
        }),
    ]
}

/// How Zendesk calls webhooks and when its circuit breaker pauses one
/// (`shared/zendesk-api.md`, "Webhook delivery"). The defaults are Zendesk's reported
/// figures; tests shorten the waits.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookPolicy {
    /// How long one call may take before Zendesk gives up on it (a timeout, which
    /// Zendesk logs as a 504). About 12 s in Zendesk.
    pub timeout: Duration,
    /// The wait before retrying a timeout or a 409 (Zendesk does not publish it; a
    /// 429 or 503 waits its `Retry-After` instead).
    pub retry_delay: Duration,
    /// The breaker looks at the requests of this last stretch of time (5 minutes).
    pub breaker_window: Duration,
    /// Requests a webhook needs in the window before the ratio can trip it (100).
    pub breaker_min_requests: usize,
    /// The share of failed requests in the window that trips it (0.7).
    pub breaker_failure_ratio: f64,
    /// More failures than this in the window trip it whatever the ratio (1,000).
    pub breaker_max_failures: usize,
    /// How long a tripped webhook is paused before Zendesk tries it again ("a short
    /// pause": not published; assumed 60 s).
    pub breaker_pause: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            timeout: Duration::from_secs(12),
            retry_delay: Duration::from_secs(2),
            breaker_window: Duration::from_secs(300),
            breaker_min_requests: 100,
            breaker_failure_ratio: 0.7,
            breaker_max_failures: 1000,
            breaker_pause: Duration::from_secs(60),
        }
    }
}

/// How the simulated Zendesk account is set up.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The AI seat (role `agent`): authenticates with `api_token`.
    pub seat: SimUser,
    /// The seat's valid API token: `Basic base64("{email}/token:{api_token}")`.
    pub api_token: String,
    /// An administrator with an API token of its own (`admin_api_token`), as `setup`
    /// may use to create webhooks, triggers and automations, which an agent may not.
    pub admin: SimUser,
    /// The administrator's API token.
    pub admin_api_token: String,
    /// Other users (customers with role `end-user`, human agents).
    pub users: Vec<SimUser>,
    /// If set, the seat belongs only to these groups: reading or updating a ticket
    /// whose `group_id` is another group answers 403.
    pub seat_group_ids: Option<Vec<u64>>,
    /// Custom field ids that must be non-empty to set a ticket `solved` (else 422).
    pub required_on_solve: Vec<u64>,
    /// Requests per minute the account may make (reported in `X-Rate-Limit`).
    pub rate_limit_per_minute: u32,
    /// The account's brands; the first is the default brand.
    pub brands: Vec<SimBrand>,
    /// The account's groups and their members. (A seat restricted by
    /// `seat_group_ids` is also a member of those groups.)
    pub groups: Vec<SimGroup>,
    /// Triggers the account starts with, as `POST /api/v2/triggers` bodies (the
    /// object inside `{"trigger": ...}`); see [`default_triggers`].
    pub triggers: Vec<Value>,
    /// Webhook calls: timeout, retries and circuit breaker.
    pub webhooks: WebhookPolicy,
    /// The Update Ticket endpoint limit: `PUT /api/v2/tickets/{id}` requests per
    /// minute for the whole account, human agents' saves included (100 in Zendesk).
    pub ticket_updates_per_minute: u32,
    /// Updates one user may make to one ticket in 10 minutes (30 in Zendesk).
    pub ticket_updates_per_user_per_ticket: u32,
    /// Custom ticket fields (a ticket lists each, null when unset).
    pub ticket_fields: Vec<SimTicketField>,
    /// Ticket forms; none: one default form with every field.
    pub ticket_forms: Vec<SimTicketForm>,
    /// Business hours schedules.
    pub schedules: Vec<SimSchedule>,
    /// The account's custom agent roles (Enterprise).
    pub custom_roles: Vec<SimCustomRole>,
    /// The seat's custom role (`custom_role_id`), one of `custom_roles`: its
    /// `ticket_access` and `ticket_editing` decide which ticket updates are refused 403.
    pub seat_custom_role_id: Option<u64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seat: SimUser::new(9000, "Gladly AI", "gladly-ai@example.com", "agent"),
            api_token: "sim-token".to_string(),
            admin: SimUser::new(2002, "Ada Admin", "ada@example.com", "admin"),
            admin_api_token: "sim-admin-token".to_string(),
            users: vec![
                SimUser::new(1001, "Alice Customer", "alice@example.com", "end-user"),
                SimUser::new(1002, "Bob Customer", "bob@example.com", "end-user"),
                SimUser::new(1003, "Carol Customer", "carol@example.com", "end-user"),
                SimUser::new(2001, "Hank Human", "hank@example.com", "agent"),
                SimUser::new(2002, "Ada Admin", "ada@example.com", "admin"),
            ],
            seat_group_ids: None,
            required_on_solve: Vec::new(),
            // Enterprise plan quota.
            rate_limit_per_minute: 700,
            brands: vec![
                SimBrand::new(DEFAULT_BRAND_ID, "Example Support", "example"),
                SimBrand::new(2, "Example Shop", "example-shop"),
            ],
            // The seat is in two of three groups, so setup's membership check has
            // something to report.
            groups: vec![
                SimGroup::new(10, "Support", &[9000, 2001]),
                SimGroup::new(11, "Billing", &[9000]),
                SimGroup::new(12, "Escalations", &[2001, 2002]),
            ],
            triggers: default_triggers(),
            webhooks: WebhookPolicy::default(),
            ticket_updates_per_minute: 100,
            ticket_updates_per_user_per_ticket: 30,
            ticket_fields: Vec::new(),
            ticket_forms: Vec::new(),
            schedules: Vec::new(),
            custom_roles: Vec::new(),
            seat_custom_role_id: None,
        }
    }
}
