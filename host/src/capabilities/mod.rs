//! The host side of the WIT imports, one module per capability, in the manner of Spin's
//! factors: `ticket` (reads), `actions` (staged writes, and the one place that builds a
//! Zendesk update), `log`, `llm`, `knowledge`, `settings`, `fields` (custom ticket
//! fields by name), `hours` (business hours) and `http` (the send hook of the standard
//! `wasi:http`, with the brand's policy). Each module holds its host
//! implementation on the run's [`RunContext`]; a capability with state shared by a
//! brand's runs (the model client, the knowledge index) keeps it in
//! [`BrandCapabilities`], built from the brand's config and rebuilt on reload.
//! What a plugin may touch is decided in [`grants`].
//!
//! Adding a capability: its module here, its field in [`BrandCapabilities`] (shared) or
//! [`RunContext`] (per run), and its line in [`link`].

pub mod actions;
pub mod context;
pub mod fields;
pub mod grants;
pub mod hours;
pub mod http;
pub mod knowledge;
pub mod llm;
pub mod log;
pub mod settings;
pub mod ticket;

use crate::bindings::zendesk_gateway::plugin as wit;
use crate::config::Brand;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

pub use context::RunContext;
pub use fields::BrandAccount;
pub use knowledge::{KnowledgeBase, KnowledgeSource};
pub use llm::LlmService;

/// Links every capability's imports (latest WIT version) into `linker`, each reaching
/// the run's [`RunContext`] through `get`. Older WIT versions are linked by
/// `runtime::wit`, delegating to these implementations.
pub fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RunContext,
) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::ticket::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::actions::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::log::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::llm::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::knowledge::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::settings::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::fields::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    wit::hours::add_to_linker::<T, HasSelf<RunContext>>(linker, get)?;
    Ok(())
}

/// A brand's capabilities at run time.
#[derive(Default)]
pub struct BrandCapabilities {
    /// `[brands.X.settings]`.
    pub settings: BTreeMap<String, String>,
    /// The brand's model, when `[brands.X.llm]` is set.
    pub llm: Option<LlmService>,
    /// The brand's knowledge base, when `brands.X.knowledge` is set.
    pub knowledge: Option<KnowledgeBase>,
    /// The brand's outbound HTTP, when `[brands.X.http]` is set (plugins call
    /// `wasi:http/outgoing-handler`, linked by `runtime::wit`).
    pub http: Option<http::HttpService>,
}

impl BrandCapabilities {
    /// Builds a brand's capabilities from its config, reusing the parts of `previous`
    /// whose config did not change: the model client keeps its in-flight permits and the
    /// knowledge base its index. Model calls are counted in `metrics` when given.
    pub fn build(
        brand: &Brand,
        previous: Option<&Arc<BrandCapabilities>>,
        metrics: Option<&Arc<crate::telemetry::Metrics>>,
    ) -> anyhow::Result<Self> {
        let llm = match (&brand.llm, previous.and_then(|p| p.llm.as_ref())) {
            (None, _) => None,
            (Some(cfg), Some(old)) if old.config() == cfg => Some(old.clone()),
            (Some(cfg), _) => Some(LlmService::new(&brand.name, cfg.clone(), metrics.cloned())?),
        };
        let old = previous.and_then(|p| p.knowledge.as_ref());
        let knowledge = match (&brand.knowledge, &brand.help_center) {
            (Some(dir), _) => match old {
                Some(old) if old.dir() == Some(dir.as_path()) => Some(old.clone()),
                _ => Some(KnowledgeBase::open(&brand.name, dir)?),
            },
            // A Help Center knowledge base keeps its index (and its sync's progress)
            // while its config stays; a new one is filled by the sync.
            (None, Some(hc)) => match old {
                Some(old)
                    if old.source() == &knowledge::KnowledgeSource::HelpCenter(hc.clone()) =>
                {
                    Some(old.clone())
                }
                _ => Some(KnowledgeBase::help_center(&brand.name, hc)),
            },
            (None, None) => None,
        };
        // Kept when the config is the same, so the permits of requests in flight hold.
        let http = match (&brand.http, previous.and_then(|p| p.http.as_ref())) {
            (None, _) => None,
            (Some(cfg), Some(old)) if old.config() == cfg => Some(old.clone()),
            (Some(cfg), _) => Some(http::HttpService::new(
                &brand.name,
                cfg.clone(),
                metrics.cloned(),
            )),
        };
        Ok(BrandCapabilities {
            settings: brand.settings.clone(),
            llm,
            knowledge,
            http,
        })
    }
}
