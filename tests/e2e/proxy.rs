//! A scriptable HTTP proxy in front of the simulator: forwards every request as is,
//! except those a rule matches, which get the rule's raw answer (any status, any header
//! value, any body) or are held for a while first. It lets a test send what the
//! simulator cannot (a `Retry-After: 1e20`, a hostile paging link) or slow one call down.
//! Every request it saw is kept, with its `Authorization` header.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a rule does with a matching request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer this status, headers and body instead of forwarding.
    Answer(u16, Vec<(String, String)>, String),
    /// Wait this long, then forward.
    Hold(Duration),
}

/// One scripted rule: the first `times` requests whose method is `method` and whose
/// path (with query) contains `path_contains` get `action`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Text the path must contain.
    pub path_contains: String,
    /// What to do.
    pub action: Action,
    /// How many requests it applies to.
    pub times: usize,
}

#[derive(Default)]
struct Shared {
    target: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<(String, String, Option<String>)>>,
}

/// The running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    _task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy forwarding to `target` (a base URL such as the simulator's).
    pub async fn start(target: &str) -> Proxy {
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_string(),
            ..Default::default()
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Proxy {
            shared,
            base_url,
            _task: task,
        }
    }

    /// Adds a rule (rules are tried in the order added).
    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Requests seen: (method, path with query, Authorization header).
    pub fn seen(&self) -> Vec<(String, String, Option<String>)> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared
        .seen
        .lock()
        .unwrap()
        .push((method.to_string(), path.clone(), auth));
    let action = {
        let mut rules = shared.rules.lock().unwrap();
        let hit = rules.iter_mut().find(|r| {
            r.times > 0 && r.method == method.as_str() && path.contains(&r.path_contains)
        });
        hit.map(|r| {
            r.times -= 1;
            r.action.clone()
        })
    };
    match action {
        Some(Action::Answer(status, extra, text)) => {
            let mut resp = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                text,
            )
                .into_response();
            for (k, v) in extra {
                resp.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(&v).unwrap(),
                );
            }
            return resp;
        }
        Some(Action::Hold(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{}{path}", shared.target));
    for name in ["authorization", "content-type"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    match req.body(body).send().await {
        Ok(r) => {
            let status = r.status();
            let mut out = HeaderMap::new();
            for (k, v) in r.headers() {
                if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                    out.insert(k.clone(), v.clone());
                }
            }
            let bytes = r.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
