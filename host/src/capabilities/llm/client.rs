//! A brand's language model: an OpenAI-compatible Chat Completions client
//! (`POST {base_url}/chat/completions`), which hosted APIs and self-hosted servers
//! (Ollama, vLLM, llama.cpp's server) all speak.
//!
//! The plugin never sees the URL or the key. The gateway bounds what a brand's model can
//! cost: a timeout per completion (waiting for a free slot included), a number of
//! completions in flight per brand, and a token budget per run (enforced by the caller,
//! which knows the run).

use crate::config::LlmConfig;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Who says a message (the OpenAI `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The customer's side.
    User,
    /// The model's side.
    Assistant,
}

/// One message sent to the model.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// A successful completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Text of the first choice.
    pub text: String,
    /// Prompt tokens, as the server counted them.
    pub prompt_tokens: u32,
    /// Answer tokens, as the server counted them.
    pub completion_tokens: u32,
}

/// Why a completion failed, in the contract's terms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmFailure {
    /// No answer within the brand's timeout.
    #[error("the model did not answer within {0} ms")]
    Timeout(u64),
    /// The server rate limits; retry after this many seconds.
    #[error("the model's server is rate limiting (retry after {0} s)")]
    RateLimited(u32),
    /// The server failed or answered something unusable.
    #[error("the model is unavailable: {0}")]
    Unavailable(String),
    /// The server refused the request as invalid.
    #[error("the model refused the request: {0}")]
    Invalid(String),
}

/// A brand's model client. Cloning shares the connection pool and the concurrency bound.
#[derive(Clone)]
pub struct LlmService {
    brand: String,
    config: LlmConfig,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    max_tokens: u32,
    temperature: f32,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<AnswerMessage>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

/// Without a `Retry-After`, a rate-limited plugin is told to wait this long.
const DEFAULT_RETRY_AFTER_SECS: u32 = 20;

impl LlmService {
    /// A client for `brand`'s model, counting its calls in `metrics` when given.
    pub fn new(
        brand: &str,
        config: LlmConfig,
        metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
    ) -> anyhow::Result<LlmService> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("zendesk-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(LlmService {
            brand: brand.to_string(),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            config,
            http,
            metrics,
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Asks for a completion. The timeout covers waiting for a free slot too, so a brand
    /// whose model is saturated fails fast instead of stalling its runs to the deadline.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        max_tokens: u32,
        temperature: f32,
    ) -> Result<Completion, LlmFailure> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, async {
            let _slot =
                self.slots.acquire().await.map_err(|_| {
                    LlmFailure::Unavailable("the model client is shutting down".into())
                })?;
            self.send(messages, max_tokens, temperature).await
        })
        .await
        .unwrap_or(Err(LlmFailure::Timeout(self.config.timeout_ms)));
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(LlmFailure::Timeout(_)) => "timeout",
                Err(LlmFailure::RateLimited(_)) => "rate_limited",
                Err(LlmFailure::Unavailable(_)) => "unavailable",
                Err(LlmFailure::Invalid(_)) => "invalid",
            };
            m.llm_calls
                .get_or_create(&crate::telemetry::metrics::LlmLabels {
                    brand: self.brand.clone(),
                    result: outcome.into(),
                })
                .inc();
            if let Ok(c) = &result {
                m.llm_tokens
                    .get_or_create(&crate::telemetry::metrics::BrandLabels {
                        brand: self.brand.clone(),
                    })
                    .inc_by(u64::from(c.prompt_tokens) + u64::from(c.completion_tokens));
            }
        }
        match &result {
            Ok(c) => tracing::debug!(brand = %self.brand, model = %self.config.model,
                prompt_tokens = c.prompt_tokens, completion_tokens = c.completion_tokens,
                ms = started.elapsed().as_millis() as u64, "model answered"),
            Err(e) => tracing::warn!(brand = %self.brand, model = %self.config.model,
                error = %e, ms = started.elapsed().as_millis() as u64, "model call failed"),
        }
        result
    }

    async fn send(
        &self,
        messages: &[ChatMessage],
        max_tokens: u32,
        temperature: f32,
    ) -> Result<Completion, LlmFailure> {
        let url = format!("{}/chat/completions", self.config.base_url);
        let mut request = self.http.post(&url).json(&ChatRequest {
            model: &self.config.model,
            messages,
            max_tokens,
            temperature: temperature.clamp(0.0, 2.0),
        });
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's message may contain the URL, never the key; keep it short.
            LlmFailure::Unavailable(if e.is_connect() {
                "cannot connect to the model's server".into()
            } else {
                format!("request failed: {}", e.without_url())
            })
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| s.ceil().max(1.0) as u32);
        let body = response
            .bytes()
            .await
            .map_err(|e| LlmFailure::Unavailable(format!("answer cut off: {}", e.without_url())))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.error)
                .and_then(|e| e.message)
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(match status.as_u16() {
                429 => LlmFailure::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS)),
                // The key is the gateway's business: the plugin only learns the model is down.
                401 | 403 => LlmFailure::Unavailable(format!(
                    "the model's server refused the gateway's credentials (HTTP {})",
                    status.as_u16()
                )),
                400 | 404 | 413 | 422 => LlmFailure::Invalid(message),
                _ => LlmFailure::Unavailable(format!("HTTP {}: {message}", status.as_u16())),
            });
        }
        let parsed: ChatResponse = serde_json::from_slice(&body).map_err(|e| {
            LlmFailure::Unavailable(format!("the answer is not a chat completion: {e}"))
        })?;
        let text = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message)
            .and_then(|m| m.content)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| LlmFailure::Unavailable("the model answered with no text".into()))?;
        let usage = parsed.usage.unwrap_or(Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
        });
        Ok(Completion {
            text,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        })
    }
}
