//! Calling webhooks the way Zendesk does when a trigger fires: the rendered body as JSON,
//! signed with the webhook's signing secret, off the request path (a ticket update is
//! answered before its webhooks are called).
//!
//! Signing follows `shared/zendesk-api.md`: `X-Zendesk-Webhook-Signature` is
//! `base64(HMAC-SHA256(key = secret bytes, message = TIMESTAMP + BODY))`, with the
//! ISO-8601 timestamp in `X-Zendesk-Webhook-Signature-Timestamp`.

use std::sync::Weak;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::common::fmt_time;
use crate::rules::Delivery;
use crate::shared::Shared;

/// Zendesk gives up on a webhook call after about 10-12 s (unconfirmed).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The signature Zendesk sends for `body` at `timestamp`.
pub(crate) fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Sends queued calls until the simulator goes away. Each call is its own task, so a
/// slow endpoint does not hold up the others (Zendesk calls webhooks concurrently).
pub(crate) async fn run(shared: Weak<Shared>, mut queued: mpsc::UnboundedReceiver<Delivery>) {
    let http = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent("Zendesk Webhook")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "zendesk simulator: no HTTP client, webhooks are off");
            return;
        }
    };
    while let Some(d) = queued.recv().await {
        tokio::spawn(deliver(shared.clone(), http.clone(), d));
    }
}

async fn deliver(shared: Weak<Shared>, http: reqwest::Client, d: Delivery) {
    let timestamp = fmt_time(chrono::Utc::now());
    let signature = sign(&d.secret, &timestamp, d.body.as_bytes());
    let method = reqwest::Method::from_bytes(d.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let result = http
        .request(method, &d.endpoint)
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-id", &d.webhook_id)
        .header("x-zendesk-webhook-invocation-id", d.seq.to_string())
        .header("x-zendesk-webhook-signature", signature)
        .header("x-zendesk-webhook-signature-timestamp", &timestamp)
        .body(d.body.clone())
        .send()
        .await;
    let (status, error) = match result {
        Ok(resp) => (Some(resp.status().as_u16()), None),
        Err(e) => (None, Some(e.without_url().to_string())),
    };
    tracing::debug!(webhook = %d.webhook_id, status = ?status, error = ?error, "zendesk simulator: webhook called");
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let mut st = shared.lock();
    if let Some(entry) = st.rules.deliveries.get_mut(d.seq) {
        entry.status = status;
        entry.error = error;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_then_body() {
        // Cross-checked against an independent HMAC computation of
        // "2021-07-25T10:00:00Z" + "{\"id\": 5}".
        let a = sign("s3cret", "2021-07-25T10:00:00Z", br#"{"id": 5}"#);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(br#"2021-07-25T10:00:00Z{"id": 5}"#);
        let b = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(a, b);
    }
}
