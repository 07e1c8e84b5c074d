//! A fake OpenAI-compatible Chat Completions server on loopback, for the LLM capability.
//!
//! It behaves like the real API where the gateway can tell: `POST /v1/chat/completions`
//! with a bearer key, the same JSON shapes for answers (`choices[0].message.content`,
//! `usage`) and for errors (`{"error": {"message", "type", "code"}}`), 401 for a wrong key,
//! 404 for an unknown model, 400 for an empty conversation, 429 with `Retry-After`, 500s,
//! and slow answers. What it answers next is scripted by the test; every request it
//! received is kept for assertions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key the fake accepts.
pub const API_KEY: &str = "sk-fake-test-key-do-not-log-0123456789";
/// The model it serves.
pub const MODEL: &str = "fake-gpt";

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer with this text.
    Answer(String),
    /// Answer with this text after a delay.
    Slow(Duration, String),
    /// 429 with this `Retry-After`.
    RateLimited(u32),
    /// 500.
    ServerError,
    /// 200 with a body that is not a completion.
    Garbage,
}

#[derive(Default)]
struct Shared {
    default: Mutex<Option<Behavior>>,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running fake.
pub struct FakeLlm {
    shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts the server; it answers "OK" until told otherwise.
    pub async fn start() -> FakeLlm {
        let shared = Arc::new(Shared::default());
        *shared.default.lock().unwrap() = Some(Behavior::Answer("OK".into()));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm {
            shared,
            base_url: format!("http://{addr}/v1"),
            _task: task,
        }
    }

    /// Every later request gets `b`.
    pub fn always(&self, b: Behavior) {
        *self.shared.default.lock().unwrap() = Some(b);
    }

    /// Request bodies received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The `[brands.X.llm]` table for this server, with `key_file` holding the key.
    pub fn brand_table(&self, brand: &str, key_file: &str, extra: &str) -> String {
        format!(
            "[brands.{brand}.llm]\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\napi_key_file = \"{key_file}\"\n{extra}\n",
            self.base_url
        )
    }
}

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

async fn complete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    let Json(body) = body;
    shared
        .requests
        .lock()
        .unwrap()
        .push((headers.clone(), body.clone()));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {API_KEY}") {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. You can find your API key in your account settings.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    if body["model"] != MODEL {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "The model `{}` does not exist or you do not have access to it.",
                body["model"]
            ),
            "invalid_request_error",
            Some("model_not_found"),
        );
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "[] is too short - 'messages'",
            "invalid_request_error",
            None,
        );
    }
    let behavior = shared.default.lock().unwrap().clone().unwrap();
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = match behavior {
        Behavior::Answer(text) => answer(&messages, &text, &body),
        Behavior::Slow(delay, text) => {
            tokio::time::sleep(delay).await;
            answer(&messages, &text, &body)
        }
        Behavior::RateLimited(secs) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            r
        }
        Behavior::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        Behavior::Garbage => (StatusCode::OK, "<html>502 Bad Gateway</html>").into_response(),
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn answer(messages: &[Value], text: &str, body: &Value) -> Response {
    let prompt_chars: usize = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap_or("").len())
        .sum();
    // Like a real server, never more than max_tokens (about 4 characters a token).
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(4096) as usize;
    let text: String = text.chars().take(max_tokens * 4).collect();
    let finish = if text.len() >= max_tokens * 4 {
        "length"
    } else {
        "stop"
    };
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_chars / 4, "completion_tokens": text.len() / 4 + 1,
                  "total_tokens": prompt_chars / 4 + text.len() / 4 + 1}
    }))
    .into_response()
}
