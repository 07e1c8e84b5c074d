//! A shop's order API: the stand-in for a brand's own system, which the demo's and the
//! tests' plugins call through the gateway's outbound HTTP (`[brands.X.http]`). Like
//! the Zendesk simulator it is a fake at an edge the project does not own, and behaves
//! like a real API would:
//!
//! - every request needs `Authorization: Bearer <token>` (401 without, 403 wrong);
//! - `GET /orders/{id}`: the order (status, carrier, tracking link, total), 404 for an
//!   unknown one;
//! - `POST /orders/{id}/refunds` with `{"amount": 12.5}`: a refund (201), 409 over what
//!   is left of the order's total;
//! - every `rate_limit_every`-th request is answered 429 with `Retry-After: 1`, and
//!   [`ShopApi::set_delay`] makes answers slow;
//! - for tests of the gateway's policy: `GET /debug/headers` echoes the request's
//!   headers, `GET /redirect?to=URL` answers 302, `GET /big?bytes=N` answers N bytes.
//!
//! [`ShopApi::calls`] is its request log (method, path, the `Authorization` it saw).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// An order of the shop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShopOrder {
    /// The order number customers quote.
    pub id: u64,
    /// `processing`, `shipped` or `delivered`.
    pub status: String,
    /// The courier, once shipped.
    pub carrier: Option<String>,
    /// The tracking link, once shipped.
    pub tracking_url: Option<String>,
    /// The day it left the warehouse (`YYYY-MM-DD`), once shipped.
    pub shipped_on: Option<String>,
    /// What the customer paid.
    pub total: f64,
    /// ISO currency.
    pub currency: String,
    /// Refunded so far.
    pub refunded: f64,
}

/// The orders the demo and the tests know: 4411 shipped, 4412 still being prepared,
/// 4413 delivered.
pub fn sample_orders() -> Vec<ShopOrder> {
    vec![
        ShopOrder {
            id: 4411,
            status: "shipped".into(),
            carrier: Some("DHL".into()),
            tracking_url: Some("https://track.example/JD014600003SE".into()),
            shipped_on: Some("2026-05-11".into()),
            total: 89.90,
            currency: "EUR".into(),
            refunded: 0.0,
        },
        ShopOrder {
            id: 4412,
            status: "processing".into(),
            carrier: None,
            tracking_url: None,
            shipped_on: None,
            total: 24.50,
            currency: "EUR".into(),
            refunded: 0.0,
        },
        ShopOrder {
            id: 4413,
            status: "delivered".into(),
            carrier: Some("UPS".into()),
            tracking_url: Some("https://track.example/1Z999AA10123456784".into()),
            shipped_on: Some("2026-05-02".into()),
            total: 45.00,
            currency: "EUR".into(),
            refunded: 0.0,
        },
    ]
}

/// How the shop API is set up.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The bearer token it accepts.
    pub token: String,
    /// Its orders.
    pub orders: Vec<ShopOrder>,
    /// Every n-th request is answered 429 (`None`: never).
    pub rate_limit_every: Option<u64>,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            token: "shop-secret-token".into(),
            orders: sample_orders(),
            rate_limit_every: None,
        }
    }
}

/// One request the shop API received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShopCall {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Authorization` header as received, if any.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
}

struct ShopState {
    token: String,
    orders: Mutex<BTreeMap<u64, ShopOrder>>,
    calls: Mutex<Vec<ShopCall>>,
    served: AtomicU64,
    rate_limit_every: Option<u64>,
    delay_ms: AtomicU64,
}

/// A running shop API; stops when the last handle is dropped.
#[derive(Clone)]
pub struct ShopApi {
    state: Arc<ShopState>,
    addr: SocketAddr,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ShopApi {
    /// Binds `addr` (port 0 picks a free port) and serves in a spawned task.
    pub async fn start(config: ShopConfig, addr: SocketAddr) -> anyhow::Result<ShopApi> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ShopState {
            token: config.token,
            orders: Mutex::new(config.orders.into_iter().map(|o| (o.id, o)).collect()),
            calls: Mutex::default(),
            served: AtomicU64::new(0),
            rate_limit_every: config.rate_limit_every,
            delay_ms: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/orders/{id}", get(order))
            .route("/orders/{id}/refunds", post(refund))
            .route("/debug/headers", get(echo_headers))
            .route("/redirect", get(redirect))
            .route("/big", get(big))
            .fallback(not_found)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "shop API server stopped");
            }
        });
        Ok(ShopApi {
            state,
            addr,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<ShopCall> {
        self.state
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// An order as it is now (refunds included).
    pub fn order(&self, id: u64) -> Option<ShopOrder> {
        self.state
            .orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Makes every answer wait this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

/// The checks every request passes, in a real API's order: slowness, the rate limit,
/// then authentication. Returns the answer to give instead, if any.
async fn gate(
    s: &ShopState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let delay = s.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let n = s.served.fetch_add(1, Ordering::Relaxed) + 1;
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let refuse = if s
        .rate_limit_every
        .is_some_and(|every| every > 0 && n.is_multiple_of(every))
    {
        Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error": "rate_limited", "message": "slow down"})),
            )
                .into_response(),
        )
    } else {
        match &authorization {
            None => Some(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "unauthorized", "message": "missing bearer token"})),
                )
                    .into_response(),
            ),
            Some(a) if *a != format!("Bearer {}", s.token) => Some(
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"error": "forbidden", "message": "bad token"})),
                )
                    .into_response(),
            ),
            Some(_) => None,
        }
    };
    let status = refuse.as_ref().map_or(0, |r| r.status().as_u16());
    s.calls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ShopCall {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            authorization,
            status,
        });
    match refuse {
        Some(r) => Err(r),
        None => Ok(()),
    }
}

/// Records the status of the last call (the gate logs before the handler answers).
fn answered(s: &ShopState, status: StatusCode) {
    if let Some(last) = s.calls.lock().unwrap_or_else(|p| p.into_inner()).last_mut() {
        last.status = status.as_u16();
    }
}

async fn order(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    let found = id.parse::<u64>().ok().and_then(|id| {
        s.orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    });
    let r = match found {
        Some(o) => (
            StatusCode::OK,
            Json(serde_json::to_value(o).unwrap_or(Value::Null)),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": format!("no order {id}")})),
        )
            .into_response(),
    };
    answered(&s, r.status());
    r
}

#[derive(Deserialize)]
struct RefundRequest {
    amount: f64,
}

async fn refund(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    let r = match serde_json::from_slice::<RefundRequest>(&body) {
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "invalid", "message": e.to_string()})),
        )
            .into_response(),
        Ok(req) => {
            let mut orders = s.orders.lock().unwrap_or_else(|p| p.into_inner());
            match orders.get_mut(&id) {
                None => {
                    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()
                }
                Some(o) if req.amount <= 0.0 || o.refunded + req.amount > o.total + 1e-9 => (
                    StatusCode::CONFLICT,
                    Json(json!({"error": "over_total", "message": "more than is left to refund"})),
                )
                    .into_response(),
                Some(o) => {
                    o.refunded += req.amount;
                    (
                        StatusCode::CREATED,
                        Json(json!({"refund_id": format!("rf_{id}_{}", (o.refunded * 100.0) as u64), "amount": req.amount, "currency": o.currency})),
                    )
                        .into_response()
                }
            }
        }
    };
    answered(&s, r.status());
    r
}

async fn echo_headers(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    let map: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    // Like a careless debugging endpoint: the credential comes back in a header too.
    let echoed = map.get("authorization").cloned().unwrap_or_default();
    answered(&s, StatusCode::OK);
    (
        [("x-echo-authorization", echoed)],
        Json(json!({ "headers": map })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct RedirectTo {
    to: String,
}

async fn redirect(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<RedirectTo>,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    answered(&s, StatusCode::FOUND);
    (StatusCode::FOUND, [("location", q.to)]).into_response()
}

#[derive(Deserialize)]
struct BigQuery {
    bytes: usize,
}

async fn big(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BigQuery>,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    answered(&s, StatusCode::OK);
    vec![b'x'; q.bytes.min(64 << 20)].into_response()
}

async fn not_found(
    State(s): State<Arc<ShopState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&s, &method, &uri, &headers).await {
        return r;
    }
    answered(&s, StatusCode::NOT_FOUND);
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()
}
