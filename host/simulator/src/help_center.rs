//! Each brand's Help Center (Guide): articles, the incremental article export and the
//! locales, with the shapes of Zendesk's Help Center API.
//!
//! A brand's Help Center answers on that brand's own host in Zendesk
//! (`https://<brand subdomain>.zendesk.com`). The simulator has one host, so the default
//! brand's Help Center is served at the base URL (`/api/v2/help_center/...`) and any
//! brand's at `<base>/brands/<subdomain>/api/v2/help_center/...` (an assumption of the
//! simulator; a gateway names the host per brand either way).
//!
//! Assumed where the notes are silent: the incremental export
//! (`GET /api/v2/help_center/incremental/articles?start_time=<unix>`, agents only) lists
//! every article whose metadata changed at or after `start_time`, oldest change first,
//! up to 1,000 a page, with `next_page` and `end_time` (the newest change in the page);
//! an unpublished article is listed with `draft: true`; a deleted (archived) one stays
//! listed with `archived: true` and `body: null`, so a client can drop it.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::{fmt_time, now_secs, offset_page, query_param, ApiError};

/// Articles per page of the incremental export.
const EXPORT_PAGE: usize = 1000;

/// One article as tests put it in a brand's Help Center.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimArticle {
    /// The article id (chosen by the test; unique in the account).
    pub id: u64,
    /// The subdomain of the brand whose Help Center holds it.
    pub brand: String,
    /// Its title.
    pub title: String,
    /// Its body, HTML.
    pub body: String,
    /// `en-us`, `de`...
    pub locale: String,
    /// Labels.
    #[serde(default)]
    pub label_names: Vec<String>,
    /// Unpublished.
    #[serde(default)]
    pub draft: bool,
}

struct Stored {
    article: SimArticle,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    archived: bool,
}

/// Every brand's articles.
#[derive(Default)]
pub(crate) struct HelpCenter {
    articles: Vec<Stored>,
}

impl HelpCenter {
    /// Creates or replaces an article (its `updated_at` becomes now).
    pub(crate) fn put(&mut self, a: SimArticle) {
        let now = now_secs();
        match self.articles.iter_mut().find(|s| s.article.id == a.id) {
            Some(s) => {
                s.article = a;
                s.updated_at = now;
                s.archived = false;
            }
            None => self.articles.push(Stored {
                article: a,
                created_at: now,
                updated_at: now,
                archived: false,
            }),
        }
    }

    /// Archives (deletes) an article; false if there is none.
    pub(crate) fn archive(&mut self, id: u64) -> bool {
        match self.articles.iter_mut().find(|s| s.article.id == id) {
            Some(s) => {
                s.archived = true;
                s.updated_at = now_secs();
                true
            }
            None => false,
        }
    }

    fn json(&self, s: &Stored, host: &str) -> Value {
        let a = &s.article;
        let slug: String = a
            .title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        json!({
            "id": a.id,
            "url": format!("{host}/api/v2/help_center/{}/articles/{}.json", a.locale, a.id),
            "html_url": format!("{host}/hc/{}/articles/{}-{}", a.locale, a.id, slug.trim_matches('-')),
            "author_id": 9000,
            "comments_disabled": false,
            "draft": a.draft,
            "promoted": false,
            "position": 0,
            "vote_sum": 0,
            "vote_count": 0,
            "section_id": 100,
            "created_at": fmt_time(s.created_at),
            "updated_at": fmt_time(s.updated_at),
            "edited_at": fmt_time(s.updated_at),
            "name": a.title,
            "title": a.title,
            "source_locale": a.locale,
            "locale": a.locale,
            "outdated": false,
            "outdated_locales": [],
            "permission_group_id": 1,
            "user_segment_id": null,
            "label_names": a.label_names,
            "archived": s.archived,
            "body": if s.archived { Value::Null } else { Value::String(a.body.clone()) },
        })
    }

    /// Answers `segments` (after `help_center/`) for the Help Center of `brand`
    /// (a subdomain) served at `host`.
    pub(crate) fn route(
        &self,
        brand: &str,
        host: &str,
        segments: &[&str],
        query: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let mine = || {
            self.articles
                .iter()
                .filter(move |s| s.article.brand == brand)
        };
        match segments {
            ["locales"] => {
                let mut locales: Vec<&str> = mine().map(|s| s.article.locale.as_str()).collect();
                locales.sort_unstable();
                locales.dedup();
                let default = locales.first().copied().unwrap_or("en-us");
                Ok(json!({"locales": locales, "default_locale": default}))
            }
            ["incremental", "articles"] => {
                let start: i64 = query_param(query, "start_time")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest("InvalidParameter", "start_time is required".into())
                    })?;
                let mut changed: Vec<&Stored> = mine()
                    .filter(|s| s.updated_at.timestamp() >= start)
                    .collect();
                changed.sort_by_key(|s| (s.updated_at, s.article.id));
                let page: Vec<&Stored> = changed.iter().take(EXPORT_PAGE).copied().collect();
                let end_time = page.last().map_or(start, |s| s.updated_at.timestamp());
                let next_page = (changed.len() > EXPORT_PAGE).then(|| {
                    format!("{host}/api/v2/help_center/incremental/articles?start_time={end_time}")
                });
                Ok(json!({
                    "articles": page.iter().map(|s| self.json(s, host)).collect::<Vec<_>>(),
                    "count": page.len(),
                    "end_time": end_time,
                    "next_page": next_page,
                }))
            }
            [locale, "articles"] => {
                let items: Vec<Value> = mine()
                    .filter(|s| !s.archived && s.article.locale.eq_ignore_ascii_case(locale))
                    .map(|s| self.json(s, host))
                    .collect();
                offset_page(
                    items,
                    "articles",
                    query,
                    &format!("{host}/api/v2/help_center/{locale}/articles.json"),
                )
            }
            _ => Err(ApiError::InvalidEndpoint),
        }
    }
}
