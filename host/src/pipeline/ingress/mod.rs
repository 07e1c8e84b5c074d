//! The HTTP side: Zendesk's notifications come in at `POST /notify/{token}`, are checked,
//! stored in the inbox and answered 202 at once; the work happens afterwards.
//!
//! Every refusal is a JSON body `{"error": "...", "detail": "..."}` with a status that
//! says what kind of problem it is (400 malformed, 401 bad signature, 404 unknown
//! endpoint, 413 too large, 503 stopping).

use crate::gateway::Gateway;
use crate::store::inbox::{Enqueued, Notification};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Largest notification body accepted. Zendesk's is `{"id": N}`: a few bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The router for the gateway's HTTP server.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/notify/{token}", post(notify))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/plugins", get(admin_plugins))
        .route("/admin/audit", get(admin_audit))
        .fallback(not_found)
        .layer(axum::Extension(Arc::new(replay::Replays::default())))
        .with_state(gw)
}

/// A JSON error answer.
pub fn error(status: StatusCode, error: &str, detail: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": error, "detail": detail.into() })),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let inbox = gw.inbox.store().clone();
    if let Ok(Ok(depth)) = tokio::task::spawn_blocking(move || inbox.depth()).await {
        gw.metrics.inbox_depth.set(depth as i64);
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gw.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.is_shutting_down() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is stopping",
        );
    }
    if let Some((status, detail)) = readiness::unready(&gw) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": status, "detail": detail })),
        )
            .into_response();
    }
    let brands: Vec<_> = gw
        .brands()
        .values()
        .map(|b| json!({ "brand": b.brand.name, "plugin_version": b.plugin.version }))
        .collect();
    let config = gw.config();
    let problems: Vec<_> = config
        .environments
        .keys()
        .filter_map(|name| gw.environment(name))
        .filter_map(|env| {
            env.client
                .auth_problem()
                .map(|p| json!({ "environment": env.config.name, "problem": p }))
        })
        .collect();
    if !problems.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "zendesk_auth_failed", "environments": problems, "brands": brands })),
        )
            .into_response();
    }
    Json(json!({ "status": "ready", "brands": brands })).into_response()
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

async fn notify(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    axum::Extension(replays): axum::Extension<Arc<replay::Replays>>,
    request: axum::extract::Request,
) -> Response {
    // The request taken whole rather than a `HeaderMap` extractor, which would copy every
    // header of every notification to check a signature only some endpoints have.
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let Some(endpoint) = gw.endpoint_for_token(&token) else {
        gw.metrics.notification("unknown", "unknown_endpoint");
        // The same answer as for any unknown path: a wrong token reveals nothing.
        return not_found().await;
    };
    if gw.is_shutting_down() {
        return (
            [("retry-after", "5")],
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the gateway is stopping; try again shortly",
            ),
        )
            .into_response();
    }
    let max_depth = gw.config().gateway.max_inbox_depth;
    if gw.inbox.waiting() >= max_depth as i64 {
        gw.metrics.notification(&endpoint.name, "backpressure");
        return (
            [("retry-after", "30")],
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "inbox_full",
                format!("{max_depth} tickets are waiting; try again later"),
            ),
        )
            .into_response();
    }
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        // Too slow (the listener's body deadline) or cut off: not a size problem.
        Err(e) if !is_length_limit(&e) => {
            gw.metrics.notification(&endpoint.name, "body_unreadable");
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "body_unreadable",
                format!("the request body did not arrive in time or was cut off: {e}"),
            );
        }
        Err(_) => {
            gw.metrics.notification(&endpoint.name, "too_large");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a notification body is at most {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    if let Some(secret) = &endpoint.signing_secret {
        if let Err(why) = crate::pipeline::ingress::signature::verify(
            secret.expose(),
            headers,
            &body,
            chrono::Utc::now(),
        ) {
            tracing::warn!(endpoint = %endpoint.name, reason = why, "notification refused: bad signature");
            gw.metrics.notification(&endpoint.name, "bad_signature");
            return error(StatusCode::UNAUTHORIZED, "bad_signature", why);
        }
    }
    let ticket_id = match parse_ticket_id(&body) {
        Ok(id) => id,
        Err(why) => {
            tracing::info!(endpoint = %endpoint.name, reason = %why, "notification refused: malformed body");
            gw.metrics.notification(&endpoint.name, "malformed");
            return error(StatusCode::BAD_REQUEST, "malformed_body", why);
        }
    };
    let replay_keys = replay::keys(&endpoint.name, headers, endpoint.signing_secret.is_some());
    if !replays.claim(&replay_keys) {
        gw.metrics.notification(&endpoint.name, "replay");
        gw.metrics.replays.inc();
        tracing::info!(endpoint = %endpoint.name, ticket = ticket_id, "notification seen already (replay or duplicate delivery); nothing to do");
        return (
            StatusCode::OK,
            Json(json!({ "accepted": true, "ticket_id": ticket_id, "duplicate": true })),
        )
            .into_response();
    }
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
            let result = if enqueued == Enqueued::Coalesced {
                "coalesced"
            } else {
                "accepted"
            };
            gw.metrics.notification(&endpoint.name, result);
            tracing::debug!(endpoint = %endpoint.name, ticket = ticket_id, coalesced = enqueued == Enqueued::Coalesced, "notification accepted");
            // Written directly: the hot path's one answer needs no JSON tree.
            (
                StatusCode::ACCEPTED,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                format!(
                    "{{\"accepted\":true,\"ticket_id\":{ticket_id},\"coalesced\":{}}}",
                    enqueued == Enqueued::Coalesced
                ),
            )
                .into_response()
        }
        // Not stored, so not acknowledged. Zendesk retries a 503 only when it carries a
        // Retry-After under 60 s (docs/operations.md), so every 503 here has one.
        Err(e) => {
            replays.forget(&replay_keys);
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

fn authorised(gw: &Gateway, headers: &HeaderMap) -> bool {
    let config = gw.config();
    let Some(expected) = &config.gateway.admin_token else {
        return false;
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    use subtle::ConstantTimeEq;
    bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes()))
}

async fn admin_plugins(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if !authorised(&gw, &headers) {
        return not_found().await;
    }
    let status = gw.plugin_status();
    let plugins: Vec<_> = gw
        .brands()
        .values()
        .map(|b| {
            let s = status.get(&b.brand.name).cloned().unwrap_or_default();
            json!({
                "brand": b.brand.name,
                "mode": b.brand.mode.to_string(),
                "path": b.plugin.path.display().to_string(),
                "version": b.plugin.version,
                "wit_version": b.plugin.pre.wit_version(),
                "loaded_at": b.plugin.loaded_at.to_rfc3339(),
                "last_error": s.last_error,
                "last_error_at": s.last_error_at,
                "failed_reloads": s.failed_reloads,
                "reloads": s.reloads,
                "failures_in_a_row": gw.quarantine().failures_in_a_row(&b.brand.name, &b.plugin.version),
                "quarantined": gw.quarantine().holds(&b.brand, &b.plugin.version).is_some(),
            })
        })
        .collect();
    Json(json!({ "plugins": plugins })).into_response()
}

#[derive(Deserialize)]
struct AuditQuery {
    ticket: Option<u64>,
    limit: Option<usize>,
}

async fn admin_audit(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    if !authorised(&gw, &headers) {
        return not_found().await;
    }
    let audit = gw.audit.clone();
    let limit = q.limit.unwrap_or(100).min(1000);
    match tokio::task::spawn_blocking(move || audit.query(q.ticket, limit)).await {
        Ok(Ok(records)) => Json(json!({ "records": records })).into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "audit_unavailable",
            "cannot read the audit trail",
        ),
    }
}

pub mod readiness;
pub mod replay;
pub mod signature;

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
