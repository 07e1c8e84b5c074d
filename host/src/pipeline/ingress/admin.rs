//! `GET /admin/plugins` (each brand's plugin, reload and quarantine state) and
//! `GET /admin/audit` (the audit trail, newest first), behind `gateway.admin_token`.
//! Without a token configured, or with a wrong one, they answer like an unknown path.

use super::{error, not_found};
use crate::gateway::Gateway;
use axum::extract::{Query, State};
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
                "quarantined": gw.quarantine().holds(&b.brand, &b.plugin.version).is_some(),
            })
        })
        .collect();
    Json(json!({ "plugins": plugins })).into_response()
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
