//! Plugins built against `zendesk-gateway:plugin@0.2.0` keep working: this module binds
//! the 0.2.0 WIT (kept in `wit/versions/0.2.0/`) and implements its imports by converting
//! to and from the latest types and delegating to the latest implementation, as
//! `since_v0_1_0` does for 0.1.0. 0.3.0 only added interfaces (`fields`, `hours`), so
//! every 0.2.0 type has a twin with the same shape.

use crate::bindings as latest;
use crate::bindings::v0_2_0::zendesk_gateway::plugin::{
    actions, knowledge, llm, log, settings, ticket, types,
};
use crate::capabilities::RunContext;
use latest::zendesk_gateway::plugin::{
    actions as l_actions, knowledge as l_knowledge, llm as l_llm, log as l_log,
    settings as l_settings, ticket as l_ticket,
};

super::twins::core_interfaces!();

impl llm::Host for RunContext {
    async fn complete(
        &mut self,
        request: llm::CompletionRequest,
    ) -> wasmtime::Result<Result<llm::Completion, llm::LlmError>> {
        let request = l_llm::CompletionRequest {
            messages: request
                .messages
                .into_iter()
                .map(|m| l_llm::Message {
                    role: match m.role {
                        llm::Role::System => l_llm::Role::System,
                        llm::Role::User => l_llm::Role::User,
                        llm::Role::Assistant => l_llm::Role::Assistant,
                    },
                    content: m.content,
                })
                .collect(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
        };
        let answer = l_llm::Host::complete(self, request).await?;
        Ok(match answer {
            Ok(c) => Ok(llm::Completion {
                text: c.text,
                prompt_tokens: c.prompt_tokens,
                completion_tokens: c.completion_tokens,
            }),
            Err(e) => Err(match e {
                l_llm::LlmError::NotConfigured => llm::LlmError::NotConfigured,
                l_llm::LlmError::Timeout => llm::LlmError::Timeout,
                l_llm::LlmError::RateLimited(s) => llm::LlmError::RateLimited(s),
                l_llm::LlmError::BudgetExhausted => llm::LlmError::BudgetExhausted,
                l_llm::LlmError::Unavailable(m) => llm::LlmError::Unavailable(m),
                l_llm::LlmError::Invalid(m) => llm::LlmError::Invalid(m),
            }),
        })
    }
}

impl knowledge::Host for RunContext {
    async fn search(
        &mut self,
        query: String,
        limit: u32,
    ) -> wasmtime::Result<Vec<knowledge::Article>> {
        let found = l_knowledge::Host::search(self, query, limit).await?;
        Ok(found
            .into_iter()
            .map(|a| knowledge::Article {
                id: a.id,
                title: a.title,
                url: a.url,
                body: a.body,
                score: a.score,
            })
            .collect())
    }
}

impl settings::Host for RunContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        l_settings::Host::get(self, key).await
    }
}
