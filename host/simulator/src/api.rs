//! The Zendesk API surface under `/api/v2/`.
//!
//! One fallback handler takes every non-admin request so that the cross-cutting
//! parts (injected faults, the per-minute quota, authentication, rate-limit
//! headers and the call log) happen in one place, in the order Zendesk's edge
//! would apply them, under a single lock of the state.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::state::{ApiError, State};
use crate::{ApiCall, Shared};

/// The router for everything that is not `/_sim/`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(entry).with_state(shared)
}

/// A response assembled under the lock and turned into HTTP after it.
struct Reply {
    status: u16,
    body: ReplyBody,
    headers: Vec<(&'static str, String)>,
}

enum ReplyBody {
    Json(Value),
    Text(&'static str),
    /// 204 No Content.
    Empty,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            ReplyBody::Json(v) => (Some("application/json; charset=utf-8"), v.to_string()),
            ReplyBody::Text(t) => (Some("text/plain; charset=utf-8"), t.to_string()),
            ReplyBody::Empty => (None, String::new()),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h.insert("x-zendesk-api-version", HeaderValue::from_static("v2"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// The status and body Zendesk answers for an error.
fn reply_for_error(e: ApiError) -> Reply {
    let detail = |field: &str, msg: &str| {
        json!({
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {field: [{"description": msg, "error": "InvalidValue"}]},
        })
    };
    match e {
        ApiError::BadRequest(code, description) => {
            Reply::json(400, json!({"error": code, "description": description}))
        }
        ApiError::Unauthorized => unauthorized(),
        ApiError::Forbidden => Reply::json(403, forbidden_body()),
        ApiError::NotFound => Reply::json(
            404,
            json!({"error": "RecordNotFound", "description": "Not found"}),
        ),
        ApiError::InvalidEndpoint => Reply::json(
            404,
            json!({"error": "InvalidEndpoint", "description": "Not found"}),
        ),
        ApiError::Conflict => Reply::json(409, conflict_body()),
        ApiError::Invalid(details) => {
            let mut map = serde_json::Map::new();
            for (field, msg) in details {
                let entry = map.entry(field).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!({"description": msg, "error": "InvalidValue"}));
                }
            }
            Reply::json(
                422,
                json!({
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": map,
                }),
            )
        }
        ApiError::TooManyRequests { retry_after } => too_many(retry_after.to_string()),
        // The webhooks API is a newer service with JSON:API-style errors (assumed from
        // Zendesk's webhooks reference; the notes do not cover it).
        ApiError::WebhookInvalid(detail) => Reply::json(
            400,
            json!({"errors": [{"code": "InvalidValue", "title": "Invalid webhook", "detail": detail}]}),
        ),
        ApiError::Injected {
            status,
            retry_after,
        } => {
            let mut reply = match status {
                // Retry-After is what a client needs from a 429; Zendesk's body for
                // it is short plain text, which also exercises non-JSON errors.
                429 => too_many(retry_after.unwrap_or(1).to_string()),
                401 => unauthorized(),
                403 => Reply::json(403, forbidden_body()),
                404 => reply_for_error(ApiError::NotFound),
                409 => Reply::json(409, conflict_body()),
                422 => Reply::json(
                    422,
                    detail("base", "Injected validation failure (simulator fault)"),
                ),
                500 => Reply::json(
                    500,
                    json!({"error": "InternalServerError", "description": "Something went wrong"}),
                ),
                503 => Reply::json(503, json!({"error": "ServiceUnavailable"})),
                // Gateway errors come from Zendesk's edge as plain text.
                502 => Reply {
                    status,
                    body: ReplyBody::Text("Bad Gateway"),
                    headers: Vec::new(),
                },
                504 => Reply {
                    status,
                    body: ReplyBody::Text("Gateway Timeout"),
                    headers: Vec::new(),
                },
                s => {
                    let reason = StatusCode::from_u16(s)
                        .ok()
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("Error");
                    Reply::json(s, json!({"error": reason}))
                }
            };
            if status != 429 {
                if let Some(secs) = retry_after {
                    reply.headers.push(("retry-after", secs.to_string()));
                }
            }
            reply
        }
    }
}

fn unauthorized() -> Reply {
    Reply {
        status: 401,
        body: ReplyBody::Json(json!({"error": "Couldn't authenticate you"})),
        headers: vec![(
            "www-authenticate",
            "Basic realm=\"Web Password\"".to_string(),
        )],
    }
}

fn forbidden_body() -> Value {
    json!({
        "error": "Forbidden",
        "description": "You do not have access to this page. Please contact the account owner of this help desk for further help.",
    })
}

fn conflict_body() -> Value {
    json!({
        "error": "UpdateConflict",
        "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again.",
    })
}

fn too_many(retry_after: String) -> Reply {
    Reply {
        status: 429,
        body: ReplyBody::Text("Too Many Requests"),
        headers: vec![("retry-after", retry_after)],
    }
}

async fn entry(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_q = uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let query: Vec<(String, String)> = Query::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let logged_body: Option<Value> = serde_json::from_slice(&body).ok();
    let now = Instant::now();

    let mut st = shared.lock();
    let mut reply = process(
        &mut st,
        &shared.base_url,
        &method,
        uri.path(),
        &path_q,
        &query,
        &headers,
        &body,
        now,
    );
    // Every answer carries the account quota; ticket endpoints also the newer
    // IETF-style headers, as Zendesk sends them.
    let remaining = st.quota_remaining();
    reply
        .headers
        .push(("x-rate-limit", st.rate_limit.to_string()));
    reply
        .headers
        .push(("x-rate-limit-remaining", remaining.to_string()));
    if uri.path().starts_with("/api/v2/tickets") {
        reply
            .headers
            .push(("ratelimit-limit", st.rate_limit.to_string()));
        reply
            .headers
            .push(("ratelimit-remaining", remaining.to_string()));
        reply
            .headers
            .push(("ratelimit-reset", st.quota_reset_secs(now).to_string()));
    }
    st.calls.push(ApiCall {
        method: method.as_str().to_string(),
        path: path_q,
        status: reply.status,
        at: chrono::Utc::now(),
        request_body: logged_body,
    });
    drop(st);
    reply.into_response()
}

#[allow(clippy::too_many_arguments)]
fn process(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    path_q: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    now: Instant,
) -> Reply {
    // An injected fault stands in for whatever Zendesk would have done, so it
    // comes first; it still uses up quota like any request that reached Zendesk.
    if let Some(fault) = st.take_fault(method.as_str(), path_q) {
        st.take_quota(now);
        return reply_for_error(ApiError::Injected {
            status: fault.status,
            retry_after: fault.retry_after,
        });
    }
    // Rejected requests are not counted, or a client that politely waits out
    // Retry-After could still never get back in.
    if !st.take_quota(now) {
        return reply_for_error(ApiError::TooManyRequests {
            retry_after: st.quota_reset_secs(now),
        });
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authenticated = st.authenticates(auth);
    let segments: Vec<&str> = match path.strip_prefix("/api/v2/") {
        Some(rest) => rest.trim_end_matches('/').split('/').collect(),
        None => return reply_for_error(ApiError::InvalidEndpoint),
    };
    // `.json` is optional on every endpoint.
    let mut segments = segments;
    if let Some(last) = segments.last_mut() {
        *last = last.strip_suffix(".json").unwrap_or(last);
    }

    // Zendesk answers users/me without credentials, with an anonymous user.
    if method == Method::GET && segments == ["users", "me"] && !authenticated {
        return Reply::json(200, json!({"user": State::anonymous_user_json()}));
    }
    if !authenticated {
        return reply_for_error(ApiError::Unauthorized);
    }
    match route(st, base, method, &segments, query, headers, body) {
        Ok(reply) => reply,
        Err(e) => reply_for_error(e),
    }
}

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

fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    segments: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    let m = method.as_str();
    match (m, segments) {
        ("GET", ["users", "me"]) => {
            let me = st.user_json(st.seat.id, base).ok_or(ApiError::NotFound)?;
            Ok(Reply::json(200, json!({"user": me})))
        }
        ("GET", ["users", id]) => {
            let user = st
                .user_json(parse_id(id)?, base)
                .ok_or(ApiError::NotFound)?;
            Ok(Reply::json(200, json!({"user": user})))
        }
        ("GET", ["tickets", id]) => Ok(Reply::json(200, st.api_show_ticket(parse_id(id)?, base)?)),
        ("PUT", ["tickets", id]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            Ok(Reply::json(
                200,
                st.api_update_ticket(id, body.as_ref(), base)?,
            ))
        }
        ("GET", ["tickets", id, "comments"]) => Ok(Reply::json(
            200,
            st.api_list_comments(parse_id(id)?, query, base)?,
        )),
        ("GET" | "PUT" | "POST" | "DELETE", ["tickets", id, "tags"]) => {
            let id = parse_id(id)?;
            let body = json_body(headers, body)?;
            let (status, v) = st.api_tags(id, m, body.as_ref(), query)?;
            Ok(Reply::json(status, v))
        }
        _ => route_account(st, base, method, segments, query, headers, body),
    }
}

/// The account's configuration: brands, groups, webhooks, triggers, automations.
fn route_account(
    st: &mut State,
    base: &str,
    method: &Method,
    segments: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    let seat = st.seat.id;
    let now = chrono::Utc::now();
    let r = &mut st.rules;
    match (method.as_str(), segments) {
        ("GET", ["brands"]) => Ok(Reply::json(200, r.list_brands(base))),
        ("GET", ["groups"]) => Ok(Reply::json(200, r.list_groups(query, base)?)),
        ("GET", ["group_memberships"]) => Ok(Reply::json(
            200,
            r.list_memberships(None, None, query, base)?,
        )),
        ("GET", ["users", id, "group_memberships"]) => Ok(Reply::json(
            200,
            r.list_memberships(Some(parse_id(id)?), None, query, base)?,
        )),
        ("GET", ["groups", id, "memberships"]) => Ok(Reply::json(
            200,
            r.list_memberships(None, Some(parse_id(id)?), query, base)?,
        )),
        ("GET", ["webhooks"]) => Ok(Reply::json(200, r.list_webhooks(query, base)?)),
        ("POST", ["webhooks"]) => {
            let body = json_body(headers, body)?;
            Ok(Reply::json(
                201,
                r.create_webhook(body.as_ref(), seat, now)?,
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
        ("GET", ["webhooks", id, "signing_secret"]) => Ok(Reply::json(200, r.signing_secret(id)?)),
        ("POST", ["webhooks", id, "signing_secret"]) => {
            Ok(Reply::json(200, r.reset_signing_secret(id)?))
        }
        ("GET", ["triggers"]) => Ok(Reply::json(200, r.list_triggers(query, base)?)),
        ("POST", ["triggers"]) => {
            let body = json_body(headers, body)?;
            Ok(Reply::json(201, r.create_trigger(body.as_ref(), base)?))
        }
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
