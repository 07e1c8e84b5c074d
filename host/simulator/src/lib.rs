//! An in-process stand-in for the part of the Zendesk Support API the gateway uses.
//!
//! The gateway is tested only against this simulator, so it imitates the real
//! Zendesk as closely as the shared notes (`shared/zendesk-api.md`) and Zendesk's
//! own OpenAPI description allow: the same JSON shapes, the same error bodies and
//! headers, the same quirks (an anonymous `users/me`, safe-update conflicts,
//! cursor paging of comments, rate-limit headers). Where the notes are silent the
//! code says what it assumed.
//!
//! Besides the Zendesk API under `/api/v2/` it serves an unauthenticated admin API
//! under `/_sim/` for tests, the demo and humans (create tickets, write customer
//! comments, make a human agent's edit, read the call log, inject faults).
//!
//! Like Zendesk, it runs the account's triggers after every ticket create and update;
//! a trigger's `notification_webhook` action calls the webhook's endpoint with the
//! rendered body, signed with the webhook's signing secret (see `delivery.rs`).

#![deny(missing_docs)]

mod admin;
mod api;
mod delivery;
mod rules;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::rules::Delivery;
use crate::state::State;

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

/// How the simulated Zendesk account is set up.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The AI seat: the only user that can authenticate (role `agent`).
    pub seat: SimUser,
    /// The seat's valid API token: `Basic base64("{email}/token:{api_token}")`.
    pub api_token: String,
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
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seat: SimUser::new(9000, "Gladly AI", "gladly-ai@example.com", "agent"),
            api_token: "sim-token".to_string(),
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
        }
    }
}

/// One webhook call made by a trigger, and how the endpoint answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Sequence number of the call.
    pub id: u64,
    /// The webhook called.
    pub webhook_id: String,
    /// The trigger whose action called it.
    pub trigger_id: u64,
    /// The ticket whose update fired the trigger.
    pub ticket_id: u64,
    /// The URL called.
    pub endpoint: String,
    /// The body sent (the action's template with placeholders filled in).
    pub body: String,
    /// The HTTP status the endpoint answered; `None` while in flight or on failure.
    pub status: Option<u16>,
    /// Why the call got no answer (connection refused, timeout).
    pub error: Option<String>,
    /// When the trigger fired.
    pub requested_at: DateTime<Utc>,
}

/// One custom field value on a ticket: `{"id": ..., "value": ...}` as Zendesk writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    /// The custom field id.
    pub id: u64,
    /// Its value (string, number, boolean, list of strings or null).
    #[serde(default)]
    pub value: Value,
}

/// A ticket to create, as a customer would open it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTicket {
    /// The subject line.
    pub subject: String,
    /// The first comment, written by the requester, public.
    pub body: String,
    /// The customer who opened the ticket; 0 picks the first end-user configured.
    pub requester_id: u64,
    /// The brand; `None` means [`DEFAULT_BRAND_ID`].
    pub brand_id: Option<u64>,
    /// The group the ticket sits in, if any.
    pub group_id: Option<u64>,
    /// The agent it is assigned to, if any (a ticket with an assignee starts `open`).
    pub assignee_id: Option<u64>,
    /// Tags on the ticket.
    pub tags: Vec<String>,
    /// `urgent`, `high`, `normal`, `low` or none.
    pub priority: Option<String>,
    /// Custom field values.
    pub custom_fields: Vec<CustomField>,
}

/// A comment written from outside the API: by a customer, or by a human agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewComment {
    /// The author; 0 (or absent in the admin API) means the ticket's requester.
    #[serde(default)]
    pub author_id: u64,
    /// The comment text.
    pub body: String,
    /// Public reply (true) or internal note (false).
    #[serde(default = "default_true")]
    pub public: bool,
}

impl NewComment {
    /// A public comment by the given author.
    pub fn public(author_id: u64, body: &str) -> NewComment {
        NewComment {
            author_id,
            body: body.to_string(),
            public: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// A human agent's edit made in the Zendesk UI, concurrent with the gateway.
///
/// Every field is optional; an empty edit still advances `updated_at`, which is all
/// a test needs to provoke a safe-update 409.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentEdit {
    /// The editing agent; 0 means the first human agent configured.
    pub author_id: u64,
    /// New status.
    pub status: Option<String>,
    /// `Some(None)` unassigns, `Some(Some(id))` assigns, `None` leaves it.
    #[serde(deserialize_with = "double_option")]
    pub assignee_id: Option<Option<u64>>,
    /// `Some(None)` clears the group, `Some(Some(id))` sets it, `None` leaves it.
    #[serde(deserialize_with = "double_option")]
    pub group_id: Option<Option<u64>>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
    /// New priority (`Some(None)` clears it).
    #[serde(deserialize_with = "double_option")]
    pub priority: Option<Option<String>>,
    /// Custom field values to set.
    pub custom_fields: Option<Vec<CustomField>>,
    /// A comment by the agent (public or internal note).
    pub comment: Option<AgentComment>,
}

/// The comment part of an [`AgentEdit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentComment {
    /// The comment text.
    pub body: String,
    /// Public reply (true) or internal note (false).
    #[serde(default = "default_true")]
    pub public: bool,
}

// serde maps both an absent field and `null` to `None` for `Option<Option<T>>`;
// an agent edit must tell "unassign" (null) from "leave alone" (absent).
fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// An injected failure: the next `times` matching API requests get `status` with
/// Zendesk's body for it instead of being processed (state unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Match only this HTTP method (case-insensitive); `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Match only paths (with query) containing this text; `None` matches any.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// The status to answer (429, 503, 500, 403, 422, 409, 401, 404, ...).
    pub status: u16,
    /// Seconds for a `Retry-After` header (429 gets 1 when this is `None`).
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// How many matching requests fail.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault answering `status` once to any request.
    pub fn once(status: u16) -> Fault {
        Fault {
            method: None,
            path_contains: None,
            status,
            retry_after: None,
            times: 1,
        }
    }
}

/// One API request the simulator received (admin calls are not logged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    /// HTTP method, upper case.
    pub method: String,
    /// Path including the query string, as sent.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// When it was received.
    pub at: DateTime<Utc>,
    /// The request body if it was JSON, so tests can check what the gateway sent.
    pub request_body: Option<Value>,
}

/// A ticket just created: its id and stamps, and its Zendesk JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimTicket {
    /// The ticket id.
    pub id: u64,
    /// `created_at` as Zendesk writes it.
    pub created_at: String,
    /// `updated_at` as Zendesk writes it (what a safe update must send back).
    pub updated_at: String,
    /// The ticket exactly as `GET /api/v2/tickets/{id}` shows it.
    pub ticket: Value,
}

/// The full state of a ticket: its JSON and all its comments, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketState {
    /// The ticket as `GET /api/v2/tickets/{id}` shows it.
    pub ticket: Value,
    /// Every comment as `GET /api/v2/tickets/{id}/comments` shows it, oldest first.
    pub comments: Vec<Value>,
}

impl TicketState {
    /// The ticket id.
    pub fn id(&self) -> u64 {
        self.ticket["id"].as_u64().unwrap_or_default()
    }
    /// The status (`new`, `open`, `pending`, `hold`, `solved`, `closed`).
    pub fn status(&self) -> &str {
        self.ticket["status"].as_str().unwrap_or_default()
    }
    /// The assignee, if any.
    pub fn assignee_id(&self) -> Option<u64> {
        self.ticket["assignee_id"].as_u64()
    }
    /// The group, if any.
    pub fn group_id(&self) -> Option<u64> {
        self.ticket["group_id"].as_u64()
    }
    /// The tags.
    pub fn tags(&self) -> Vec<String> {
        self.ticket["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// `updated_at` as Zendesk writes it.
    pub fn updated_at(&self) -> &str {
        self.ticket["updated_at"].as_str().unwrap_or_default()
    }
    /// The value of a custom field (`Value::Null` when unset).
    pub fn custom_field(&self, id: u64) -> Value {
        self.ticket["custom_fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["id"].as_u64() == Some(id)))
            .map(|f| f["value"].clone())
            .unwrap_or(Value::Null)
    }
    /// The comments written by `author_id`, oldest first.
    pub fn comments_by(&self, author_id: u64) -> Vec<&Value> {
        self.comments
            .iter()
            .filter(|c| c["author_id"].as_u64() == Some(author_id))
            .collect()
    }
}

/// What the HTTP handlers share: the mutable state behind a std mutex (never held
/// across an await) and the fixed facts of this instance.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) base_url: String,
    /// Webhook calls go to the delivery task, off the request path.
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// The locked state. When it is released, the webhook calls that triggers decided
/// meanwhile are handed to the delivery task, so every path that changes a ticket
/// (API, admin API, the `Simulator` methods) calls webhooks without further code.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    deliveries: &'a mpsc::UnboundedSender<Delivery>,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        for d in self.guard.outbox.drain(..) {
            // The delivery task is gone only when the simulator is shutting down.
            let _ = self.deliveries.send(d);
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        // A panic while holding the lock (a bug in a handler) must not wedge every
        // later test request; the state is still consistent enough to read.
        StateGuard {
            guard: self.state.lock().unwrap_or_else(|e| e.into_inner()),
            deliveries: &self.deliveries,
        }
    }
}

/// Stops the server when the last [`Simulator`] handle goes away, so a test that
/// forgets `shutdown` does not leave a listener behind.
struct ServerGuard {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    delivery_task: JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        self.delivery_task.abort();
    }
}

/// A running simulator: a cheap, cloneable handle to its server and state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.shared.base_url)
            .finish()
    }
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free port) and serves in a spawned task.
    pub async fn start(config: SimulatorConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = base_url_for(addr);
        let (deliveries, queued) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            base_url,
            deliveries,
        });
        let delivery_task = tokio::spawn(delivery::run(Arc::downgrade(&shared), queued));
        let app = api::router(shared.clone()).nest("/_sim", admin::router(shared.clone()));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "zendesk simulator server stopped");
            }
        });
        Ok(Simulator {
            shared,
            guard: Arc::new(ServerGuard {
                stop,
                task: Mutex::new(Some(task)),
                delivery_task,
            }),
            addr,
        })
    }

    /// `http://127.0.0.1:PORT`: what the gateway uses as its Zendesk base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Authorization` header value that authenticates as the seat.
    pub fn auth_header(&self) -> String {
        self.shared.lock().auth_header()
    }

    /// The seat (the authenticated AI agent).
    pub fn seat(&self) -> SimUser {
        self.shared.lock().seat.clone()
    }

    /// Creates a ticket as its requester would (the body is its first, public comment).
    pub fn create_ticket(&self, t: NewTicket) -> SimTicket {
        let base = &self.shared.base_url;
        let mut st = self.shared.lock();
        let id = st.create_ticket(t);
        st.sim_ticket(id, base).expect("ticket just created")
    }

    /// Adds a comment by a customer or agent (not through the API); advances `updated_at`.
    pub fn add_comment(&self, ticket_id: u64, c: NewComment) -> anyhow::Result<()> {
        self.shared.lock().add_comment(ticket_id, c)
    }

    /// The full state of a ticket, or `None` if there is no such ticket.
    pub fn ticket(&self, id: u64) -> Option<TicketState> {
        self.shared.lock().ticket_state(id, &self.shared.base_url)
    }

    /// All tickets, in id order.
    pub fn tickets(&self) -> Vec<TicketState> {
        let st = self.shared.lock();
        st.ticket_ids()
            .into_iter()
            .filter_map(|id| st.ticket_state(id, &self.shared.base_url))
            .collect()
    }

    /// A human agent's concurrent edit; advances `updated_at` even when it changes
    /// nothing else, which is how tests provoke a safe-update 409.
    pub fn update_ticket_as_agent(&self, id: u64, edit: AgentEdit) -> anyhow::Result<SimTicket> {
        let base = &self.shared.base_url;
        let mut st = self.shared.lock();
        st.agent_edit(id, edit)?;
        Ok(st.sim_ticket(id, base).expect("ticket exists"))
    }

    /// Adds a user (a customer or an agent).
    pub fn add_user(&self, user: SimUser) {
        self.shared.lock().add_user(user);
    }

    /// The API calls received so far, oldest first (admin calls are not logged).
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.lock().calls.clone()
    }

    /// Forgets the logged API calls.
    pub fn clear_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// Makes the next `f.times` matching API requests fail with `f.status`.
    pub fn inject_fault(&self, f: Fault) {
        self.shared.lock().faults.push(f);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Forgets the requests counted against the per-minute quota (tests that
    /// exhaust the quota use it to carry on).
    pub fn reset_rate_limit(&self) {
        self.shared.lock().reset_rate_window();
    }

    /// The webhooks, as `GET /api/v2/webhooks` shows them, oldest first.
    pub fn webhooks(&self) -> Vec<Value> {
        self.shared.lock().rules.webhooks_json()
    }

    /// The signing secret of a webhook (what `GET .../signing_secret` answers).
    pub fn webhook_signing_secret(&self, webhook_id: &str) -> Option<String> {
        self.shared.lock().rules.webhook_secret(webhook_id)
    }

    /// The triggers, as `GET /api/v2/triggers` shows them, in the order they run.
    pub fn triggers(&self) -> Vec<Value> {
        self.shared
            .lock()
            .rules
            .triggers_json(&self.shared.base_url)
    }

    /// The automations, as `GET /api/v2/automations` shows them.
    pub fn automations(&self) -> Vec<Value> {
        self.shared.lock().rules.automations_json()
    }

    /// The webhook calls triggers made so far, oldest first (in-flight ones have no
    /// status yet).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.lock().rules.deliveries.clone()
    }

    /// Stops the server and waits for it to finish (at most a couple of seconds:
    /// clients holding idle keep-alive connections must not block a test's end).
    pub async fn shutdown(self) {
        let _ = self.guard.stop.send(true);
        let task = self
            .guard
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

fn base_url_for(addr: SocketAddr) -> String {
    // A wildcard bind is reachable on loopback; a URL naming 0.0.0.0 is not usable.
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
    }
}

/// Serves the simulator on `addr` until Ctrl-C, after printing its base URL and
/// the seat's credentials (for `zendesk-gateway simulator` and manual testing).
pub async fn run(config: SimulatorConfig, addr: SocketAddr) -> anyhow::Result<()> {
    let sim = Simulator::start(config, addr).await?;
    let seat = sim.seat();
    let token = sim.shared.lock().api_token.clone();
    println!("Zendesk simulator listening on {}", sim.base_url());
    println!(
        "  seat:      {} <{}> (id {})",
        seat.name, seat.email, seat.id
    );
    println!("  api token: {token}");
    println!("  header:    Authorization: {}", sim.auth_header());
    println!(
        "  admin API: {}/_sim/ (tickets, calls, faults, users, rules, webhook_deliveries)",
        sim.base_url()
    );
    tokio::signal::ctrl_c().await?;
    println!("Zendesk simulator stopping");
    sim.shutdown().await;
    Ok(())
}
