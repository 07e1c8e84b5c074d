//! The `llm` import: the brand's language model, with a token budget per run. The
//! client itself is in [`client`].

pub mod client;

use super::context::{RunContext, ServiceFailure};
use crate::bindings::zendesk_gateway::plugin::llm;
pub use client::LlmService;
use client::{ChatMessage, LlmFailure, Role};

/// Bytes counted as one token when a prompt is estimated before sending: English prose
/// averages about four bytes a token with OpenAI's tokenizers; other text and other
/// models differ, so the estimate only refuses prompts far over the budget.
pub const PROMPT_BYTES_PER_TOKEN: u64 = 4;

/// A prompt's tokens, estimated from its bytes (plus a few per message for the roles).
pub fn estimate_prompt_tokens(messages: &[llm::Message]) -> u64 {
    messages
        .iter()
        .map(|m| m.content.len() as u64 / PROMPT_BYTES_PER_TOKEN + 4)
        .fold(0u64, u64::saturating_add)
}

// The capabilities added in 0.2.0. A brand that configures none of them gets "not
// configured" from the model, an empty knowledge base and no settings.
impl llm::Host for RunContext {
    async fn complete(
        &mut self,
        request: llm::CompletionRequest,
    ) -> wasmtime::Result<Result<llm::Completion, llm::LlmError>> {
        let Some(model) = self.capabilities.llm.clone() else {
            return Ok(Err(llm::LlmError::NotConfigured));
        };
        let budget = model.config().max_tokens_per_run;
        let remaining = budget.saturating_sub(self.llm_tokens_used);
        // Every call counts, failed and refused ones too: a plugin looping on a model
        // that answers (or fails) fast is stopped here, not by the bill.
        let max_calls = model.config().max_calls_per_run;
        if self.llm_calls >= max_calls {
            return Ok(Err(llm::LlmError::BudgetExhausted));
        }
        self.llm_calls += 1;
        if remaining == 0 {
            return Ok(Err(llm::LlmError::BudgetExhausted));
        }
        // Refused before anything is sent: a prompt that alone is over what is left of
        // the budget would be charged in full by the server.
        let prompt = estimate_prompt_tokens(&request.messages);
        if prompt >= u64::from(remaining) {
            return Ok(Err(llm::LlmError::Invalid(format!(
                "the prompt is about {prompt} tokens ({PROMPT_BYTES_PER_TOKEN} bytes a token), \
                 more than the {remaining} left of this run's budget of {budget}"
            ))));
        }
        // What is left for the answer once the prompt is paid for.
        let remaining = remaining - prompt as u32;
        let messages: Vec<ChatMessage> = request
            .messages
            .into_iter()
            .map(|m| ChatMessage {
                role: match m.role {
                    llm::Role::System => Role::System,
                    llm::Role::User => Role::User,
                    llm::Role::Assistant => Role::Assistant,
                },
                content: m.content,
            })
            .collect();
        let max_tokens = request.max_tokens.clamp(1, remaining);
        let clock = self.clock.clone();
        let result = clock
            .wait(model.complete(&messages, max_tokens, request.temperature))
            .await;
        // A slow, rate-limited or failing model is the gateway's problem, not the
        // plugin's: whatever the plugin makes of the error, the ticket runs again later.
        if let Err(
            e @ (LlmFailure::Timeout(_) | LlmFailure::RateLimited(_) | LlmFailure::Unavailable(_)),
        ) = &result
        {
            let retry_after = match e {
                LlmFailure::RateLimited(s) => Some(std::time::Duration::from_secs(u64::from(*s))),
                _ => None,
            };
            self.service_failed(ServiceFailure {
                message: format!("brand {}: {e}", self.brand.name),
                retry_after,
            });
        } else if result.is_err() {
            self.host_call_failed = true;
        }
        Ok(match result {
            Ok(c) => {
                // A server that reports no usage is charged an estimate (4 bytes a
                // token), so the budget still bounds a run.
                let reported = c.prompt_tokens.checked_add(c.completion_tokens);
                let spent = match reported {
                    Some(0) => (c.text.len() as u64 / 4).max(1).min(u64::from(u32::MAX)) as u32,
                    Some(n) => n,
                    // A server reporting absurd usage spends the whole budget.
                    None => u32::MAX,
                };
                self.llm_tokens_used = self.llm_tokens_used.saturating_add(spent);
                Ok(llm::Completion {
                    text: c.text,
                    prompt_tokens: c.prompt_tokens,
                    completion_tokens: c.completion_tokens,
                })
            }
            Err(LlmFailure::Timeout(_)) => Err(llm::LlmError::Timeout),
            Err(LlmFailure::RateLimited(s)) => Err(llm::LlmError::RateLimited(s)),
            Err(LlmFailure::Unavailable(m)) => Err(llm::LlmError::Unavailable(m)),
            Err(LlmFailure::Invalid(m)) => Err(llm::LlmError::Invalid(m)),
        })
    }
}
