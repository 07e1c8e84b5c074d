//! Zendesk's "Test Webhook" API (`POST /api/v2/webhooks/test`): Zendesk sends one
//! request to a webhook's endpoint now and answers with what the endpoint answered.
//!
//! Shape as in Zendesk's webhooks reference: the webhook to test is an existing one
//! (`?webhook_id=<id>`, or `"webhook_id"` in the body, which this simulator also
//! takes) whose fields `{"webhook": {...}}` may override, or only `{"webhook": {...}}`
//! with at least `endpoint`; the request's body is `{"request": {"body": "..."}}`
//! (default: an empty JSON object). An existing webhook's request is signed with its
//! signing secret, as a real delivery is. The answer is
//! `{"response": {"status": N, "body": "...", "headers": [{"key", "value"}]}}`; when
//! the endpoint could not be reached, `status` is null and `error` says why (the
//! reference does not say what Zendesk answers then: assumed). One attempt, no
//! retries, no invocation recorded, the breaker untouched.

use serde_json::{json, Value};

use super::registry::Rules;
use crate::common::{query_param, ApiError};

/// The key of the prepared test inside the reply the router hands to `api::mod`.
pub(crate) const PREPARED: &str = "__prepared_webhook_test";

impl Rules {
    /// Checks a test request and returns what to send (`{PREPARED: {...}}`).
    pub(crate) fn prepare_webhook_test(
        &self,
        body: Option<&Value>,
        query: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let body = body.cloned().unwrap_or_else(|| json!({}));
        let id = query_param(query, "webhook_id")
            .map(str::to_string)
            .or_else(|| body["webhook_id"].as_str().map(str::to_string));
        let existing = match &id {
            Some(id) => Some(&self.webhooks[self.webhook_index(id)?]),
            None => None,
        };
        let over = &body["webhook"];
        let field = |k: &str, current: Option<&String>| {
            over[k]
                .as_str()
                .map(str::to_string)
                .or_else(|| current.cloned())
        };
        let endpoint = field("endpoint", existing.map(|w| &w.endpoint)).ok_or_else(|| {
            ApiError::WebhookInvalid("webhook.endpoint (or webhook_id) is required".into())
        })?;
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(ApiError::WebhookInvalid(format!(
                "endpoint {endpoint:?} must be an http(s) URL"
            )));
        }
        let method = field("http_method", existing.map(|w| &w.http_method))
            .unwrap_or_else(|| "POST".to_string());
        let request_body = body["request"]["body"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "{}".to_string());
        Ok(json!({PREPARED: {
            "endpoint": endpoint,
            "http_method": method,
            "webhook_id": id,
            "secret": existing.map(|w| w.secret.clone()),
            "body": request_body,
        }}))
    }
}

/// Sends the prepared test request and returns Zendesk's answer to the test call.
pub(crate) async fn send(prepared: &Value, timeout: std::time::Duration) -> Value {
    let body = prepared["body"].as_str().unwrap_or("{}").to_string();
    let endpoint = prepared["endpoint"].as_str().unwrap_or_default();
    let method = reqwest::Method::from_bytes(
        prepared["http_method"]
            .as_str()
            .unwrap_or("POST")
            .as_bytes(),
    )
    .unwrap_or(reqwest::Method::POST);
    let http = match reqwest::Client::builder()
        .timeout(timeout)
        .user_agent("Zendesk Webhook")
        .build()
    {
        Ok(c) => c,
        Err(e) => return json!({"response": {"status": null, "error": e.to_string()}}),
    };
    let mut req = http
        .request(method, endpoint)
        .header("content-type", "application/json");
    if let Some(id) = prepared["webhook_id"].as_str() {
        req = req.header("x-zendesk-webhook-id", id).header(
            "x-zendesk-webhook-invocation-id",
            super::ulid(chrono::Utc::now()),
        );
    }
    if let Some(secret) = prepared["secret"].as_str() {
        let timestamp = crate::common::fmt_time(chrono::Utc::now());
        let signature = crate::delivery::sign(secret, &timestamp, body.as_bytes());
        req = req
            .header("x-zendesk-webhook-signature", signature)
            .header("x-zendesk-webhook-signature-timestamp", timestamp);
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers: Vec<Value> = resp
                .headers()
                .iter()
                .map(|(k, v)| json!({"key": k.as_str(), "value": v.to_str().unwrap_or("")}))
                .collect();
            // Bounded: a test answer is shown, not stored.
            let text = resp.text().await.unwrap_or_default();
            let text: String = text.chars().take(4096).collect();
            json!({"response": {"status": status, "body": text, "headers": headers}})
        }
        Err(e) => json!({"response": {"status": null, "body": "", "headers": [],
                                      "error": e.without_url().to_string()}}),
    }
}
