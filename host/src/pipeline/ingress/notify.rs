//! `POST /notify/{token}`: find the endpoint by its token, refuse while stopping or
//! while the inbox is full (backpressure), read the body (capped), check the signature
//! if the endpoint has a signing secret, parse the ticket id, store it in the inbox and
//! answer 202 once it is committed. Each step that refuses answers for itself.
//!
//! A delivery probe (`zendesk-gateway doctor`, through Zendesk's "Test Webhook" API) is
//! a JSON object with the field [`PROBE_FIELD`] and no `id`: once its signature is
//! verified it is answered 200 with what was checked, and nothing is stored or run.

use super::{error, not_found};
use crate::config::Endpoint;
use crate::gateway::Gateway;
use crate::store::inbox::{Enqueued, Notification};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// The field that marks a delivery probe's body: `{"zendesk_gateway_probe": "<nonce>"}`.
pub const PROBE_FIELD: &str = "zendesk_gateway_probe";

/// Largest notification body accepted. Zendesk's is `{"id": N}`: a few bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) async fn notify(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    axum::Extension(replays): axum::Extension<Arc<super::replay::Replays>>,
    request: axum::extract::Request,
) -> Response {
    // The request taken whole rather than a `HeaderMap` extractor, which would copy every
    // header of every notification to check a signature only some endpoints have.
    let (parts, body) = request.into_parts();
    let Some(endpoint) = gw.endpoint_for_token(&token) else {
        gw.metrics.notification("unknown", "unknown_endpoint");
        // The same answer as for any unknown path: a wrong token reveals nothing.
        return not_found().await;
    };
    let ticket_id = match accept(&gw, &endpoint, &parts.headers, body).await {
        Ok(ticket_id) => ticket_id,
        Err(refusal) => return refusal,
    };
    // Zendesk's invocation id (the same on its retries): a repeat within the signature
    // window is answered without work.
    let replay_keys = super::replay::keys(
        &endpoint.name,
        &parts.headers,
        endpoint.signing_secret.is_some(),
    );
    if !replays.claim(&replay_keys) {
        gw.metrics.notification(&endpoint.name, "replay");
        gw.metrics.replays.inc();
        tracing::info!(endpoint = %endpoint.name, ticket = ticket_id,
            "notification seen already (replay or duplicate delivery); nothing to do");
        return (
            StatusCode::OK,
            Json(json!({ "accepted": true, "ticket_id": ticket_id, "duplicate": true })),
        )
            .into_response();
    }
    let answer = enqueue(&gw, &endpoint, ticket_id).await;
    if answer.status() == StatusCode::SERVICE_UNAVAILABLE {
        // Not stored: Zendesk's retry of this invocation must be let through.
        replays.forget(&replay_keys);
    }
    answer
}

/// The checks before anything is stored: the ticket id, or the answer that refuses it
/// (or, for a delivery probe, answers it).
async fn accept(
    gw: &Gateway,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, Response> {
    if let Some(refusal) = admit(gw, endpoint) {
        return Err(refusal);
    }
    let body = read_body(gw, endpoint, body).await?;
    if let Some(refusal) = check_signature(gw, endpoint, headers, &body) {
        return Err(refusal);
    }
    if let Some(answer) = probe_answer(endpoint, &body) {
        return Err(answer);
    }
    parse_ticket_id(&body).map_err(|why| {
        tracing::info!(endpoint = %endpoint.name, reason = %why, "notification refused: malformed body");
        gw.metrics.notification(&endpoint.name, "malformed");
        error(StatusCode::BAD_REQUEST, "malformed_body", why)
    })
}

/// The refusal, with a Retry-After, while the gateway stops or the inbox is full.
fn admit(gw: &Gateway, endpoint: &Endpoint) -> Option<Response> {
    if gw.is_shutting_down() {
        return Some(
            (
                [("retry-after", "5")],
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the gateway is stopping; try again shortly",
                ),
            )
                .into_response(),
        );
    }
    let max_depth = gw.config().gateway.max_inbox_depth;
    if gw.inbox.waiting() >= max_depth as i64 {
        gw.metrics.notification(&endpoint.name, "backpressure");
        return Some(
            (
                [("retry-after", "30")],
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "inbox_full",
                    format!("{max_depth} tickets are waiting; try again later"),
                ),
            )
                .into_response(),
        );
    }
    None
}

/// The body, at most [`MAX_BODY_BYTES`]; 408 when it did not arrive in time (the
/// listener's body deadline) or was cut off, 413 when it is too large.
async fn read_body(gw: &Gateway, endpoint: &Endpoint, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if !is_length_limit(&e) {
                gw.metrics.notification(&endpoint.name, "body_unreadable");
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_unreadable",
                    format!("the request body did not arrive in time or was cut off: {e}"),
                );
            }
            gw.metrics.notification(&endpoint.name, "too_large");
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a notification body is at most {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// True when reading a body failed because it is larger than allowed.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The refusal if the endpoint has a signing secret and the request's signature does
/// not match it.
fn check_signature(
    gw: &Gateway,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let secret = endpoint.signing_secret.as_ref()?;
    let why = super::signature::verify(secret.expose(), headers, body, chrono::Utc::now()).err()?;
    tracing::warn!(endpoint = %endpoint.name, reason = why, "notification refused: bad signature");
    gw.metrics.notification(&endpoint.name, "bad_signature");
    Some(error(StatusCode::UNAUTHORIZED, "bad_signature", why))
}

/// The answer to a delivery probe (a body with [`PROBE_FIELD`] and no `id`), which has
/// passed the signature check: 200 with its nonce, the endpoint and whether a signature
/// was verified, so `doctor` can tell this gateway answered.
fn probe_answer(endpoint: &Endpoint, body: &[u8]) -> Option<Response> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    if object.contains_key("id") {
        return None;
    }
    let nonce = object.get(PROBE_FIELD)?;
    tracing::info!(endpoint = %endpoint.name, "delivery probe answered (nothing stored)");
    let signature = if endpoint.signing_secret.is_some() {
        "verified"
    } else {
        "not_configured"
    };
    Some(
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "probe": "ok",
                PROBE_FIELD: nonce,
                "endpoint": endpoint.name,
                "signature": signature,
            })),
        )
            .into_response(),
    )
}

/// Parses a notification body into a ticket id, or says precisely what is wrong.
/// Zendesk's trigger sends `{"id": {{ticket.id}}}`; a quoted id is accepted too, since a
/// trigger author may well write `"{{ticket.id}}"`. Other fields are ignored.
pub fn parse_ticket_id(body: &[u8]) -> Result<u64, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err(format!(
            "expected a JSON object like {{\"id\": 123}}, got {value}"
        ));
    };
    let Some(raw) = object.get("id") else {
        return Err("the object has no \"id\" field; expected {\"id\": <ticket id>}".into());
    };
    let id = match raw {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match id {
        Some(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "\"id\" must be a positive integer ticket id, got {raw}"
        )),
    }
}

/// Stores the notification and answers 202, or 503 if it could not be stored.
async fn enqueue(gw: &Gateway, endpoint: &Endpoint, ticket_id: u64) -> Response {
    let notification = Notification {
        environment: endpoint.environment.clone(),
        ticket_id,
        endpoint: endpoint.name.clone(),
    };
    // Stored in a transaction shared with whatever arrives at the same moment (group
    // commit), and acknowledged only once it is committed.
    match gw.inbox.enqueue(notification).await {
        Ok(enqueued) => {
            gw.work_available.notify_one();
            let coalesced = enqueued == Enqueued::Coalesced;
            let result = if coalesced { "coalesced" } else { "accepted" };
            gw.metrics.notification(&endpoint.name, result);
            tracing::debug!(endpoint = %endpoint.name, ticket = ticket_id, coalesced, "notification accepted");
            // Written directly: the hot path's one answer needs no JSON tree.
            (
                StatusCode::ACCEPTED,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                format!(
                    "{{\"accepted\":true,\"ticket_id\":{ticket_id},\"coalesced\":{coalesced}}}"
                ),
            )
                .into_response()
        }
        // Not stored, so not acknowledged. Zendesk retries a 503 only when it carries a
        // Retry-After under 60 s (docs/operations.md), so every 503 here has one.
        Err(e) => {
            gw.metrics.notification(&endpoint.name, "unavailable");
            tracing::error!(endpoint = %endpoint.name, ticket = ticket_id, error = %e, "cannot store a notification");
            (
                [("retry-after", "10")],
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "inbox_unavailable",
                    "the notification could not be stored; retry",
                ),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ticket_id;

    #[test]
    fn parses_ids_and_explains_bad_bodies() {
        assert_eq!(parse_ticket_id(br#"{"id": 42}"#), Ok(42));
        assert_eq!(parse_ticket_id(br#"{"id": "42"}"#), Ok(42));
        assert!(parse_ticket_id(br#"{"id": 0}"#)
            .unwrap_err()
            .contains("positive"));
        assert!(parse_ticket_id(br#"{"id": -3}"#).is_err());
        assert!(parse_ticket_id(br#"{"id": 1.5}"#).is_err());
        assert!(parse_ticket_id(br#"{"ticket": 1}"#)
            .unwrap_err()
            .contains("\"id\""));
        assert!(parse_ticket_id(b"not json")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_ticket_id(b"").is_err());
        assert!(parse_ticket_id(br#"[1]"#).is_err());
    }
}
