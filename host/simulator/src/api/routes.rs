//! The routes of the Zendesk API once a request is authenticated: tickets, comments,
//! tags and users; and the account's configuration (brands, groups, webhooks,
//! triggers, automations).

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method};
use serde_json::{json, Value};

use super::reply::{Reply, ReplyBody};
use crate::common::ApiError;
use crate::state::State;

/// The JSON body of a write, if any. Zendesk requires `Content-Type:
/// application/json` on writes; a body sent without it is not parsed (as in
/// Rails), so its parameters count as missing.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    if !is_json {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::BadRequest(
            "InvalidJSON",
            format!("The request body is not valid JSON: {e}"),
        )
    })
}

fn parse_id(s: &str) -> Result<u64, ApiError> {
    // A non-numeric id never matches a Zendesk route.
    s.parse().map_err(|_| ApiError::InvalidEndpoint)
}

/// Answers a request authenticated as `actor` for `segments` (the path after
/// `/api/v2/`).
#[allow(clippy::too_many_arguments)]
pub(super) fn route(
    st: &mut State,
    base: &str,
    actor: u64,
    method: &Method,
    segments: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    let m = method.as_str();
    match (m, segments) {
        ("GET", ["users", "me"]) => {
            let mut me = st.desk.user_json(actor, base).ok_or(ApiError::NotFound)?;
            st.roles.describe(actor, &mut me);
            Ok(Reply::json(200, json!({"user": me})))
        }
        ("GET", ["users", id]) => {
            let id = parse_id(id)?;
            let mut user = st.desk.user_json(id, base).ok_or(ApiError::NotFound)?;
            st.roles.describe(id, &mut user);
            Ok(Reply::json(200, json!({"user": user})))
        }
        ("GET", ["tickets", id]) => Ok(Reply::json(
            200,
            st.desk.api_show_ticket(parse_id(id)?, query, base)?,
        )),
        ("PUT", ["tickets", id]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            Ok(Reply::json(
                200,
                st.api_update_ticket(id, body.as_ref(), base, actor)?,
            ))
        }
        ("GET", ["tickets", id, "comments"]) => Ok(Reply::json(
            200,
            st.desk.api_list_comments(parse_id(id)?, query, base)?,
        )),
        ("GET" | "PUT" | "POST" | "DELETE", ["tickets", id, "tags"]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            let (status, v) = st.api_tags(id, m, body.as_ref(), query)?;
            Ok(Reply::json(status, v))
        }
        ("GET", ["search"]) => Ok(Reply::json(200, st.desk.api_search(query, base)?)),
        _ => route_account(st, base, actor, method, segments, query, headers, body),
    }
}

/// Whether a request to the account's configuration needs an administrator: every
/// webhooks call, and changes to triggers and automations (listing them, and the
/// trigger definitions, are allowed for agents). Zendesk answers an agent 403
/// (`shared/zendesk-api.md`, "Permissions"; a custom role with those permissions is
/// not modelled).
fn needs_admin(method: &str, segments: &[&str]) -> bool {
    match segments.first() {
        Some(&"webhooks") => true,
        Some(&"triggers") | Some(&"automations") => method != "GET",
        _ => false,
    }
}

/// The account's configuration: brands, groups, webhooks, triggers, automations.
#[allow(clippy::too_many_arguments)]
fn route_account(
    st: &mut State,
    base: &str,
    actor: u64,
    method: &Method,
    segments: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    if needs_admin(method.as_str(), segments) && !st.desk.is_admin(actor) {
        return Err(ApiError::Forbidden);
    }
    let seat = actor;
    let now = chrono::Utc::now();
    if let ("POST", ["group_memberships"]) = (method.as_str(), segments) {
        if !st.desk.is_admin(actor) {
            return Err(ApiError::Forbidden);
        }
        let body = json_body(headers, body)?;
        return Ok(Reply::json(
            201,
            st.directory.create_membership(body.as_ref(), base)?,
        ));
    }
    // Custom roles: listing them is allowed for agents (Zendesk's reference).
    if let ("GET", ["custom_roles"]) = (method.as_str(), segments) {
        return Ok(Reply::json(200, st.roles.list_json()));
    }
    let d = &st.directory;
    let r = &mut st.rules;
    match (method.as_str(), segments) {
        ("GET", ["brands"]) => Ok(Reply::json(200, d.list_brands(base))),
        ("GET", ["ticket_fields"]) => Ok(Reply::json(200, st.catalog.list_fields(base))),
        ("GET", ["ticket_forms"]) => Ok(Reply::json(200, st.catalog.list_forms(base))),
        ("GET", ["business_hours", "schedules"]) => {
            Ok(Reply::json(200, st.catalog.list_schedules()))
        }
        ("GET", ["groups"]) => Ok(Reply::json(200, d.list_groups(query, base)?)),
        ("GET", ["group_memberships"]) => Ok(Reply::json(
            200,
            d.list_memberships(None, None, query, base)?,
        )),
        ("GET", ["users", id, "group_memberships"]) => Ok(Reply::json(
            200,
            d.list_memberships(Some(parse_id(id)?), None, query, base)?,
        )),
        ("GET", ["groups", id, "memberships"]) => Ok(Reply::json(
            200,
            d.list_memberships(None, Some(parse_id(id)?), query, base)?,
        )),
        ("GET", ["webhooks"]) => Ok(Reply::json(200, r.list_webhooks(query, base)?)),
        ("POST", ["webhooks"]) => {
            let body = json_body(headers, body)?;
            Ok(Reply::json(
                201,
                r.create_webhook(body.as_ref(), seat, now)?,
            ))
        }
        ("POST", ["webhooks", "test"]) => {
            // Only prepared here (under the lock); `api::mod` makes the call and
            // answers with its result (see `rules::webhook_test`).
            let body = json_body(headers, body)?;
            Ok(Reply::json(
                200,
                r.prepare_webhook_test(body.as_ref(), query)?,
            ))
        }
        ("GET", ["webhooks", id]) => Ok(Reply::json(200, r.show_webhook(id)?)),
        ("PUT" | "PATCH", ["webhooks", id]) => {
            let body = json_body(headers, body)?;
            r.update_webhook(id, body.as_ref(), seat, now)?;
            Ok(Reply {
                status: 204,
                body: ReplyBody::Empty,
                headers: Vec::new(),
            })
        }
        ("GET", ["webhooks", id, "invocations"]) => {
            Ok(Reply::json(200, r.list_invocations(id, query, base)?))
        }
        ("GET", ["webhooks", id, "invocations", inv, "attempts"]) => {
            Ok(Reply::json(200, r.list_attempts(id, inv)?))
        }
        ("GET", ["webhooks", id, "signing_secret"]) => Ok(Reply::json(200, r.signing_secret(id)?)),
        ("POST", ["webhooks", id, "signing_secret"]) => {
            Ok(Reply::json(200, r.reset_signing_secret(id)?))
        }
        ("GET", ["triggers"]) => Ok(Reply::json(200, r.list_triggers(query, base)?)),
        ("POST", ["triggers"]) => {
            let body = json_body(headers, body)?;
            Ok(Reply::json(201, r.create_trigger(body.as_ref(), base)?))
        }
        ("GET", ["triggers", "definitions"]) => Ok(Reply::json(200, r.definitions())),
        ("GET", ["triggers", id]) => Ok(Reply::json(200, r.show_trigger(parse_id(id)?, base)?)),
        ("PUT", ["triggers", id]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            Ok(Reply::json(200, r.update_trigger(id, body.as_ref(), base)?))
        }
        ("GET", ["automations"]) => Ok(Reply::json(200, r.list_automations(query, base)?)),
        ("POST", ["automations"]) => {
            let body = json_body(headers, body)?;
            Ok(Reply::json(201, r.create_automation(body.as_ref())?))
        }
        ("PUT", ["automations", id]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            Ok(Reply::json(200, r.update_automation(id, body.as_ref())?))
        }
        _ => Err(ApiError::InvalidEndpoint),
    }
}
