//! Calling webhooks the way Zendesk does when a trigger fires: the rendered body as JSON,
//! signed with the webhook's signing secret, off the request path (a ticket update is
//! answered before its webhooks are called).
//!
//! Signing follows `shared/zendesk-api.md`: `X-Zendesk-Webhook-Signature` is
//! `base64(HMAC-SHA256(key = secret bytes, message = TIMESTAMP + BODY))`, with the
//! ISO-8601 timestamp in `X-Zendesk-Webhook-Signature-Timestamp`.

use std::sync::Weak;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::breaker::Admit;
use crate::common::fmt_time;
use crate::config::WebhookPolicy;
use crate::model::WebhookAttempt;
use crate::rules::Delivery;
use crate::shared::Shared;

/// Retries of a 409 (reported: up to 3).
const CONFLICT_RETRIES: u32 = 3;
/// Retries of a timeout (reported: up to 5).
const TIMEOUT_RETRIES: u32 = 5;
/// Retries of a 429 or 503 with a `Retry-After` under a minute (the count is not
/// reported; assumed 3, like a 409).
const RETRY_AFTER_RETRIES: u32 = 3;
/// A 429 or 503 is retried only when `Retry-After` is under this.
const RETRY_AFTER_CAP_SECS: u64 = 60;

/// The signature Zendesk sends for `body` at `timestamp`.
pub(crate) fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Sends queued calls until the simulator goes away. Each invocation is its own task,
/// so a slow endpoint does not hold up the others (Zendesk calls webhooks concurrently).
pub(crate) async fn run(shared: Weak<Shared>, mut queued: mpsc::UnboundedReceiver<Delivery>) {
    let Some(policy) = shared.upgrade().map(|s| s.webhooks.clone()) else {
        return;
    };
    let http = match reqwest::Client::builder()
        .timeout(policy.timeout)
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
        tokio::spawn(deliver(shared.clone(), http.clone(), policy.clone(), d));
    }
}

/// How one request of an invocation ended.
enum Answer {
    /// An HTTP answer, with its `Retry-After` text if any.
    Status(u16, Option<String>),
    /// No answer within the timeout.
    Timeout,
    /// No connection (refused, reset).
    NoConnection(String),
}

/// Retries made so far, by kind.
#[derive(Default)]
struct Retries {
    conflicts: u32,
    timeouts: u32,
    retry_after: u32,
}

/// Zendesk's retry rule: how long to wait before the next attempt, or `None` when
/// the answer is final. A 409 is retried up to 3 times; a 429 or 503 only with a
/// `Retry-After` under 60 s; a timeout up to 5 times; nothing else (a 500, a 503
/// without `Retry-After`, a 401, a 404, a refused connection: the notification is
/// gone). A refused connection is not an answer the notes list; it is assumed final
/// like the other failures.
fn next_wait(answer: &Answer, done: &mut Retries, p: &WebhookPolicy) -> Option<Duration> {
    match answer {
        Answer::Status(409, _) if done.conflicts < CONFLICT_RETRIES => {
            done.conflicts += 1;
            Some(p.retry_delay)
        }
        Answer::Status(429 | 503, Some(ra)) if done.retry_after < RETRY_AFTER_RETRIES => {
            let secs = ra.trim().parse::<u64>().ok()?;
            (secs < RETRY_AFTER_CAP_SECS).then(|| {
                done.retry_after += 1;
                Duration::from_secs(secs)
            })
        }
        Answer::Timeout if done.timeouts < TIMEOUT_RETRIES => {
            done.timeouts += 1;
            Some(p.retry_delay)
        }
        _ => None,
    }
}

async fn deliver(shared: Weak<Shared>, http: reqwest::Client, p: WebhookPolicy, d: Delivery) {
    let mut retries = Retries::default();
    loop {
        // The breaker decides before every request, retries included.
        let admit = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut st = shared.lock();
            let admit = st
                .breakers
                .entry(d.webhook_id.clone())
                .or_default()
                .admit(Instant::now());
            if admit == Admit::Drop {
                if let Some(entry) = st.rules.deliveries.get_mut(d.seq) {
                    if entry.attempts.is_empty() {
                        entry.outcome = "circuit_broken".to_string();
                        entry.error = Some("circuit broken: the webhook is paused".to_string());
                    } else {
                        entry.outcome = "failed".to_string();
                    }
                }
                tracing::debug!(webhook = %d.webhook_id, "zendesk simulator: webhook paused, notification dropped");
                return;
            }
            admit
        };
        let started_at = Utc::now();
        let answer = call(&http, &d).await;
        let (status, error) = match &answer {
            Answer::Status(s, _) => (Some(*s), None),
            Answer::Timeout => (None, Some("timed out".to_string())),
            Answer::NoConnection(e) => (None, Some(e.clone())),
        };
        let failed = !status.is_some_and(|s| (200..300).contains(&s));
        let wait = if failed {
            next_wait(&answer, &mut retries, &p)
        } else {
            None
        };
        tracing::debug!(webhook = %d.webhook_id, status = ?status, error = ?error, "zendesk simulator: webhook called");
        {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut st = shared.lock();
            st.breakers.entry(d.webhook_id.clone()).or_default().record(
                failed,
                admit == Admit::Probe,
                Instant::now(),
                &p,
            );
            if let Some(entry) = st.rules.deliveries.get_mut(d.seq) {
                entry.attempts.push(WebhookAttempt {
                    id: crate::rules::ulid(Utc::now()),
                    status,
                    error: error.clone(),
                    started_at,
                    completed_at: Utc::now(),
                });
                entry.status = status;
                entry.error = error;
                entry.outcome = match (failed, wait) {
                    (false, _) => "success",
                    (true, Some(_)) => "pending",
                    (true, None) => "failed",
                }
                .to_string();
            }
        }
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return,
        }
    }
}

/// One signed request of an invocation.
async fn call(http: &reqwest::Client, d: &Delivery) -> Answer {
    let timestamp = fmt_time(Utc::now());
    let signature = sign(&d.secret, &timestamp, d.body.as_bytes());
    let method = reqwest::Method::from_bytes(d.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let result = http
        .request(method, &d.endpoint)
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-id", &d.webhook_id)
        .header("x-zendesk-webhook-invocation-id", &d.invocation_id)
        .header("x-zendesk-webhook-signature", signature)
        .header("x-zendesk-webhook-signature-timestamp", &timestamp)
        .body(d.body.clone())
        .send()
        .await;
    match result {
        Ok(resp) => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Answer::Status(resp.status().as_u16(), retry_after)
        }
        Err(e) if e.is_timeout() => Answer::Timeout,
        Err(e) => Answer::NoConnection(e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_zendesk_retries() {
        let p = WebhookPolicy::default();
        let mut r = Retries::default();
        let conflict = Answer::Status(409, None);
        for _ in 0..3 {
            assert!(next_wait(&conflict, &mut r, &p).is_some());
        }
        assert!(next_wait(&conflict, &mut r, &p).is_none(), "409: 3 retries");
        let mut r = Retries::default();
        for _ in 0..5 {
            assert!(next_wait(&Answer::Timeout, &mut r, &p).is_some());
        }
        assert!(
            next_wait(&Answer::Timeout, &mut r, &p).is_none(),
            "timeouts: 5"
        );
        let mut r = Retries::default();
        let soon = Answer::Status(503, Some("59".into()));
        assert_eq!(next_wait(&soon, &mut r, &p), Some(Duration::from_secs(59)));
        for a in [
            Answer::Status(503, None),
            Answer::Status(503, Some("60".into())),
            Answer::Status(429, Some("soon".into())),
            Answer::Status(500, Some("1".into())),
            Answer::Status(401, None),
            Answer::Status(404, None),
            Answer::NoConnection("refused".into()),
        ] {
            assert!(next_wait(&a, &mut Retries::default(), &p).is_none());
        }
    }

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
