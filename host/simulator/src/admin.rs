//! The admin API under `/_sim/`: no authentication, JSON in and out, never in the
//! call log and never counted against the quota. It lets the demo, tests in other
//! processes and humans play the customer and the human agent.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::SimUser;
use crate::faults::Fault;
use crate::model::{AgentEdit, NewComment, NewTicket};
use crate::shared::Shared;
use crate::state::EditError;

/// The admin routes, to be nested under `/_sim`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/tickets", get(list_tickets).post(create_ticket))
        .route("/tickets/{id}", get(show_ticket).put(agent_edit))
        .route("/tickets/{id}/comments", post(add_comment))
        .route("/calls", get(list_calls).delete(clear_calls))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/users", get(list_users).post(add_user))
        .route("/rate_limit", axum::routing::delete(reset_rate_limit))
        .route("/rules", get(list_rules))
        .route("/webhook_deliveries", get(list_deliveries))
        .route("/webhooks/{id}/breaker", get(show_breaker))
        .fallback(|| async { admin_error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .with_state(shared)
}

fn admin_error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

fn not_found(id: u64) -> Response {
    admin_error(StatusCode::NOT_FOUND, format!("no ticket {id}"))
}

type Shr = AxState<Arc<Shared>>;

async fn info(AxState(shared): Shr) -> Json<Value> {
    let st = shared.lock();
    Json(json!({
        "base_url": shared.base_url,
        "seat": st.desk.seat,
        "api_token": st.desk.api_token,
        "authorization": st.desk.auth_header(),
        "rate_limit_per_minute": st.quota.limit,
        "users": st.desk.users(),
    }))
}

async fn list_tickets(AxState(shared): Shr) -> Json<Value> {
    let st = shared.lock();
    let tickets: Vec<Value> = st
        .desk
        .ticket_ids()
        .into_iter()
        .filter_map(|id| st.desk.ticket_state(id, &shared.base_url))
        .map(|s| s.ticket)
        .collect();
    Json(json!({"tickets": tickets}))
}

async fn create_ticket(AxState(shared): Shr, Json(t): Json<NewTicket>) -> Response {
    let mut st = shared.lock();
    let id = st.create_ticket(t);
    let ticket = st.desk.sim_ticket(id, &shared.base_url).map(|t| t.ticket);
    (StatusCode::CREATED, Json(json!({"ticket": ticket}))).into_response()
}

async fn show_ticket(AxState(shared): Shr, Path(id): Path<u64>) -> Response {
    match shared.lock().desk.ticket_state(id, &shared.base_url) {
        Some(state) => Json(state).into_response(),
        None => not_found(id),
    }
}

async fn agent_edit(
    AxState(shared): Shr,
    Path(id): Path<u64>,
    edit: Option<Json<AgentEdit>>,
) -> Response {
    let mut st = shared.lock();
    let edit = edit.map(|Json(e)| e).unwrap_or_default();
    match st.agent_edit(id, edit) {
        Ok(()) => Json(st.desk.ticket_state(id, &shared.base_url)).into_response(),
        Err(e) if st.desk.ticket_state(id, "").is_none() => admin_error(StatusCode::NOT_FOUND, e),
        // The human's save meets the Update Ticket limit, as in the Zendesk UI.
        Err(EditError::Limited { retry_after }) => {
            let mut resp = admin_error(
                StatusCode::TOO_MANY_REQUESTS,
                EditError::Limited { retry_after },
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
            resp
        }
        Err(e) => admin_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn add_comment(
    AxState(shared): Shr,
    Path(id): Path<u64>,
    Json(c): Json<NewComment>,
) -> Response {
    let mut st = shared.lock();
    if st.desk.ticket_state(id, "").is_none() {
        return not_found(id);
    }
    match st.add_comment(id, c) {
        Ok(()) => (
            StatusCode::CREATED,
            Json(st.desk.ticket_state(id, &shared.base_url)),
        )
            .into_response(),
        Err(e) => admin_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn list_calls(AxState(shared): Shr) -> Json<Value> {
    Json(json!({"calls": shared.lock().calls}))
}

async fn clear_calls(AxState(shared): Shr) -> StatusCode {
    shared.lock().calls.clear();
    StatusCode::NO_CONTENT
}

/// The pending faults; a windowed one also shows `expires_in_ms`.
async fn list_faults(AxState(shared): Shr) -> Json<Value> {
    Json(json!({"faults": shared.lock().faults.list(Instant::now())}))
}

/// Injects a fault (see [`Fault`] for the fields); 400 when it would change nothing.
async fn add_fault(AxState(shared): Shr, Json(f): Json<Fault>) -> Response {
    if let Err(e) = f.check() {
        return admin_error(StatusCode::BAD_REQUEST, e);
    }
    shared.lock().faults.push(f.clone(), Instant::now());
    (StatusCode::CREATED, Json(json!({"fault": f}))).into_response()
}

async fn clear_faults(AxState(shared): Shr) -> StatusCode {
    shared.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn list_users(AxState(shared): Shr) -> Json<Value> {
    Json(json!({"users": shared.lock().desk.users()}))
}

/// A user to add; the id is picked when absent and the role defaults to end-user.
#[derive(Deserialize)]
struct NewUser {
    id: Option<u64>,
    name: String,
    email: String,
    #[serde(default = "end_user")]
    role: String,
}

fn end_user() -> String {
    "end-user".to_string()
}

async fn add_user(AxState(shared): Shr, Json(u): Json<NewUser>) -> Response {
    let mut st = shared.lock();
    let id = u.id.unwrap_or_else(|| st.desk.next_user_id());
    st.desk.add_user(SimUser {
        id,
        name: u.name,
        email: u.email,
        role: u.role,
    });
    let user = st.desk.user_json(id, &shared.base_url);
    (StatusCode::CREATED, Json(json!({"user": user}))).into_response()
}

/// The account's webhooks, triggers and automations, as the API shows them.
async fn list_rules(AxState(shared): Shr) -> Json<Value> {
    let st = shared.lock();
    Json(json!({
        "webhooks": st.rules.webhooks_json(),
        "triggers": st.rules.triggers_json(&shared.base_url),
        "automations": st.rules.automations_json(),
    }))
}

/// The webhook calls triggers made, oldest first.
async fn list_deliveries(AxState(shared): Shr) -> Json<Value> {
    Json(json!({"webhook_deliveries": shared.lock().rules.deliveries}))
}

/// A webhook's circuit breaker: `closed`, `open` (paused: notifications are
/// dropped) or `half_open` (the pause is over; the next call decides).
async fn show_breaker(AxState(shared): Shr, Path(id): Path<String>) -> Response {
    let mut st = shared.lock();
    if !st
        .rules
        .webhooks_json()
        .iter()
        .any(|w| w["id"] == id.as_str())
    {
        return admin_error(StatusCode::NOT_FOUND, format!("no webhook {id}"));
    }
    let breaker = st
        .breakers
        .entry(id.clone())
        .or_default()
        .report(Instant::now(), &shared.webhooks);
    Json(json!({"webhook_id": id, "breaker": breaker})).into_response()
}

async fn reset_rate_limit(AxState(shared): Shr) -> StatusCode {
    let mut st = shared.lock();
    st.quota.reset();
    st.updates.reset();
    StatusCode::NO_CONTENT
}
