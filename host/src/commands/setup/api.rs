//! Setup's Zendesk calls, through the gateway's own client (authentication, rate limiter,
//! retries). Reads always go out; in a dry run writes are recorded instead of sent.

use super::report::PlannedRequest;
use crate::zendesk::{ZendeskClient, ZendeskErrorKind};
use anyhow::anyhow;
use reqwest::Method;
use serde_json::Value;

/// Most pages followed for one list (100 records a page): a bound against a server
/// that keeps answering `has_more`.
const MAX_PAGES: usize = 100;

/// Zendesk, as setup sees it.
pub(crate) struct Api {
    client: ZendeskClient,
    dry_run: bool,
    planned: Vec<PlannedRequest>,
    /// (secret, what to print instead): endpoint tokens inside webhook URLs.
    masks: Vec<(String, String)>,
}

impl Api {
    pub(crate) fn new(client: ZendeskClient, dry_run: bool, masks: Vec<(String, String)>) -> Api {
        Api {
            client,
            dry_run,
            planned: Vec::new(),
            masks,
        }
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// `text` with every endpoint token replaced by a placeholder.
    pub(crate) fn mask(&self, text: &str) -> String {
        self.masks
            .iter()
            .fold(text.to_string(), |t, (secret, shown)| {
                t.replace(secret, shown)
            })
    }

    /// One GET.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.client
            .call_json(Method::GET, path, None)
            .await
            .map_err(explain)
    }

    /// Every record of a list, following its paging: cursor paging (`meta.has_more` and
    /// `links.next`, as webhooks answer) or offset paging (`next_page`, as triggers,
    /// automations, groups and memberships answer).
    pub(crate) async fn list(&self, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = path.to_string();
        for _ in 0..MAX_PAGES {
            let page = self.get(&next).await?;
            let items = page[key].as_array().ok_or_else(|| {
                anyhow::anyhow!("GET {next}: the answer has no {key:?} list: {page}")
            })?;
            out.extend(items.iter().cloned());
            let cursor_next = page["links"]["next"]
                .as_str()
                .filter(|_| page["meta"]["has_more"].as_bool() == Some(true));
            match cursor_next.or(page["next_page"].as_str()) {
                Some(link) if !link.is_empty() => next = link.to_string(),
                _ => return Ok(out),
            }
        }
        anyhow::bail!("GET {path}: more than {MAX_PAGES} pages of {key}")
    }

    /// A POST or PUT; in a dry run it is recorded (tokens masked) and `None` returned.
    pub(crate) async fn write(
        &mut self,
        method: &str,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Option<Value>> {
        if self.dry_run {
            let shown: Value = serde_json::from_str(&self.mask(&body.to_string()))
                .unwrap_or_else(|_| body.clone());
            self.planned.push(PlannedRequest {
                method: method.to_string(),
                path: path.to_string(),
                body: shown,
            });
            return Ok(None);
        }
        let method = Method::from_bytes(method.as_bytes())?;
        let answer = self
            .client
            .call_json(method, path, Some(body))
            .await
            .map_err(explain)?;
        Ok(Some(answer))
    }

    /// The writes a dry run did not send.
    pub(crate) fn into_planned(self) -> Vec<PlannedRequest> {
        self.planned
    }
}
/// Adds what a Zendesk refusal of a setup write usually means.
fn explain(err: crate::zendesk::ZendeskError) -> anyhow::Error {
    let hint = match err.kind {
        ZendeskErrorKind::Forbidden => {
            " (Zendesk lets only admins, or agents whose role may manage triggers, \
             automations and webhooks, change them: give the seat that permission for setup, \
             or create the objects by hand as docs/setup.md shows)"
        }
        ZendeskErrorKind::Unauthorized => " (check the environment's email and API token)",
        _ => "",
    };
    let details: String = err
        .details
        .iter()
        .map(|(f, d)| format!("; {f}: {d}"))
        .collect();
    anyhow!("{err}{details}{hint}")
}
