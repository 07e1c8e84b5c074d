//! The HTTP side: Zendesk's notifications come in at `POST /notify/{token}`, are checked,
//! stored in the inbox and answered 202 at once; the work happens afterwards.
//!
//! Every refusal is a JSON body `{"error": "...", "detail": "..."}` with a status that
//! says what kind of problem it is (400 malformed, 401 bad signature, 404 unknown
//! endpoint, 413 too large, 503 stopping).
//!
//! `notify.rs` is the notification path, `probes.rs` health, readiness and metrics,
//! `admin.rs` the token-guarded `/admin/*` views, `signature.rs` Zendesk's webhook
//! signature.

mod admin;
mod notify;
mod probes;
pub mod readiness;
pub mod replay;
pub mod signature;

use crate::gateway::Gateway;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
pub use notify::{parse_ticket_id, MAX_BODY_BYTES, PROBE_FIELD};
use serde_json::json;
use std::sync::Arc;

/// The router for the gateway's HTTP server.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/notify/{token}", post(notify::notify))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .route("/admin/plugins", get(admin::plugins))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/plugins/{brand}/release", post(admin::release))
        .route("/admin/dead-letters", get(admin::dead_letters))
        .route(
            "/admin/dead-letters/{environment}/{ticket}/retry",
            post(admin::retry_dead_letter),
        )
        .nest("/console", crate::pipeline::console::router(gw.clone()))
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

/// The answer to any unknown path, and to a wrong token or admin token, which must
/// not be told apart from one.
async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
