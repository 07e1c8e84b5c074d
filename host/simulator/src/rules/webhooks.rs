//! The webhooks API (`/api/v2/webhooks`): create, list, show, update, signing secrets.
//!
//! The webhooks API is not in Zendesk's OpenAPI description of the Support API; its
//! shapes follow Zendesk's webhooks reference as far as the notes confirm it, and the
//! code says where it assumes.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{json, Value};

use super::registry::{Rules, Webhook};
use crate::common::{parse_page_size, query_param, ApiError};

/// A string id that sorts by creation time, like the ULIDs Zendesk gives webhooks:
/// 48 bits of milliseconds and 80 random bits in Crockford's base 32 (26 characters).
pub(crate) fn ulid(now: DateTime<Utc>) -> String {
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

fn webhook_invalid(msg: impl Into<String>) -> ApiError {
    ApiError::WebhookInvalid(msg.into())
}

impl Rules {
    /// Where the webhook with this id is in the list (404 when there is none).
    pub(super) fn webhook_index(&self, id: &str) -> Result<usize, ApiError> {
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
}
