//! The public records the [`crate::Simulator`] handle and the admin API take and
//! return: tickets and comments to create, a human agent's edit, a ticket's state, the
//! call log and the webhook delivery log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One invocation of a webhook by a trigger (one notification), its attempts, and how
/// it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Sequence number of the invocation.
    pub id: u64,
    /// The invocation id Zendesk sends as `X-Zendesk-Webhook-Invocation-Id` (the same
    /// on every retry).
    pub invocation_id: String,
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
    /// The HTTP status the endpoint answered last; `None` while in flight or without
    /// an answer.
    pub status: Option<u16>,
    /// Why the last call got no answer (connection refused, timeout), or why none was
    /// made (`circuit broken`).
    pub error: Option<String>,
    /// When the trigger fired.
    pub requested_at: DateTime<Utc>,
    /// `pending`, `success`, `failed`, or `circuit_broken` (dropped: the webhook was
    /// paused by the circuit breaker, and the notification is lost).
    pub outcome: String,
    /// Every request made for this invocation, retries included, oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

/// One request of a webhook invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// The attempt's id.
    pub id: String,
    /// The status answered; `None` without an answer.
    pub status: Option<u16>,
    /// Why there was no answer (`timed out`, connection refused).
    pub error: Option<String>,
    /// When the request was made.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub completed_at: DateTime<Utc>,
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
    /// The brand; `None` means [`crate::DEFAULT_BRAND_ID`].
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

/// One API request the simulator received (admin calls are not logged). A call is
/// logged when it is processed, so a request held by a fault (`hold_before_ms`) comes
/// after the requests served during its hold, and one whose answer is held
/// (`hold_after_ms`) is already logged while its answer waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    /// HTTP method, upper case.
    pub method: String,
    /// Path including the query string, as sent.
    pub path: String,
    /// The status answered; `0` when a fault (`drop_after_commit`) closed the
    /// connection without an answer.
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
