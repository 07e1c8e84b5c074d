//! `GET /admin/plugins` (each brand's plugin, reload and quarantine state), `POST
//! /admin/plugins/{brand}/release` (end a quarantine), `GET /admin/audit` (the audit
//! trail, newest first), `GET /admin/dead-letters` and `POST
//! /admin/dead-letters/{environment}/{ticket}/retry`, behind `gateway.admin_token`.
//! Without a token configured, or with a wrong one, they answer like an unknown path.

use super::{error, not_found};
use crate::gateway::Gateway;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Whether the request carries `Authorization: Bearer <admin token>`, compared in
/// constant time.
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

pub(super) async fn plugins(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
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
                "quarantined": gw.quarantine().is_quarantined(&b.brand, &b.plugin.version),
            })
        })
        .collect();
    // Every replica's versions, from the heartbeats: during a rollout of a plugin file
    // they differ until each replica's watcher has loaded it.
    let replicas = match gw.replicas().await {
        Ok(r) => json!(r),
        Err(e) => json!({ "error": format!("cannot read the replicas' heartbeats: {e:#}") }),
    };
    Json(json!({
        "replica_id": gw.config().gateway.replica_id,
        "plugins": plugins,
        "replicas": replicas,
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    ticket: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn audit(
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

/// `POST /admin/plugins/{brand}/release`: ends the brand's quarantine now.
pub(super) async fn release(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(brand): Path<String>,
) -> Response {
    if !authorised(&gw, &headers) {
        return not_found().await;
    }
    let Some(b) = gw.brand(&brand) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_brand",
            format!("no brand named {brand:?}"),
        );
    };
    let released = gw.quarantine().release(&b.brand);
    Json(json!({ "brand": brand, "released": released })).into_response()
}

/// `GET /admin/dead-letters`: tickets given up whose hand-off could not be written.
pub(super) async fn dead_letters(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if !authorised(&gw, &headers) {
        return not_found().await;
    }
    match gw.inbox.dead_letters().await {
        Ok(list) => Json(json!({ "dead_letters": list })).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "inbox_unavailable",
            format!("cannot read the dead letters: {e:#}"),
        ),
    }
}

/// `POST /admin/dead-letters/{environment}/{ticket}/retry`: runs a dead letter again now.
pub(super) async fn retry_dead_letter(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((environment, ticket)): Path<(String, u64)>,
) -> Response {
    if !authorised(&gw, &headers) {
        return not_found().await;
    }
    match gw.retry_dead_letter(&environment, ticket).await {
        Ok(true) => {
            Json(json!({ "environment": environment, "ticket_id": ticket, "retrying": true }))
                .into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "no_dead_letter",
            format!("ticket {ticket} of {environment} is not a dead letter"),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "inbox_unavailable",
            format!("cannot revive the dead letter: {e:#}"),
        ),
    }
}
