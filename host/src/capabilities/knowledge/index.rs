//! A brand's knowledge base: a folder of Markdown articles, or the articles of its
//! Zendesk Help Center (synced by `service::help_center_sync`), ranked with BM25 (the
//! `bm25` crate: English stemming and stop words), rebuilt when they change.
//!
//! An article is one `.md` file anywhere under the folder. Its id is its path inside the
//! folder without `.md` (`shipping/returns`), its title the first `# ` heading (or the
//! file name), and a line `url: https://...` gives the link customers should get. The
//! title counts twice in the ranking: customers' words match titles more often than prose.

use crate::config::HelpCenterConfig;
use anyhow::Context;
use arc_swap::ArcSwap;
use bm25::{Language, SearchEngine, SearchEngineBuilder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Articles bigger than this are skipped (with a warning): a knowledge base is prose for
/// customers, and one huge file would dominate every search and every plugin's memory.
pub const MAX_ARTICLE_BYTES: u64 = 256 * 1024;
/// At most this many articles are returned by one search, whatever the plugin asks.
pub const MAX_RESULTS: usize = 20;
/// Bytes of a query that reach the index; the rest is ignored. A question needs far
/// fewer, and a plugin may pass a customer's whole comment.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Longer words are dropped from a query: no English word is this long, and the
/// stemmer's cost grows faster than a word's length.
pub const MAX_WORD_BYTES: usize = 40;
/// Words of a query that reach the index, after the cuts above.
pub const MAX_QUERY_TERMS: usize = 64;

/// The part of `query` that is searched: its first [`MAX_QUERY_BYTES`] bytes, without
/// words over [`MAX_WORD_BYTES`], at most [`MAX_QUERY_TERMS`] words. Bounded work for
/// the index whatever the plugin or the customer wrote.
pub fn bound_query(query: &str) -> String {
    let head = crate::text::truncate(query, MAX_QUERY_BYTES);
    let mut words = head
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD_BYTES)
        .take(MAX_QUERY_TERMS);
    let mut out = String::with_capacity(head.len().min(MAX_QUERY_TERMS * (MAX_WORD_BYTES + 1)));
    if let Some(first) = words.next() {
        out.push_str(first);
        for w in words {
            out.push(' ');
            out.push_str(w);
        }
    }
    out
}

/// One article of a knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Path inside the folder, without `.md`, with `/` separators.
    pub id: String,
    /// First `# ` heading, or the file name.
    pub title: String,
    /// The `url:` line's value, if any.
    pub url: Option<String>,
    /// The whole Markdown text.
    pub body: String,
}

/// An article that matched, with its BM25 score.
#[derive(Debug, Clone)]
pub struct Match {
    /// The article.
    pub article: Arc<Article>,
    /// BM25 relevance; comparable within one search.
    pub score: f32,
}

/// A built index over one snapshot of the folder.
pub struct KnowledgeIndex {
    articles: Vec<Arc<Article>>,
    engine: SearchEngine<u32>,
}

impl KnowledgeIndex {
    /// Indexes `articles` (CPU work: call it off the async threads).
    pub fn from_articles(articles: Vec<Arc<Article>>) -> KnowledgeIndex {
        let documents = articles.iter().enumerate().map(|(i, a)| {
            bm25::Document::new(i as u32, format!("{} {} {}", a.title, a.title, a.body))
        });
        let engine =
            SearchEngineBuilder::<u32>::with_documents(Language::English, documents).build();
        KnowledgeIndex { articles, engine }
    }

    /// Reads every article under `dir` and indexes them.
    pub fn build(dir: &Path) -> anyhow::Result<KnowledgeIndex> {
        let mut files = Vec::new();
        collect_markdown(dir, &mut files)
            .with_context(|| format!("cannot read knowledge folder {}", dir.display()))?;
        files.sort();
        let mut articles = Vec::new();
        for file in files {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if size > MAX_ARTICLE_BYTES {
                tracing::warn!(article = %file.display(), bytes = size,
                    "knowledge article skipped: larger than {MAX_ARTICLE_BYTES} bytes");
                continue;
            }
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(article = %file.display(), error = %e, "knowledge article skipped");
                    continue;
                }
            };
            articles.push(Arc::new(parse_article(dir, &file, text)));
        }
        Ok(KnowledgeIndex::from_articles(articles))
    }

    /// The best `limit` articles for `query`, best first. Only the [`bound_query`] part
    /// of the query is searched.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Match> {
        let query = bound_query(query);
        if query.is_empty() || self.articles.is_empty() {
            return Vec::new();
        }
        self.engine
            .search(&query, limit.min(MAX_RESULTS))
            .into_iter()
            .filter_map(|r| {
                let article = self.articles.get(r.document.id as usize)?.clone();
                Some(Match {
                    article,
                    score: r.score,
                })
            })
            .collect()
    }

    /// How many articles are indexed.
    pub fn len(&self) -> usize {
        self.articles.len()
    }

    /// Whether the folder held no article.
    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }
}

/// Where a knowledge base's articles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnowledgeSource {
    /// A folder of Markdown articles, reloaded when it changes.
    Folder(PathBuf),
    /// The brand's Zendesk Help Center, synced in the background.
    HelpCenter(HelpCenterConfig),
}

/// A brand's knowledge base: its source and its current index, swapped whole on reload so
/// that a search never sees half a folder or half a sync.
#[derive(Clone)]
pub struct KnowledgeBase {
    brand: String,
    source: KnowledgeSource,
    index: Arc<ArcSwap<KnowledgeIndex>>,
}

impl KnowledgeBase {
    /// Indexes `dir` for `brand`.
    pub fn open(brand: &str, dir: &Path) -> anyhow::Result<KnowledgeBase> {
        let index = KnowledgeIndex::build(dir).with_context(|| format!("brand {brand}"))?;
        tracing::info!(brand, folder = %dir.display(), articles = index.len(), "knowledge base indexed");
        Ok(KnowledgeBase {
            brand: brand.to_string(),
            source: KnowledgeSource::Folder(dir.to_path_buf()),
            index: Arc::new(ArcSwap::from_pointee(index)),
        })
    }

    /// An empty knowledge base for `brand`'s Help Center, filled by the sync.
    pub fn help_center(brand: &str, config: &HelpCenterConfig) -> KnowledgeBase {
        KnowledgeBase {
            brand: brand.to_string(),
            source: KnowledgeSource::HelpCenter(config.clone()),
            index: Arc::new(ArcSwap::from_pointee(KnowledgeIndex::from_articles(
                Vec::new(),
            ))),
        }
    }

    /// The folder, for a folder knowledge base.
    pub fn dir(&self) -> Option<&Path> {
        match &self.source {
            KnowledgeSource::Folder(d) => Some(d),
            KnowledgeSource::HelpCenter(_) => None,
        }
    }

    /// Where the articles come from.
    pub fn source(&self) -> &KnowledgeSource {
        &self.source
    }

    /// Whether `other` is this very knowledge base (not a rebuilt one): a sync that
    /// filled this one must fill a new one again.
    pub fn same_as(&self, other: &KnowledgeBase) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }

    /// Makes `index` the index in force (a Help Center sync's new snapshot).
    pub fn replace(&self, index: KnowledgeIndex) {
        self.index.store(Arc::new(index));
    }

    /// The index in force.
    pub fn index(&self) -> Arc<KnowledgeIndex> {
        self.index.load_full()
    }

    /// Rebuilds the index from the folder. On failure the previous index stays; a Help
    /// Center knowledge base is rebuilt by its sync instead.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(dir) = self.dir() else {
            return Ok(self.index().len());
        };
        let index = KnowledgeIndex::build(dir).with_context(|| format!("brand {}", self.brand))?;
        let n = index.len();
        self.index.store(Arc::new(index));
        tracing::info!(brand = %self.brand, folder = %dir.display(), articles = n, "knowledge base reloaded");
        Ok(n)
    }
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_markdown(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

fn parse_article(root: &Path, file: &Path, body: String) -> Article {
    let id = file
        .strip_prefix(root)
        .unwrap_or(file)
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let title = body
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| {
            id.rsplit('/')
                .next()
                .unwrap_or(&id)
                .replace(['-', '_'], " ")
        });
    let url = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("url:"))
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    Article {
        id,
        title,
        url,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kb-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("shipping")).unwrap();
        std::fs::write(
            dir.join("shipping/returns.md"),
            "# Returns and refunds\nurl: https://help.example.com/returns\n\nYou can return any item within 30 days for a full refund.",
        )
        .unwrap();
        std::fs::write(
            dir.join("shipping/delivery-times.md"),
            "# Delivery times\n\nStandard delivery takes 3 to 5 working days; express delivery arrives the next day.",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not an article").unwrap();
        dir
    }

    #[test]
    fn ranks_the_matching_article_first_with_its_metadata() {
        let dir = folder();
        let index = KnowledgeIndex::build(&dir).unwrap();
        assert_eq!(index.len(), 2, "only .md files are articles");
        let hits = index.search("how do I get a refund for my return?", 5);
        assert_eq!(hits[0].article.id, "shipping/returns");
        assert_eq!(hits[0].article.title, "Returns and refunds");
        assert_eq!(
            hits[0].article.url.as_deref(),
            Some("https://help.example.com/returns")
        );
        assert!(hits[0].score > 0.0);
        assert!(index.search("zebra", 5).is_empty());
        assert!(index.search("   ", 5).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn queries_are_bounded_before_the_index() {
        let q = bound_query(&format!("refund {} please", "y".repeat(1 << 20)));
        assert_eq!(q, "refund", "the query is cut, an absurd word dropped");
        let q = bound_query(&format!("refund {} please", "y".repeat(100)));
        assert_eq!(q, "refund please", "an absurd word is dropped");
        let many: String = (0..10_000).map(|i| format!("w{i} ")).collect();
        assert_eq!(bound_query(&many).split(' ').count(), MAX_QUERY_TERMS);
        assert!(bound_query(&"ab ".repeat(1 << 20)).len() <= MAX_QUERY_BYTES);
        assert_eq!(
            bound_query("how do I get a refund?"),
            "how do I get a refund"
        );
        let dir = folder();
        let index = KnowledgeIndex::build(&dir).unwrap();
        let started = std::time::Instant::now();
        let hits = index.search(&format!("refund {}", "y".repeat(4 << 20)), 5);
        assert_eq!(hits[0].article.id, "shipping/returns");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reload_picks_up_new_articles() {
        let dir = folder();
        let kb = KnowledgeBase::open("retail", &dir).unwrap();
        assert!(kb.index().search("gift cards", 3).is_empty());
        std::fs::write(
            dir.join("gift-cards.md"),
            "# Gift cards\n\nGift cards never expire.",
        )
        .unwrap();
        assert_eq!(kb.reload().unwrap(), 3);
        assert_eq!(
            kb.index().search("gift cards", 3)[0].article.id,
            "gift-cards"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
