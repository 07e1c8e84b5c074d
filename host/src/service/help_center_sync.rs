//! The Help Center sync: keeps each brand's Help Center knowledge base current, in the
//! background, never in a run's way. Per brand with `knowledge = { help_center = true }`:
//!
//! 1. at start (or when the brand's knowledge base is rebuilt), the articles stored in
//!    the gateway's database are indexed at once (no Zendesk call), so a restart does
//!    not leave plugins searching an empty base;
//! 2. every `refresh_secs`, the incremental article export from the stored cursor (the
//!    first sync starts at 0: every article), through the environment's client, so it
//!    counts against the account's quota and waits for it like any call;
//! 3. a published article in the brand's locales and labels is added or replaced, with
//!    its HTML as text; one that is unpublished (`draft`), deleted (`archived`, or no
//!    body) or no longer matches leaves the index;
//! 4. the changes and the new cursor are stored in one transaction, then the index is
//!    rebuilt off the async threads and swapped whole: a search sees the old index or
//!    the new one, never half a sync.
//!
//! A failed sync (Zendesk down, quota) keeps the index and the cursor and is tried
//! again sooner than the next refresh.

use crate::capabilities::knowledge::html;
use crate::capabilities::knowledge::index::{Article, KnowledgeIndex, MAX_ARTICLE_BYTES};
use crate::capabilities::{KnowledgeBase, KnowledgeSource};
use crate::config::HelpCenterConfig;
use crate::gateway::Gateway;
use crate::store::help_center::StoredArticle;
use crate::zendesk::help_center::HelpCenterArticle;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the task looks for brands whose sync is due.
const TICK: Duration = Duration::from_millis(250);
/// Export pages read in one sync; the rest waits for the next tick.
const MAX_PAGES_PER_SYNC: usize = 20;
/// Articles kept per brand: a knowledge base is prose for customers, and a runaway
/// export must not fill the memory or the database.
pub const MAX_ARTICLES: usize = 20_000;
/// Longest wait before a failed sync is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The running sync task; dropping it stops the task.
pub struct HelpCenterSync {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HelpCenterSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the sync task for `gw`'s brands (it idles when none has a Help Center).
pub fn spawn(gw: Arc<Gateway>) -> HelpCenterSync {
    HelpCenterSync {
        task: tokio::spawn(run(gw)),
    }
}

/// One brand's sync, in memory.
struct BrandSync {
    /// The knowledge base being filled (a rebuilt one starts a new `BrandSync`).
    kb: KnowledgeBase,
    config: HelpCenterConfig,
    key: String,
    cursor: i64,
    /// Stored articles are from another config: drop them at the next save.
    reset: bool,
    articles: BTreeMap<u64, StoredArticle>,
    due: Instant,
}

async fn run(gw: Arc<Gateway>) {
    let mut syncs: HashMap<String, BrandSync> = HashMap::new();
    loop {
        if gw.is_shutting_down() {
            return;
        }
        let brands = gw.brands();
        syncs.retain(|name, _| brands.contains_key(name));
        for (name, rt) in brands.iter() {
            let Some(kb) = rt.capabilities.knowledge.clone() else {
                syncs.remove(name);
                continue;
            };
            let KnowledgeSource::HelpCenter(config) = kb.source().clone() else {
                syncs.remove(name);
                continue;
            };
            let fresh = syncs.get(name).is_none_or(|s| !s.kb.same_as(&kb));
            if fresh {
                match start(&gw, name, kb, config).await {
                    Ok(s) => {
                        syncs.insert(name.clone(), s);
                    }
                    Err(e) => {
                        tracing::error!(brand = %name, error = %format!("{e:#}"),
                            "cannot read the stored Help Center articles; the sync will start over");
                        continue;
                    }
                }
            }
            let Some(sync) = syncs.get_mut(name) else {
                continue;
            };
            if Instant::now() < sync.due {
                continue;
            }
            let refresh = Duration::from_secs(sync.config.refresh_secs);
            match sync_once(&gw, name, sync).await {
                Ok(()) => sync.due = Instant::now() + refresh,
                Err(e) => {
                    tracing::warn!(brand = %name, environment = %sync.config.environment,
                        host = %sync.config.host, error = %format!("{e:#}"),
                        "Help Center sync failed; the index and cursor stay, it is tried again");
                    sync.due = Instant::now() + refresh.min(RETRY_AFTER_FAILURE);
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

fn config_key(c: &HelpCenterConfig) -> String {
    format!("{}|{}|{}", c.host, c.locales.join(","), c.labels.join(","))
}

/// Loads what was stored for the brand and indexes it at once.
async fn start(
    gw: &Arc<Gateway>,
    brand: &str,
    kb: KnowledgeBase,
    config: HelpCenterConfig,
) -> anyhow::Result<BrandSync> {
    let store = gw.help_center.clone();
    let name = brand.to_string();
    let stored = tokio::task::spawn_blocking(move || store.load(&name)).await??;
    let key = config_key(&config);
    let (cursor, reset, articles) = match stored {
        Some(s) if s.config_key == key => (
            s.cursor,
            false,
            s.articles.into_iter().map(|a| (a.id, a)).collect(),
        ),
        Some(_) => (0, true, BTreeMap::new()),
        None => (0, false, BTreeMap::new()),
    };
    let sync = BrandSync {
        kb,
        config,
        key,
        cursor,
        reset,
        articles,
        due: Instant::now(),
    };
    if !sync.articles.is_empty() {
        publish(&sync).await;
        tracing::info!(
            brand,
            articles = sync.articles.len(),
            cursor = sync.cursor,
            "Help Center knowledge base indexed from the stored articles"
        );
    }
    Ok(sync)
}

/// Whether an exported article belongs in the brand's index.
fn wanted(a: &HelpCenterArticle, c: &HelpCenterConfig) -> bool {
    !a.draft
        && !a.archived
        && a.body.is_some()
        && (c.locales.is_empty() || c.locales.contains(&a.locale.to_lowercase()))
        && (c.labels.is_empty() || a.label_names.iter().any(|l| c.labels.contains(l)))
}

/// One sync: the export pages since the cursor, stored, then indexed.
async fn sync_once(gw: &Arc<Gateway>, brand: &str, sync: &mut BrandSync) -> anyhow::Result<()> {
    let env = gw.environment(&sync.config.environment).ok_or_else(|| {
        anyhow::anyhow!(
            "environment {} is not connected (no endpoint uses it)",
            sync.config.environment
        )
    })?;
    let mut cursor = sync.cursor;
    let mut next: Option<String> = None;
    let mut upserts: BTreeMap<u64, StoredArticle> = BTreeMap::new();
    let mut removals: Vec<u64> = Vec::new();
    for _ in 0..MAX_PAGES_PER_SYNC {
        let page = env
            .client
            .help_center_export(&sync.config.host, cursor, next.as_deref())
            .await?;
        // A page may hold many large articles: their HTML is turned into text off the
        // async threads, which serve /notify and the runs' Zendesk calls meanwhile.
        let config = sync.config.clone();
        let articles = page.articles;
        let converted = tokio::task::spawn_blocking(move || {
            articles
                .into_iter()
                .map(|a| {
                    let body = wanted(&a, &config).then(|| {
                        let text = html::to_text(a.body.as_deref().unwrap_or_default());
                        crate::text::truncate(&text, MAX_ARTICLE_BYTES as usize).to_string()
                    });
                    (a, body)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for (a, body) in converted {
            if let Some(body) = body {
                if !sync.articles.contains_key(&a.id)
                    && sync.articles.len() + upserts.len() >= MAX_ARTICLES
                {
                    tracing::warn!(brand, article = a.id,
                        "Help Center article skipped: the knowledge base holds {MAX_ARTICLES} articles already");
                    continue;
                }
                removals.retain(|id| *id != a.id);
                upserts.insert(
                    a.id,
                    StoredArticle {
                        id: a.id,
                        title: a.title,
                        url: a.html_url.unwrap_or_default(),
                        body,
                    },
                );
            } else {
                upserts.remove(&a.id);
                if sync.articles.contains_key(&a.id) && !removals.contains(&a.id) {
                    removals.push(a.id);
                }
            }
        }
        if let Some(end) = page.end_time {
            cursor = cursor.max(end);
        }
        match page.next_page {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    // Unchanged articles listed again (the export's end second is inclusive) are not
    // changes.
    upserts.retain(|id, a| sync.articles.get(id) != Some(a));
    let changed = !upserts.is_empty() || !removals.is_empty() || sync.reset;
    if !changed && cursor == sync.cursor {
        return Ok(());
    }
    let store = gw.help_center.clone();
    let (name, key, reset) = (brand.to_string(), sync.key.clone(), sync.reset);
    let rows: Vec<StoredArticle> = upserts.values().cloned().collect();
    let gone = removals.clone();
    tokio::task::spawn_blocking(move || store.save(&name, &key, cursor, &rows, &gone, reset))
        .await??;
    sync.reset = false;
    sync.cursor = cursor;
    let (added, removed) = (upserts.len(), removals.len());
    for id in removals {
        sync.articles.remove(&id);
    }
    sync.articles.extend(upserts);
    if changed {
        publish(sync).await;
        tracing::info!(brand, environment = %sync.config.environment, articles = sync.articles.len(),
            added_or_changed = added, removed, cursor, "Help Center knowledge base synced");
    }
    Ok(())
}

/// Rebuilds the brand's index from its articles off the async threads and swaps it in.
async fn publish(sync: &BrandSync) {
    let articles: Vec<Arc<Article>> = sync
        .articles
        .values()
        .map(|a| {
            Arc::new(Article {
                id: a.id.to_string(),
                title: a.title.clone(),
                url: (!a.url.is_empty()).then(|| a.url.clone()),
                body: a.body.clone(),
            })
        })
        .collect();
    match tokio::task::spawn_blocking(move || KnowledgeIndex::from_articles(articles)).await {
        Ok(index) => sync.kb.replace(index),
        Err(e) => {
            tracing::error!(error = %e, "Help Center index build failed; the previous index stays")
        }
    }
}
