//! The `knowledge` import: search the brand's knowledge base. The index is in [`index`].

pub mod html;
pub mod index;

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::knowledge;
pub use index::{KnowledgeBase, KnowledgeSource};

impl knowledge::Host for RunContext {
    async fn search(
        &mut self,
        query: String,
        limit: u32,
    ) -> wasmtime::Result<Vec<knowledge::Article>> {
        let Some(kb) = &self.capabilities.knowledge else {
            return Ok(Vec::new());
        };
        // Ranking is synchronous CPU work: it runs on a blocking thread, never on the
        // async threads that serve ingress and the other brands. The query is bounded
        // first (`index::bound_query`), so a search is short whatever the plugin sent;
        // the run's deadline (the timeout around the whole run) stops waiting for it, and
        // shutdown never waits for it for longer than one bounded search.
        let index = kb.index();
        let query = index::bound_query(&query);
        let matches = tokio::task::spawn_blocking(move || index.search(&query, limit as usize))
            .await
            .unwrap_or_default();
        Ok(matches
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
