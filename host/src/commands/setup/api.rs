//! Setup's Zendesk calls, through the gateway's own client (authentication, rate limiter,
//! retries). Reads always go out; in a dry run writes are recorded instead of sent.
//!
//! Webhooks, triggers and automations need an admin in Zendesk (or an agent whose custom
//! role may manage them); the AI seat is usually an agent. So setup acts as the
//! environment's administrator when the config gives one (`admin_email` and
//! `admin_api_token_env` / `admin_api_token_file`), and as the seat otherwise; the seat's
//! own client still identifies the seat (`users/me`). A 403 is explained: which
//! permission, which user, and how to fix it.

use super::report::PlannedRequest;
use crate::zendesk::{ZendeskClient, ZendeskErrorKind};
use anyhow::anyhow;
use reqwest::Method;
use serde_json::Value;

/// Most pages followed for one list (100 records a page): a bound against a server
/// that keeps answering `has_more`.
const MAX_PAGES: usize = 100;

/// Who setup's calls act as.
#[derive(Debug, Clone)]
pub(crate) struct Acting {
    /// The environment's name in the config.
    pub(crate) environment: String,
    /// The login the calls are made with.
    pub(crate) email: String,
    /// Whether that is the configured administrator (else the AI seat).
    pub(crate) admin: bool,
}

/// Zendesk, as setup sees it.
pub(crate) struct Api {
    /// The administrator's client, or the seat's when no administrator is configured.
    client: ZendeskClient,
    /// The seat's client, for `users/me` of the seat.
    seat: ZendeskClient,
    acting: Acting,
    dry_run: bool,
    planned: Vec<PlannedRequest>,
    /// (secret, what to print instead): endpoint tokens inside webhook URLs.
    masks: Vec<(String, String)>,
}

impl Api {
    pub(crate) fn new(
        client: ZendeskClient,
        seat: ZendeskClient,
        acting: Acting,
        dry_run: bool,
        masks: Vec<(String, String)>,
    ) -> Api {
        Api {
            client,
            seat,
            acting,
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

    /// A POST that changes nothing in Zendesk (the "Test Webhook" call of `doctor`):
    /// always sent, dry run or not.
    pub(crate) async fn post_check(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.client
            .call_json(Method::POST, path, Some(body))
            .await
            .map_err(|e| explain(e, path, &self.acting))
    }

    /// The quota as the last answer gave it: (X-Rate-Limit, X-Rate-Limit-Remaining).
    pub(crate) fn last_rate_limit(&self) -> Option<(u64, u64)> {
        self.client.last_rate_limit()
    }

    /// Who the calls act as.
    pub(crate) fn acting(&self) -> &Acting {
        &self.acting
    }

    /// One GET.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.client
            .call_json(Method::GET, path, None)
            .await
            .map_err(|e| explain(e, path, &self.acting))
    }

    /// One GET as the AI seat (`users/me` of the seat, whoever else setup acts as).
    pub(crate) async fn get_as_seat(&self, path: &str) -> anyhow::Result<Value> {
        let seat = Acting {
            admin: false,
            ..self.acting.clone()
        };
        self.seat
            .call_json(Method::GET, path, None)
            .await
            .map_err(|e| explain(e, path, &seat))
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
            .map_err(|e| explain(e, path, &self.acting))?;
        Ok(Some(answer))
    }

    /// The writes a dry run did not send.
    pub(crate) fn into_planned(self) -> Vec<PlannedRequest> {
        self.planned
    }
}
/// The permission a setup call needs, by what it touches.
fn permission(path: &str) -> &'static str {
    if path.contains("/webhooks") {
        "manage webhooks"
    } else if path.contains("/triggers") {
        "manage triggers"
    } else if path.contains("/automations") {
        "manage automations"
    } else {
        "read the account's set-up"
    }
}

/// Adds what a Zendesk refusal of a setup call means: for a 403 which permission is
/// missing, for which user, and how to fix it; for a 401 which credentials to check.
fn explain(err: crate::zendesk::ZendeskError, path: &str, acting: &Acting) -> anyhow::Error {
    let env = &acting.environment;
    let who = if acting.admin {
        format!("the administrator {} (admin_email)", acting.email)
    } else {
        format!("the AI seat {}", acting.email)
    };
    let hint = match err.kind {
        ZendeskErrorKind::Forbidden if acting.admin => format!(
            " ({who} may not {}: Zendesk lets only admins, or agents whose custom role allows \
             it, do that; make {} an admin in Admin Center > People, or set admin_email and \
             admin_api_token_env (or admin_api_token_file) of [environments.{env}] to an admin's)",
            permission(path),
            acting.email
        ),
        ZendeskErrorKind::Forbidden => format!(
            " ({who} may not {}: Zendesk lets only admins, or agents whose custom role allows \
             it, do that; give setup an admin's credentials with admin_email and \
             admin_api_token_env (or admin_api_token_file) in [environments.{env}] (the gateway \
             keeps answering as the seat), or give the seat a role that may manage triggers, \
             automations and webhooks, or create the objects by hand as docs/setup.md shows)",
            permission(path)
        ),
        ZendeskErrorKind::Unauthorized if acting.admin => format!(
            " (Zendesk does not accept the credentials of {who}: check admin_email and \
             admin_api_token_env / admin_api_token_file of [environments.{env}])"
        ),
        ZendeskErrorKind::Unauthorized => format!(
            " (Zendesk does not accept the credentials of {who}: check email and \
             api_token_env / api_token_file of [environments.{env}])"
        ),
        _ => String::new(),
    };
    let details: String = err
        .details
        .iter()
        .map(|(f, d)| format!("; {f}: {d}"))
        .collect();
    anyhow!("{err}{details}{hint}")
}
