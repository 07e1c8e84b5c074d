//! The `knowledge` import: search the brand's knowledge base. The index is in [`index`].

pub mod index;

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::knowledge;
pub use index::KnowledgeBase;

impl knowledge::Host for RunContext {
    async fn search(
        &mut self,
        query: String,
        limit: u32,
    ) -> wasmtime::Result<Vec<knowledge::Article>> {
        let Some(kb) = &self.capabilities.knowledge else {
            return Ok(Vec::new());
        };
        Ok(kb
            .index()
            .search(&query, limit as usize)
            .into_iter()
            .map(|m| knowledge::Article {
                id: m.article.id.clone(),
                title: m.article.title.clone(),
                url: m.article.url.clone(),
                body: m.article.body.clone(),
                score: m.score,
            })
            .collect())
    }
}
