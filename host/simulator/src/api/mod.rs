//! The Zendesk API surface under `/api/v2/`.
//!
//! One fallback handler takes every non-admin request so that the cross-cutting
//! parts (injected faults, the per-minute quota, authentication, rate-limit
//! headers and the call log) happen in one place, in the order Zendesk's edge
//! would apply them, under a single lock of the state. `routes` answers the
//! request itself; `reply` writes answers and errors as Zendesk does.

mod reply;
mod routes;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use self::reply::{reply_for_error, Reply};
use crate::common::ApiError;
use crate::model::ApiCall;
use crate::shared::Shared;
use crate::state::State;
use crate::tickets::Desk;

/// The router for everything that is not `/_sim/`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(entry).with_state(shared)
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
    let remaining = st.quota.remaining();
    reply
        .headers
        .push(("x-rate-limit", st.quota.limit.to_string()));
    reply
        .headers
        .push(("x-rate-limit-remaining", remaining.to_string()));
    if uri.path().starts_with("/api/v2/tickets") {
        reply
            .headers
            .push(("ratelimit-limit", st.quota.limit.to_string()));
        reply
            .headers
            .push(("ratelimit-remaining", remaining.to_string()));
        reply
            .headers
            .push(("ratelimit-reset", st.quota.reset_secs(now).to_string()));
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
    if let Some(fault) = st.faults.take(method.as_str(), path_q) {
        st.quota.take(now);
        return reply_for_error(ApiError::Injected {
            status: fault.status,
            retry_after: fault.retry_after,
        });
    }
    // Rejected requests are not counted, or a client that politely waits out
    // Retry-After could still never get back in.
    if !st.quota.take(now) {
        return reply_for_error(ApiError::TooManyRequests {
            retry_after: st.quota.reset_secs(now),
        });
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authenticated = st.desk.authenticates(auth);
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
        return Reply::json(200, json!({"user": Desk::anonymous_user_json()}));
    }
    if !authenticated {
        return reply_for_error(ApiError::Unauthorized);
    }
    match routes::route(st, base, method, &segments, query, headers, body) {
        Ok(reply) => reply,
        Err(e) => reply_for_error(e),
    }
}
