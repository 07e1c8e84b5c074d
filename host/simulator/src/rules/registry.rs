//! The records behind the rules API: webhooks, triggers and automations, the webhook
//! calls triggers decide, and [`Rules`], which holds them all. Behaviour lives in the
//! sibling modules; this one only stores and shows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::fmt_time;
use crate::model::WebhookDelivery;

/// A webhook call a trigger decided to make; sent off the request path.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// Index into the delivery log.
    pub(crate) seq: usize,
    /// The invocation id, the same on every attempt.
    pub(crate) invocation_id: String,
    pub(crate) webhook_id: String,
    pub(crate) endpoint: String,
    pub(crate) method: String,
    pub(crate) body: String,
    pub(crate) secret: String,
}

/// A webhook (`GET /api/v2/webhooks`), with its signing secret.
pub(super) struct Webhook {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) status: String,
    pub(super) endpoint: String,
    pub(super) http_method: String,
    pub(super) request_format: String,
    pub(super) subscriptions: Vec<String>,
    pub(super) secret: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) created_by: u64,
    pub(super) updated_by: u64,
}

impl Webhook {
    /// The webhook as the API shows it (never with its secret).
    pub(super) fn to_json(&self) -> Value {
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
pub(super) struct Rule {
    pub(super) id: u64,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) active: bool,
    pub(super) position: u64,
    pub(super) all: Vec<Value>,
    pub(super) any: Vec<Value>,
    pub(super) actions: Vec<Value>,
    pub(super) category_id: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

impl Rule {
    /// The rule as the triggers API shows it.
    pub(super) fn trigger_json(&self, base: &str) -> Value {
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

    /// The rule as the automations API shows it.
    pub(super) fn automation_json(&self) -> Value {
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

/// One row of the webhook call log (see [`WebhookDelivery`]).
pub(crate) type DeliveryLog = Vec<WebhookDelivery>;

/// The webhooks, triggers and automations of the simulated account, and the log of
/// the webhook calls the triggers made.
pub(crate) struct Rules {
    pub(super) webhooks: Vec<Webhook>,
    pub(super) triggers: BTreeMap<u64, Rule>,
    pub(super) automations: BTreeMap<u64, Rule>,
    next_rule_id: u64,
    pub(crate) deliveries: DeliveryLog,
    /// When each trigger fired (its conditions held on an update), by trigger id, for
    /// the usage sideloads of `GET /api/v2/triggers`; kept for 30 days.
    pub(super) firings: BTreeMap<u64, Vec<DateTime<Utc>>>,
}

impl Rules {
    /// An account without webhooks, triggers or automations.
    pub(crate) fn new() -> Rules {
        Rules {
            webhooks: Vec::new(),
            triggers: BTreeMap::new(),
            automations: BTreeMap::new(),
            next_rule_id: 360_100_001,
            deliveries: Vec::new(),
            firings: BTreeMap::new(),
        }
    }

    /// The id for a new trigger or automation (one sequence for both, as in Zendesk).
    pub(super) fn alloc_rule_id(&mut self) -> u64 {
        let id = self.next_rule_id;
        self.next_rule_id += 1;
        id
    }
}
