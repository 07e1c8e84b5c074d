//! The webhook invocations API (`GET /api/v2/webhooks/{id}/invocations` and
//! `.../invocations/{invocation_id}/attempts`): what Zendesk's webhook activity shows.
//!
//! Shapes as in Zendesk's webhooks reference ("List Webhook Invocations", "List Webhook
//! Invocation Attempts"; the webhooks API is not in the OpenAPI subset, so field names
//! follow the reference as remembered: an invocation has `id`, `latest_completed_at`,
//! `latest_status` and `status`; an attempt `id`, `invocation_id`, `status`,
//! `status_code` and `completed_at`). Newest first, cursor paging like the webhook list.

use serde_json::{json, Value};

use super::registry::Rules;
use crate::common::{fmt_time, parse_page_size, query_param, ApiError};
use crate::model::WebhookDelivery;

/// An invocation's status: `pending`, `success`, `failed` or `circuit_broken`.
fn status(d: &WebhookDelivery) -> &str {
    d.outcome.as_str()
}

fn invocation_json(d: &WebhookDelivery) -> Value {
    let last = d.attempts.last();
    json!({
        "id": d.invocation_id,
        "status": status(d),
        "latest_status": last.and_then(|a| a.status),
        "latest_completed_at": last.map(|a| fmt_time(a.completed_at)),
        "attempt_count": d.attempts.len(),
        "created_at": fmt_time(d.requested_at),
    })
}

impl Rules {
    /// `GET /api/v2/webhooks/{id}/invocations`: `page[size]`, `page[after]`,
    /// `filter[status]`.
    pub(crate) fn list_invocations(
        &self,
        webhook_id: &str,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        self.webhook_index(webhook_id)?;
        let q = |k: &str| query_param(query, k);
        let size = parse_page_size(q("page[size]"), "page[size]")?;
        let wanted = q("filter[status]");
        let matching: Vec<&WebhookDelivery> = self
            .deliveries
            .iter()
            .rev()
            .filter(|d| d.webhook_id == webhook_id)
            .filter(|d| wanted.is_none_or(|w| status(d) == w))
            .collect();
        let start = match q("page[after]") {
            Some(after) => matching
                .iter()
                .position(|d| d.invocation_id == after)
                .map_or(matching.len(), |i| i + 1),
            None => 0,
        };
        let page = &matching[start.min(matching.len())..(start + size).min(matching.len())];
        let has_more = start + page.len() < matching.len();
        let after = page.last().map(|d| d.invocation_id.clone());
        let next = match (&after, has_more) {
            (Some(a), true) => Some(format!(
                "{base}/api/v2/webhooks/{webhook_id}/invocations?page%5Bafter%5D={a}&page%5Bsize%5D={size}"
            )),
            _ => None,
        };
        Ok(json!({
            "invocations": page.iter().map(|d| invocation_json(d)).collect::<Vec<_>>(),
            "meta": {"has_more": has_more, "after_cursor": after,
                     "before_cursor": page.first().map(|d| d.invocation_id.clone())},
            "links": {"next": next, "prev": null},
        }))
    }

    /// `GET /api/v2/webhooks/{id}/invocations/{invocation_id}/attempts`, oldest first.
    pub(crate) fn list_attempts(
        &self,
        webhook_id: &str,
        invocation_id: &str,
    ) -> Result<Value, ApiError> {
        self.webhook_index(webhook_id)?;
        let d = self
            .deliveries
            .iter()
            .find(|d| d.webhook_id == webhook_id && d.invocation_id == invocation_id)
            .ok_or(ApiError::NotFound)?;
        let attempts: Vec<Value> = d
            .attempts
            .iter()
            .map(|a| {
                let ok = a.status.is_some_and(|s| (200..300).contains(&s));
                json!({
                    "id": a.id,
                    "invocation_id": d.invocation_id,
                    "status": if ok { "success" } else { "failed" },
                    // A timeout shows as 504 in Zendesk's activity log.
                    "status_code": a.status.or(
                        a.error.as_deref().filter(|e| *e == "timed out").map(|_| 504)
                    ),
                    "completed_at": fmt_time(a.completed_at),
                })
            })
            .collect();
        Ok(json!({"attempts": attempts}))
    }
}
