//! The Help Center API as the knowledge sync reads it: the incremental article export
//! (`GET /api/v2/help_center/incremental/articles?start_time=<unix>`, agents only), on
//! the brand's own host, through the environment's client (its credentials, rate
//! limiter and retries: the sync counts against the account's quota).

use super::client::ZendeskClient;
use super::error::ZendeskError;
use serde::Deserialize;

/// One article of the export. Only what the index needs is typed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct HelpCenterArticle {
    /// The article id.
    pub id: u64,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// Its public URL.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its body (HTML); null for an archived (deleted) article.
    #[serde(default)]
    pub body: Option<String>,
    /// `en-us`, `de`...
    #[serde(default)]
    pub locale: String,
    /// Labels.
    #[serde(default)]
    pub label_names: Vec<String>,
    /// Unpublished.
    #[serde(default)]
    pub draft: bool,
    /// Deleted (archived): present and true when the export lists a removed article.
    #[serde(default)]
    pub archived: bool,
}

/// One page of the export.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportPage {
    /// The articles whose metadata changed.
    #[serde(default)]
    pub articles: Vec<HelpCenterArticle>,
    /// The next page, if any.
    #[serde(default)]
    pub next_page: Option<String>,
    /// The newest change in this page: the next export's `start_time`.
    #[serde(default)]
    pub end_time: Option<i64>,
}

impl ZendeskClient {
    /// One page of the incremental article export of the Help Center at `host`: from
    /// `start_time`, or the `next_page` link of the previous page.
    pub async fn help_center_export(
        &self,
        host: &str,
        start_time: i64,
        next_page: Option<&str>,
    ) -> Result<ExportPage, ZendeskError> {
        let first = format!("/api/v2/help_center/incremental/articles?start_time={start_time}");
        self.get_json_at(host, next_page.unwrap_or(&first)).await
    }
}
