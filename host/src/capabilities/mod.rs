//! What a brand gives its plugin besides the ticket: a language model, a knowledge base
//! and free-form settings (the `llm`, `knowledge` and `settings` imports of the WIT).
//!
//! They live beside the brand's plugin in [`crate::gateway::BrandRuntime`] and are
//! shared by all of the brand's runs: the model's concurrency bound is per brand, not
//! per run, and the knowledge index is built once and swapped when its files change.

pub mod knowledge;
pub mod llm;

use crate::config::Brand;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use knowledge::KnowledgeBase;
pub use llm::LlmService;

/// A brand's capabilities at run time.
#[derive(Default)]
pub struct BrandCapabilities {
    /// `[brands.X.settings]`.
    pub settings: BTreeMap<String, String>,
    /// The brand's model, when `[brands.X.llm]` is set.
    pub llm: Option<LlmService>,
    /// The brand's knowledge base, when `brands.X.knowledge` is set.
    pub knowledge: Option<KnowledgeBase>,
}

impl BrandCapabilities {
    /// Builds a brand's capabilities from its config, reusing the parts of `previous`
    /// whose config did not change: the model client keeps its in-flight permits and the
    /// knowledge base its index. Model calls are counted in `metrics` when given.
    pub fn build(
        brand: &Brand,
        previous: Option<&Arc<BrandCapabilities>>,
        metrics: Option<&Arc<crate::metrics::Metrics>>,
    ) -> anyhow::Result<Self> {
        let llm = match (&brand.llm, previous.and_then(|p| p.llm.as_ref())) {
            (None, _) => None,
            (Some(cfg), Some(old)) if old.config() == cfg => Some(old.clone()),
            (Some(cfg), _) => Some(LlmService::new(&brand.name, cfg.clone(), metrics.cloned())?),
        };
        let knowledge = match (
            &brand.knowledge,
            previous.and_then(|p| p.knowledge.as_ref()),
        ) {
            (None, _) => None,
            (Some(dir), Some(old)) if old.dir() == dir => Some(old.clone()),
            (Some(dir), _) => Some(KnowledgeBase::open(&brand.name, dir)?),
        };
        Ok(BrandCapabilities {
            settings: brand.settings.clone(),
            llm,
            knowledge,
        })
    }
}
