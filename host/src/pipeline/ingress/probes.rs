//! `GET /healthz` (the process answers), `GET /readyz` (not stopping, every Zendesk
//! environment's seat authenticates; lists the brands and their plugin versions) and
//! `GET /metrics` (OpenMetrics text).

use super::error;
use crate::gateway::Gateway;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

pub(super) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub(super) async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let inbox = gw.inbox.store().clone();
    // The depth is a SQLite count: off the async threads.
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

pub(super) async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.is_shutting_down() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is stopping",
        );
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
