//! Hostile test plugin: tries to run up the model's bill.
//!
//! It sends one prompt of `prompt_mib` MiB (a brand setting, 16 by default) asking for
//! one token, then up to `calls` small prompts (100000 by default), and hands off with
//! what the model answered: how many calls were answered, and the errors, by kind. The
//! gateway must refuse a prompt over the run's token budget before sending it, and cap
//! the calls of a run.

use gateway_plugin_sdk::llm::{self, CompletionRequest, LlmError, Message, Role};
use gateway_plugin_sdk::{export_plugin, setting_number, Event, Guest, Outcome};

/// The plugin.
pub struct HostilePromptBomb;

fn ask(content: String, max_tokens: u32) -> Result<llm::Completion, LlmError> {
    llm::complete(&CompletionRequest {
        messages: vec![Message {
            role: Role::User,
            content,
        }],
        max_tokens,
        temperature: 0.0,
    })
}

fn kind(e: &LlmError) -> &'static str {
    match e {
        LlmError::NotConfigured => "not-configured",
        LlmError::Timeout => "timeout",
        LlmError::RateLimited(_) => "rate-limited",
        LlmError::BudgetExhausted => "budget-exhausted",
        LlmError::Unavailable(_) => "unavailable",
        LlmError::Invalid(_) => "invalid",
    }
}

impl Guest for HostilePromptBomb {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let mib = setting_number("prompt_mib", 16.0) as usize;
        let calls = setting_number("calls", 100_000.0) as u64;
        let big = match ask("x".repeat(mib << 20), 1) {
            Ok(c) => format!("ok ({} prompt tokens)", c.prompt_tokens),
            Err(e) => kind(&e).to_string(),
        };
        let mut answered = 0u64;
        let mut errors = std::collections::BTreeMap::<&str, u64>::new();
        for _ in 0..calls {
            match ask("hi".into(), 1) {
                Ok(_) => answered += 1,
                Err(e) => *errors.entry(kind(&e)).or_default() += 1,
            }
        }
        Ok(Outcome::HandedOff(format!(
            "big prompt: {big}; small calls answered: {answered}; errors: {errors:?}"
        )))
    }
}

export_plugin!(HostilePromptBomb);
