//! The Zendesk API surface under `/api/v2/`.
//!
//! One fallback handler takes every non-admin request so that the cross-cutting
//! parts (injected faults, the per-minute quota, authentication, rate-limit
//! headers and the call log) happen in one place, in the order Zendesk's edge
//! would apply them, under a single lock of the state. `routes` answers the
//! request itself; `reply` writes answers and errors as Zendesk does.
//!
//! A request matching a timing fault (a hold or a lost answer, see
//! [`crate::Fault`]) is served from its own task: it sleeps without the lock, so
//! other requests and the admin API go on meanwhile, and it runs to the end even
//! if the client gives up (as Zendesk would carry on with a request it received).

mod reply;
mod routes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State as AxState};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use self::reply::{reply_for_error, Reply};
use crate::common::ApiError;
use crate::connection::Connection;
use crate::faults::Fault;
use crate::model::ApiCall;
use crate::shared::Shared;
use crate::state::State;
use crate::tickets::Desk;

/// The router for everything that is not `/_sim/`. It must be served with
/// `ConnectInfo<Connection>` (see `connection.rs`), which lets a fault cut the
/// connection.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(entry).with_state(shared)
}

/// One API request, owned, so that a held one can be served from its own task.
struct ApiRequest {
    method: Method,
    uri: Uri,
    /// The path with the query, as the call log and fault matching see it.
    path_q: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    received_at: DateTime<Utc>,
}

async fn entry(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
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
    let req = ApiRequest {
        method,
        uri,
        path_q,
        query,
        headers,
        body,
        received_at: Utc::now(),
    };
    // The fault is picked when the request arrives, before any hold.
    let fault = shared
        .lock()
        .faults
        .take(req.method.as_str(), &req.path_q, Instant::now());
    match fault {
        Some(fault) if fault.is_timed() => {
            match tokio::spawn(serve_timed(shared, req, fault)).await {
                Ok(Some(reply)) => reply.into_response(),
                Ok(None) => {
                    // The answer is lost: nothing of this response is written.
                    conn.cut();
                    Response::new(Body::empty())
                }
                Err(e) => {
                    tracing::error!(error = %e, "zendesk simulator: a held request failed");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }
        fault => {
            let mut reply = serve(&shared, &req, fault.as_ref(), false);
            // A webhook test was checked under the lock; its call is made here,
            // without it.
            let prepared = match &reply.body {
                reply::ReplyBody::Json(v) => v.get(crate::rules::PREPARED_WEBHOOK_TEST).cloned(),
                _ => None,
            };
            if let Some(prepared) = prepared {
                let answer =
                    crate::rules::send_webhook_test(&prepared, shared.webhooks.timeout).await;
                reply.body = reply::ReplyBody::Json(answer);
            }
            reply.into_response()
        }
    }
}

/// Serves a request under a timing fault: waits `hold_before_ms`, serves it, waits
/// `hold_after_ms`; `None` when the answer is to be lost.
async fn serve_timed(shared: Arc<Shared>, req: ApiRequest, fault: Fault) -> Option<Reply> {
    if fault.hold_before_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.hold_before_ms)).await;
    }
    let reply = serve(&shared, &req, Some(&fault), fault.drop_after_commit);
    if fault.hold_after_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.hold_after_ms)).await;
    }
    (!fault.drop_after_commit).then_some(reply)
}

/// Processes a request under one lock of the state, adds the rate-limit headers and
/// logs the call (with status 0 when its answer will be `dropped`).
fn serve(shared: &Shared, req: &ApiRequest, fault: Option<&Fault>, dropped: bool) -> Reply {
    let now = Instant::now();
    let mut st = shared.lock();
    let mut reply = process(&mut st, &shared.base_url, req, fault, now);
    // Every answer carries the account quota; ticket endpoints also the newer
    // IETF-style headers, as Zendesk sends them.
    let remaining = st.quota.remaining();
    reply
        .headers
        .push(("x-rate-limit", st.quota.limit.to_string()));
    reply
        .headers
        .push(("x-rate-limit-remaining", remaining.to_string()));
    if req.uri.path().starts_with("/api/v2/tickets") {
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
        method: req.method.as_str().to_string(),
        path: req.path_q.clone(),
        status: if dropped { 0 } else { reply.status },
        at: req.received_at,
        request_body: serde_json::from_slice::<Value>(&req.body).ok(),
    });
    reply
}

/// The answer to a request, under the lock: the fault's error if it has a status,
/// else the quota, authentication and the route.
fn process(
    st: &mut State,
    base: &str,
    req: &ApiRequest,
    fault: Option<&Fault>,
    now: Instant,
) -> Reply {
    // An injected fault stands in for whatever Zendesk would have done, so it
    // comes first; it still uses up quota like any request that reached Zendesk.
    // A fault with status 0 (a hold or a drop) lets the request be served.
    if let Some(fault) = fault.filter(|f| f.status != 0) {
        st.quota.take(now);
        return reply_for_error(ApiError::Injected {
            status: fault.status,
            retry_after: fault.retry_after,
            retry_after_raw: fault.retry_after_raw.clone(),
        });
    }
    // Rejected requests are not counted, or a client that politely waits out
    // Retry-After could still never get back in.
    if !st.quota.take(now) {
        return reply_for_error(ApiError::TooManyRequests {
            retry_after: st.quota.reset_secs(now),
        });
    }
    let (method, headers, body) = (&req.method, &req.headers, &req.body);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = st.desk.authenticate(auth);
    // A brand's own host, as the simulator serves it: `/brands/<subdomain>/api/v2/...`
    // (see `help_center.rs`).
    let (brand_host, path) = match req.uri.path().strip_prefix("/brands/") {
        Some(rest) => match rest.split_once('/') {
            Some((sub, tail)) => (Some(sub.to_string()), format!("/{tail}")),
            None => return reply_for_error(ApiError::InvalidEndpoint),
        },
        None => (None, req.uri.path().to_string()),
    };
    let segments: Vec<&str> = match path.strip_prefix("/api/v2/") {
        Some(rest) => rest.trim_end_matches('/').split('/').collect(),
        None => return reply_for_error(ApiError::InvalidEndpoint),
    };
    // `.json` is optional on every endpoint.
    let mut segments = segments;
    if let Some(last) = segments.last_mut() {
        *last = last.strip_suffix(".json").unwrap_or(last);
    }

    // Zendesk answers users/me with an anonymous user only when NO credentials are
    // sent; wrong credentials get 401 there like everywhere else.
    if method == Method::GET && segments == ["users", "me"] && auth.is_none() {
        return Reply::json(200, json!({"user": Desk::anonymous_user_json()}));
    }
    let Some(actor) = user else {
        return reply_for_error(ApiError::Unauthorized);
    };
    // The Update Ticket endpoint has limits of its own, on top of the quota.
    if method == Method::PUT && segments.len() == 2 && segments[0] == "tickets" {
        if let Ok(ticket) = segments[1].parse::<u64>() {
            if let Err(retry_after) = st.updates.take(actor, ticket, now) {
                return reply_for_error(ApiError::TooManyRequests { retry_after });
            }
        }
    }
    if segments.first() == Some(&"help_center") {
        if method != Method::GET {
            return reply_for_error(ApiError::InvalidEndpoint);
        }
        let (brand, host) = match &brand_host {
            Some(sub) if st.directory.has_subdomain(sub) => {
                (sub.clone(), format!("{base}/brands/{sub}"))
            }
            Some(_) => return reply_for_error(ApiError::InvalidEndpoint),
            None => (st.directory.default_subdomain(), base.to_string()),
        };
        return match st
            .help_center
            .route(&brand, &host, &segments[1..], &req.query)
        {
            Ok(v) => Reply::json(200, v),
            Err(e) => reply_for_error(e),
        };
    }
    if brand_host.is_some() {
        return reply_for_error(ApiError::InvalidEndpoint);
    }
    match routes::route(
        st, base, actor, method, &segments, &req.query, headers, body,
    ) {
        Ok(reply) => reply,
        Err(e) => reply_for_error(e),
    }
}
