//! HTTP client for the Zendesk Support API, authenticated as the AI seat.

use super::budget::UpdateBudget;
use super::error::{ZendeskError, ZendeskErrorKind};
use super::quota::{LocalQuota, QuotaBackend};
use super::types::{Comment, Ticket, TicketUpdate, User};
use crate::config::Environment;
use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Tuning of the client's timeouts and retries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries of a request that met a 429, a 5xx or no answer.
    pub max_retries: u32,
    /// First backoff after a 5xx; doubles each retry, with jitter.
    pub initial_backoff: Duration,
    /// Longest single wait, also the cap on Zendesk's Retry-After: past it the ticket
    /// goes back to the inbox instead of holding a worker.
    pub max_wait: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(15),
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_wait: Duration::from_secs(10),
        }
    }
}

/// A Zendesk API client for one environment. Cheap to clone.
#[derive(Clone)]
pub struct ZendeskClient {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// Set while Zendesk refuses the credentials (401), for `/readyz`.
    auth_problem: std::sync::Mutex<Option<String>>,
    /// (X-Rate-Limit, X-Rate-Limit-Remaining) of the last answer that had them.
    rate_limit: std::sync::Mutex<Option<(u64, u64)>>,
    environment: String,
    base_url: String,
    http: reqwest::Client,
    auth: HeaderValue,
    /// Consulted before every request: this process's limiter, or the fleet's bucket.
    quota: Arc<dyn QuotaBackend>,
    /// The budget of `PUT /api/v2/tickets/{id}` (Zendesk's Update Ticket limits).
    updates: UpdateBudget,
    options: ClientOptions,
}

#[derive(Deserialize)]
struct TicketEnvelope {
    ticket: Ticket,
}

#[derive(Deserialize)]
struct UserEnvelope {
    user: User,
}

#[derive(Deserialize)]
struct CommentsPage {
    comments: Vec<Comment>,
    /// Sideloaded authors, present when asked for with `include=users`.
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    meta: Option<PageMeta>,
    #[serde(default)]
    links: Option<PageLinks>,
}

#[derive(Deserialize)]
struct PageMeta {
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct PageLinks {
    #[serde(default)]
    next: Option<String>,
}

/// One page of `GET /api/v2/search.json`.
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    /// The tickets found on this page (search results of `type:ticket`).
    #[serde(default)]
    pub results: Vec<Ticket>,
    /// How many results the whole search has.
    #[serde(default)]
    pub count: u64,
    /// The next page's URL, if there is one.
    #[serde(default)]
    pub next_page: Option<String>,
}

/// Upper bound on comment pages followed, so a misbehaving server cannot keep a run
/// paging forever (100 pages x 100 comments).
const MAX_COMMENT_PAGES: usize = 100;

impl ZendeskClient {
    /// A client for `env`, authenticated with the seat's API token, limited to the
    /// environment's requests per minute by this process's own limiter.
    pub fn new(
        env: &Environment,
        options: ClientOptions,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> anyhow::Result<Self> {
        let quota = Arc::new(LocalQuota::per_minute(env.requests_per_minute));
        let update_rate = Arc::new(LocalQuota::per_minute(env.ticket_updates_per_minute));
        Self::with_quota(env, options, metrics, quota, update_rate)
    }

    /// A client for `env` whose requests wait on `quota` and whose ticket updates also
    /// wait on `update_rate` (e.g. the fleet's shared buckets, so both limits hold for
    /// every replica together).
    pub fn with_quota(
        env: &Environment,
        options: ClientOptions,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
        quota: Arc<dyn QuotaBackend>,
        update_rate: Arc<dyn QuotaBackend>,
    ) -> anyhow::Result<Self> {
        let credentials = format!("{}/token:{}", env.email, env.api_token.expose());
        let mut auth = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))?;
        // Keeps the header out of reqwest's debug output.
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .user_agent(concat!("zendesk-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let updates = UpdateBudget::with_rate(env.ticket_updates_per_minute, update_rate);
        Ok(ZendeskClient {
            inner: Arc::new(Inner {
                metrics,
                auth_problem: std::sync::Mutex::new(None),
                rate_limit: std::sync::Mutex::new(None),
                environment: env.name.clone(),
                base_url: env.base_url.clone(),
                http,
                auth,
                quota,
                updates,
                options,
            }),
        })
    }

    /// The account's quota as Zendesk's last answer gave it (`X-Rate-Limit`,
    /// `X-Rate-Limit-Remaining`): (limit per minute, remaining), if any answer had them.
    pub fn last_rate_limit(&self) -> Option<(u64, u64)> {
        *self
            .inner
            .rate_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Why Zendesk refuses this environment's credentials, if its last answer was a 401.
    pub fn auth_problem(&self) -> Option<String> {
        self.inner
            .auth_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_auth_problem(&self, problem: Option<String>) {
        *self
            .inner
            .auth_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = problem;
    }

    /// `GET /api/v2/users/me`: who the credentials belong to. Zendesk answers bad
    /// credentials here with an anonymous user (id null), not with 401.
    pub async fn me(&self) -> Result<User, ZendeskError> {
        let env: UserEnvelope = self.get_json("/api/v2/users/me").await?;
        Ok(env.user)
    }

    /// `GET /api/v2/users/{id}`.
    pub async fn user(&self, id: u64) -> Result<User, ZendeskError> {
        let env: UserEnvelope = self.get_json(&format!("/api/v2/users/{id}")).await?;
        Ok(env.user)
    }

    /// `GET /api/v2/tickets/{id}`.
    ///
    /// With the `comment_count` sideload (Zendesk's "Tickets" reference lists it among the
    /// ticket sideloads; the count lands in the ticket object), so a caller can tell
    /// whether a comment was added after it read the conversation.
    pub async fn ticket(&self, id: u64) -> Result<Ticket, ZendeskError> {
        let env: TicketEnvelope = self
            .get_json(&format!("/api/v2/tickets/{id}?include=comment_count"))
            .await?;
        Ok(env.ticket)
    }

    /// `GET /api/v2/tickets/{id}/comments?include=users`, every page, oldest first, with
    /// the comments' authors sideloaded: one request for a conversation of up to 100
    /// comments and everyone in it.
    pub async fn comments_with_users(
        &self,
        id: u64,
    ) -> Result<(Vec<Comment>, Vec<User>), ZendeskError> {
        let mut url = format!(
            "{}/api/v2/tickets/{id}/comments?include=users&page[size]=100",
            self.inner.base_url
        );
        let mut comments = Vec::new();
        let mut users = Vec::new();
        for _ in 0..MAX_COMMENT_PAGES {
            let page: CommentsPage = self.request(Method::GET, &url, None).await?;
            comments.extend(page.comments);
            users.extend(page.users);
            let has_more = page.meta.map(|m| m.has_more).unwrap_or(false);
            match page.links.and_then(|l| l.next) {
                // Never send the seat's credentials to a host other than the configured one.
                Some(next) if has_more && self.same_origin(&next) => url = next,
                Some(next) if has_more => {
                    return Err(ZendeskError {
                        kind: ZendeskErrorKind::Unexpected,
                        call: format!("GET /api/v2/tickets/{id}/comments"),
                        status: "200".into(),
                        message: format!(
                            "next page link points outside {}: {next}",
                            self.inner.base_url
                        ),
                        details: Vec::new(),
                        retry_after: None,
                    })
                }
                _ => break,
            }
        }
        Ok((comments, users))
    }

    /// `PUT /api/v2/tickets/{id}` with one update; returns the ticket as Zendesk saved it.
    ///
    /// Within the environment's ticket-update budget (`ticket_updates_per_minute`,
    /// waited for like the general quota) and Zendesk's per-ticket limit: a ticket the
    /// seat updated 30 times in the last 10 minutes is not sent, and the answer is a
    /// passing `RateLimited` error whose `retry_after` says when it may be.
    pub async fn update_ticket(
        &self,
        id: u64,
        update: &TicketUpdate,
    ) -> Result<Ticket, ZendeskError> {
        if let Err(wait) = self.inner.updates.reserve(id, std::time::Instant::now()) {
            return Err(ZendeskError {
                kind: ZendeskErrorKind::RateLimited,
                call: format!("PUT /api/v2/tickets/{id}"),
                status: "not sent".into(),
                message: format!(
                    "the AI seat updated ticket {id} {} times in the last 10 minutes, Zendesk's \
                     per-ticket limit; it may again in {} s",
                    super::budget::PER_TICKET_LIMIT,
                    wait.as_secs().max(1)
                ),
                details: Vec::new(),
                retry_after: Some(wait.max(Duration::from_secs(1))),
            });
        }
        let body = serde_json::json!({ "ticket": update });
        let url = format!("{}/api/v2/tickets/{id}", self.inner.base_url);
        let env: TicketEnvelope = self
            .request_in(Method::PUT, &url, Some(body), Some(&self.inner.updates))
            .await?;
        Ok(env.ticket)
    }

    /// `GET /api/v2/search.json?query=...`: one page (up to 100 results) of a ticket
    /// search, oldest change first (`sort_by=updated_at&sort_order=asc`), so a search
    /// cut short can go on from the newest change it saw. Agents may search, and it
    /// counts against the plan's quota like any request (the incremental export would
    /// need an admin and has its own 10 requests a minute).
    pub async fn search_tickets(&self, query: &str, page: u32) -> Result<SearchPage, ZendeskError> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v2/search.json", self.inner.base_url))
            .map_err(|e| ZendeskError {
            kind: ZendeskErrorKind::Unexpected,
            call: "GET /api/v2/search.json".into(),
            status: "-".into(),
            message: format!("bad base URL: {e}"),
            details: Vec::new(),
            retry_after: None,
        })?;
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("sort_by", "updated_at")
            .append_pair("sort_order", "asc")
            .append_pair("per_page", "100")
            .append_pair("page", &page.max(1).to_string());
        self.request(Method::GET, url.as_str(), None).await
    }

    /// The ticket-update budget (a minute's worth of `PUT /api/v2/tickets/{id}`).
    pub fn ticket_updates_per_minute(&self) -> u32 {
        self.inner.updates.per_minute()
    }

    /// Any Support API call, with the same authentication, rate limiter and retries as
    /// the ticket calls; the answer as JSON (`null` for an empty 2xx answer, such as the
    /// 204 of a webhook update). `path_or_url` is a path (`/api/v2/triggers`) or a full
    /// paging link, which must point at this environment. Used by `setup`.
    pub async fn call_json(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ZendeskError> {
        let url = if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.inner.base_url)
        } else if self.same_origin(path_or_url) {
            path_or_url.to_string()
        } else {
            // Never send the seat's credentials to a host other than the configured one.
            return Err(ZendeskError {
                kind: ZendeskErrorKind::Unexpected,
                call: format!("{method} {path_or_url}"),
                status: "-".into(),
                message: format!("the link points outside {}", self.inner.base_url),
                details: Vec::new(),
                retry_after: None,
            });
        };
        self.request(method, &url, body).await
    }

    /// True when `link` is an absolute URL on this environment's scheme, host and port,
    /// with no user info. Parsed, not compared as text: `http://host:port@elsewhere/`
    /// starts with `http://host:port` but goes to `elsewhere`, and would carry the seat's
    /// credentials there.
    fn same_origin(&self, link: &str) -> bool {
        same_origin(&self.inner.base_url, link)
    }

    /// A GET on `base` (a host of the same account, e.g. a brand's Help Center, which
    /// answers on the brand's own host) with the environment's credentials, rate
    /// limiter (so it counts against the environment's quota like every other call) and
    /// retries. `path_or_url` is a path or a paging link, which must be on `base`'s
    /// origin and under its path (parsed, as for [`Self::same_origin`]): the seat's
    /// credentials go to no other host.
    pub async fn get_json_at<T: DeserializeOwned>(
        &self,
        base: &str,
        path_or_url: &str,
    ) -> Result<T, ZendeskError> {
        let url = if path_or_url.starts_with('/') {
            format!("{base}{path_or_url}")
        } else if same_origin(&format!("{}/", base.trim_end_matches('/')), path_or_url) {
            path_or_url.to_string()
        } else {
            return Err(ZendeskError {
                kind: ZendeskErrorKind::Unexpected,
                call: format!("GET {path_or_url}"),
                status: "-".into(),
                message: format!("the link points outside {base}"),
                details: Vec::new(),
                retry_after: None,
            });
        };
        self.request(Method::GET, &url, None).await
    }

    /// The environment's base URL (`https://acme.zendesk.com`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The path of `url` from `/api/` on, for log lines and metrics: the same call gets
    /// the same name on the environment's own host and on a brand's Help Center host
    /// (same account, same credentials, same quota), whatever that host's own prefix.
    fn call_path<'u>(&self, url: &'u str) -> &'u str {
        let rest = url.strip_prefix(&self.inner.base_url).unwrap_or(url);
        rest.find("/api/").map_or(rest, |i| &rest[i..])
    }
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ZendeskError> {
        let url = format!("{}{path}", self.inner.base_url);
        self.request(Method::GET, &url, None).await
    }

    /// One API call, with the rate limiter, retries on 429 / 5xx / no answer, and the
    /// answer decoded. Reads are retried on any passing failure; writes only when
    /// Zendesk certainly did not apply them (429, 503, a database collision): after no
    /// answer or another 5xx the write may have landed.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ZendeskError> {
        self.request_in(method, url, body, None).await
    }

    /// [`Self::request`], each attempt also waiting for its turn in `budget` (the
    /// ticket-update budget for `PUT /api/v2/tickets/{id}`).
    async fn request_in<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<serde_json::Value>,
        budget: Option<&UpdateBudget>,
    ) -> Result<T, ZendeskError> {
        let path = self.call_path(url);
        let call = format!("{method} {path}");
        let opts = &self.inner.options;
        let mut attempt = 0u32;
        loop {
            if let Some(budget) = budget {
                budget.wait_turn().await;
            }
            self.inner.quota.until_ready().await;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url)
                .header(AUTHORIZATION, self.inner.auth.clone());
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").json(b);
            }
            let err = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let header = |n: &str| {
                        resp.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    };
                    if let (Some(limit), Some(left)) =
                        (header("x-rate-limit"), header("x-rate-limit-remaining"))
                    {
                        *self
                            .inner
                            .rate_limit
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some((limit, left));
                    }
                    self.inner.metrics.zendesk_call(
                        &self.inner.environment,
                        method.as_str(),
                        path,
                        status.as_str(),
                    );
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let mut text = resp.text().await.unwrap_or_default();
                    if status.is_success() && text.trim().is_empty() {
                        text = "null".into();
                    }
                    if status.is_success() {
                        if self.inner.auth_problem.lock().is_ok_and(|p| p.is_some()) {
                            self.set_auth_problem(None);
                        }
                        return serde_json::from_str(&text).map_err(|e| ZendeskError {
                            kind: ZendeskErrorKind::Unexpected,
                            call: call.clone(),
                            status: status.as_u16().to_string(),
                            message: format!("answer is not the documented JSON: {e}"),
                            details: Vec::new(),
                            retry_after: None,
                        });
                    }
                    let err = ZendeskError::from_response(
                        call.clone(),
                        status.as_u16(),
                        &text,
                        retry_after,
                    );
                    if err.kind == ZendeskErrorKind::Unauthorized {
                        tracing::error!(environment = %self.inner.environment, call = %call,
                            "Zendesk refuses the AI seat's credentials (401): check the email and API token");
                        self.set_auth_problem(Some(err.to_string()));
                    }
                    err
                }
                Err(e) => {
                    self.inner.metrics.zendesk_call(
                        &self.inner.environment,
                        method.as_str(),
                        path,
                        "error",
                    );
                    ZendeskError::transport(call.clone(), e)
                }
            };
            if !err.is_transient() || attempt >= opts.max_retries {
                return Err(err);
            }
            // A write whose answer was lost may have landed. A POST would create a
            // second record; a PUT relies on safe update, whose stamp has one-second
            // resolution, so it could post the same reply twice. Neither is sent again
            // here: the caller re-reads the ticket first (see pipeline::handling).
            if method != Method::GET && !err.certainly_not_applied() {
                return Err(err);
            }
            let wait = match err.retry_after {
                Some(ra) if ra > opts.max_wait => return Err(err),
                Some(ra) => ra,
                None => backoff(opts.initial_backoff, attempt, opts.max_wait),
            };
            tracing::warn!(
                environment = %self.inner.environment,
                call = %call,
                status = %err.status,
                wait_ms = wait.as_millis() as u64,
                attempt = attempt + 1,
                "Zendesk call failed, retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Longest `Retry-After` taken at its word; a larger value (or `inf`, `1e20`) is
/// treated as this much, which is past every retry wait, so the ticket goes back to the
/// inbox instead of panicking in `Duration::from_secs_f64` or sleeping for ages.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` header defensively: seconds (fractions allowed), clamped to
/// `0..=MAX_RETRY_AFTER`; `NaN`, negative and unparsable values are ignored (`None`), as
/// is the HTTP-date form, which Zendesk does not send.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<f64>().ok()?;
    if secs.is_nan() {
        return None;
    }
    let secs = secs.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64());
    Duration::try_from_secs_f64(secs).ok()
}

/// True when `link` has the same scheme, host and port as `base` and carries no user
/// info (see [`ZendeskClient::call_json`]).
fn same_origin(base: &str, link: &str) -> bool {
    let (Ok(base), Ok(link)) = (url::Url::parse(base), url::Url::parse(link)) else {
        return false;
    };
    link.scheme() == base.scheme()
        && link.host() == base.host()
        && link.port_or_known_default() == base.port_or_known_default()
        && link.username().is_empty()
        && link.password().is_none()
        && link.path().starts_with(base.path())
}

/// Exponential backoff with full jitter: a random wait up to `initial * 2^attempt`,
/// capped, so many workers retrying after one outage do not retry in lockstep.
fn backoff(initial: Duration, attempt: u32, cap: Duration) -> Duration {
    use rand::Rng;
    let ceiling = initial.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let ms = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_parsed_defensively() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-3"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1e20"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("inf"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-inf"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn paging_links_must_stay_on_the_configured_origin() {
        let base = "http://127.0.0.1:8080";
        assert!(same_origin(base, "http://127.0.0.1:8080/api/v2/x?page=2"));
        assert!(!same_origin(base, "http://127.0.0.1:8080@evil.example/api"));
        assert!(!same_origin(base, "http://u:p@127.0.0.1:8080/api"));
        assert!(!same_origin(base, "http://127.0.0.1:8081/api"));
        assert!(!same_origin(base, "https://127.0.0.1:8080/api"));
        assert!(!same_origin(base, "http://127.0.0.1.evil.example:8080/api"));
        assert!(same_origin(
            "https://acme.zendesk.com",
            "https://acme.zendesk.com:443/api"
        ));
        assert!(!same_origin("https://acme.zendesk.com", "/api/v2/x"));
    }
}
