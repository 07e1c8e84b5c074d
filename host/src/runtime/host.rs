//! The host side of the WIT imports: what a plugin can read and stage during one run.
//!
//! Capability scope is structural: no import takes a ticket id, so a plugin can only
//! ever read and change the ticket it was handed; users are readable only when they
//! appear on that ticket; assignment targets are checked against the brand's config.

use super::bindings::zendesk_gateway::plugin::{
    actions, knowledge, llm, log, settings, ticket, types,
};
use super::bindings::{FieldError, PluginError};
use crate::capabilities::llm::{ChatMessage, LlmFailure, Role};
use crate::capabilities::BrandCapabilities;
use crate::config::{Brand, Limits};
use crate::staging::{AssigneeChange, Refused, Staged, StagedStatus};
use crate::zendesk::{Comment, Ticket, User, ZendeskClient, ZendeskError, ZendeskErrorKind};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The AI seat of an environment, as `users/me` reported it at start-up.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Zendesk user id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Login email.
    pub email: String,
    /// `agent` or `admin`.
    pub role: String,
}

/// What has been read from Zendesk for one ticket, shared by the host's own checks and
/// the plugin, so that each thing is fetched at most once per run.
#[derive(Debug, Default, Clone)]
pub struct ReadCache {
    ticket: Option<Ticket>,
    comments: Option<Vec<Comment>>,
    users: HashMap<u64, User>,
}

impl ReadCache {
    /// The ticket, fetched on first use.
    pub async fn ticket(
        &mut self,
        client: &ZendeskClient,
        id: u64,
    ) -> Result<&Ticket, ZendeskError> {
        if self.ticket.is_none() {
            self.ticket = Some(client.ticket(id).await?);
        }
        Ok(self.ticket.as_ref().expect("just filled"))
    }

    /// The conversation, fetched on first use together with its authors (Zendesk
    /// sideloads them), so reading who said what costs no extra request.
    pub async fn comments(
        &mut self,
        client: &ZendeskClient,
        id: u64,
    ) -> Result<&[Comment], ZendeskError> {
        if self.comments.is_none() {
            let (comments, users) = client.comments_with_users(id).await?;
            for u in users {
                if let Some(uid) = u.id {
                    self.users.entry(uid).or_insert(u);
                }
            }
            self.comments = Some(comments);
        }
        Ok(self.comments.as_deref().expect("just filled"))
    }

    /// A cache holding a whole ticket already, so a run reads nothing from Zendesk:
    /// for replaying a saved ticket (a fixture) offline.
    pub fn prefilled(ticket: Ticket, comments: Vec<Comment>, users: Vec<User>) -> ReadCache {
        ReadCache {
            ticket: Some(ticket),
            comments: Some(comments),
            users: users
                .into_iter()
                .filter_map(|u| u.id.map(|id| (id, u)))
                .collect(),
        }
    }

    /// The conversation if it was read in this run.
    pub fn comments_if_read(&self) -> Option<&[Comment]> {
        self.comments.as_deref()
    }

    /// A user if it was read (or sideloaded with the comments) in this run.
    pub fn user_if_read(&self, id: u64) -> Option<&User> {
        self.users.get(&id)
    }

    /// The ticket if it was read in this run.
    pub fn ticket_if_read(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }
}

/// Everything a run can see and stage, besides WASI.
pub struct RunContext {
    /// The ticket this run is about.
    pub ticket_id: u64,
    /// The brand's config at the moment the run started.
    pub brand: Arc<Brand>,
    /// The plugin's version (content hash).
    pub plugin_version: String,
    /// The environment's Zendesk client.
    pub client: ZendeskClient,
    /// The AI seat of the environment.
    pub seat: Seat,
    /// Reads, cached for the run.
    pub reads: ReadCache,
    /// Writes, staged until the run ends.
    pub staged: Staged,
    /// Log lines the plugin wrote.
    pub log_lines: usize,
    /// Log lines dropped over the limit.
    pub dropped_log_lines: usize,
    /// Actions the host refused, in order, for the audit trail.
    pub refusals: Vec<String>,
    /// A Zendesk failure during a read that may pass (quota, outage): the run's decision
    /// was made on incomplete data, so the ticket is retried later instead.
    pub transient_failure: Option<ZendeskError>,
    /// The brand's model, knowledge base and settings.
    pub capabilities: Arc<BrandCapabilities>,
    /// Model tokens this run has spent, against the brand's per-run budget.
    pub llm_tokens_used: u32,
}

impl RunContext {
    /// A context whose Zendesk client points nowhere, for runs that must not reach
    /// Zendesk: load-time probes and fixture replays (whose reads are all cached).
    pub fn offline(brand: Arc<Brand>, plugin_version: String) -> anyhow::Result<Self> {
        let offline = crate::config::Environment {
            name: "offline".into(),
            base_url: "http://127.0.0.1:9".into(),
            email: "offline@localhost".into(),
            api_token: crate::secret::Secret::new("offline"),
            requests_per_minute: 60,
            public_base_url: None,
        };
        let client = ZendeskClient::new(
            &offline,
            crate::zendesk::ClientOptions::default(),
            Arc::new(crate::metrics::Metrics::default()),
        )?;
        let seat = Seat {
            id: 1,
            name: "AI Agent".into(),
            email: "ai@localhost".into(),
            role: "agent".into(),
        };
        Ok(RunContext::new(
            0,
            brand,
            plugin_version,
            client,
            seat,
            Arc::default(),
        ))
    }

    /// A fresh context for one run of `brand`'s plugin on `ticket_id`.
    pub fn new(
        ticket_id: u64,
        brand: Arc<Brand>,
        plugin_version: String,
        client: ZendeskClient,
        seat: Seat,
        capabilities: Arc<BrandCapabilities>,
    ) -> Self {
        RunContext {
            ticket_id,
            brand,
            plugin_version,
            client,
            seat,
            reads: ReadCache::default(),
            staged: Staged::default(),
            log_lines: 0,
            dropped_log_lines: 0,
            refusals: Vec::new(),
            transient_failure: None,
            capabilities,
            llm_tokens_used: 0,
        }
    }
}

impl RunContext {
    fn limits(&self) -> &Limits {
        &self.brand.limits
    }

    fn refuse<T>(&mut self, what: &str, r: Refused) -> wasmtime::Result<Result<T, PluginError>> {
        tracing::info!(
            brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
            action = what, reason = %r.0, "plugin action refused"
        );
        self.refusals.push(format!("{what}: {}", r.0));
        Ok(Err(PluginError::NotAllowed(r.0)))
    }

    fn zendesk_error(&mut self, e: ZendeskError) -> PluginError {
        tracing::warn!(
            brand = %self.brand.name, ticket = self.ticket_id, plugin_version = %self.plugin_version,
            error = %e, "Zendesk read failed during a plugin run"
        );
        if e.is_transient() && self.transient_failure.is_none() {
            self.transient_failure = Some(e.clone());
        }
        to_plugin_error(e)
    }
}

/// Maps Zendesk's errors onto the contract's typed errors.
pub fn to_plugin_error(e: ZendeskError) -> PluginError {
    let text = e.to_string();
    match e.kind {
        ZendeskErrorKind::NotFound => PluginError::NotFound(text),
        ZendeskErrorKind::Forbidden | ZendeskErrorKind::Unauthorized => {
            PluginError::Forbidden(text)
        }
        ZendeskErrorKind::Invalid => PluginError::Invalid(
            e.details
                .into_iter()
                .map(|(field, description)| FieldError { field, description })
                .collect(),
        ),
        ZendeskErrorKind::Conflict => PluginError::Conflict(text),
        ZendeskErrorKind::RateLimited => {
            PluginError::RateLimited(e.retry_after.map(|d| d.as_secs() as u32).unwrap_or(60))
        }
        ZendeskErrorKind::Unavailable | ZendeskErrorKind::Unexpected => {
            PluginError::Unavailable(text)
        }
    }
}

/// The data of one run's `Store`.
pub struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory, table and instance caps, consulted by wasmtime on every growth.
    pub limits: RunLimits,
    /// The run's own state.
    pub ctx: RunContext,
}

impl RunState {
    /// A sandbox with no files, sockets, environment or arguments: WASI only provides
    /// clocks, random numbers and the two output pipes, which the runner reads into the log.
    pub fn new(
        ctx: RunContext,
        stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
        stderr: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout).stderr(stderr);
        let memory = (ctx.limits().memory_mib as usize) << 20;
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(memory)
            .table_elements(100_000)
            .instances(64)
            .tables(32)
            .memories(8)
            .build();
        let limits = RunLimits {
            inner: limits,
            memory_denied: None,
        };
        RunState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits,
            ctx,
        }
    }
}

/// `StoreLimits` that also remember a refused memory growth, so an allocation failure
/// inside the plugin is reported as "out of memory", not as a bare trap.
pub struct RunLimits {
    inner: StoreLimits,
    /// Set when a memory growth was refused: what was asked for.
    pub memory_denied: Option<String>,
}

impl ResourceLimiter for RunLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok && self.memory_denied.is_none() {
            self.memory_denied = Some(format!("asked for {} MiB", desired >> 20));
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for RunState {}

impl ticket::Host for RunState {
    async fn get(&mut self) -> wasmtime::Result<Result<ticket::TicketInfo, PluginError>> {
        let c = &mut self.ctx;
        match c.reads.ticket(&c.client, c.ticket_id).await {
            Ok(t) => Ok(Ok(ticket_info(t))),
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn comments(&mut self) -> wasmtime::Result<Result<Vec<ticket::Comment>, PluginError>> {
        let c = &mut self.ctx;
        match c.reads.comments(&c.client, c.ticket_id).await {
            Ok(list) => Ok(Ok(list.iter().map(comment_info).collect())),
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn get_user(&mut self, id: u64) -> wasmtime::Result<Result<ticket::User, PluginError>> {
        let c = &mut self.ctx;
        if id == c.seat.id {
            return Ok(Ok(seat_info(&c.seat)));
        }
        // Who is on this ticket: requester, assignee, authors of comments.
        let on_ticket = match c.reads.ticket(&c.client, c.ticket_id).await {
            Ok(t) => t.requester_id == Some(id) || t.assignee_id == Some(id),
            Err(e) => return Ok(Err(c.zendesk_error(e))),
        };
        let on_ticket = on_ticket
            || match c.reads.comments(&c.client, c.ticket_id).await {
                Ok(list) => list.iter().any(|cm| cm.author_id == id),
                Err(e) => return Ok(Err(c.zendesk_error(e))),
            };
        if !on_ticket {
            return c.refuse(
                "user",
                Refused(format!(
                    "user {id} does not appear on ticket {}",
                    c.ticket_id
                )),
            );
        }
        if let Some(u) = c.reads.users.get(&id) {
            return Ok(Ok(user_info(u, id)));
        }
        match c.client.user(id).await {
            Ok(u) => {
                let info = user_info(&u, id);
                c.reads.users.insert(id, u);
                Ok(Ok(info))
            }
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn seat(&mut self) -> wasmtime::Result<ticket::User> {
        Ok(seat_info(&self.ctx.seat))
    }
}

impl actions::Host for RunState {
    async fn reply(&mut self, body: String) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.ctx.limits().clone();
        match self.ctx.staged.reply(body, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.ctx.refuse("reply", r),
        }
    }

    async fn note(&mut self, body: String) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.ctx.limits().clone();
        match self.ctx.staged.note(body, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.ctx.refuse("note", r),
        }
    }

    async fn assign(&mut self, to: actions::Assignee) -> wasmtime::Result<Result<(), PluginError>> {
        let brand = self.ctx.brand.clone();
        let change = match to {
            actions::Assignee::AiSeat => AssigneeChange::Seat,
            actions::Assignee::Agent(id) if brand.allowed_agents.contains(&id) => {
                AssigneeChange::Agent(id)
            }
            actions::Assignee::Agent(id) => {
                return self.ctx.refuse(
                    "assign",
                    Refused(format!(
                        "agent {id} is not in brands.{}.allowed_agents",
                        brand.name
                    )),
                )
            }
            actions::Assignee::Group(id) if brand.allowed_groups.contains(&id) => {
                AssigneeChange::Group(id)
            }
            actions::Assignee::Group(id) => {
                return self.ctx.refuse(
                    "assign",
                    Refused(format!(
                        "group {id} is not in brands.{}.allowed_groups",
                        brand.name
                    )),
                )
            }
        };
        self.ctx.staged.assignee = Some(change);
        Ok(Ok(()))
    }

    async fn unassign(&mut self) -> wasmtime::Result<Result<(), PluginError>> {
        self.ctx.staged.assignee = Some(AssigneeChange::Unassign);
        Ok(Ok(()))
    }

    async fn add_tags(&mut self, tags: Vec<String>) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.ctx.limits().clone();
        match self.ctx.staged.add_tags(tags, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.ctx.refuse("add-tags", r),
        }
    }

    async fn remove_tags(
        &mut self,
        tags: Vec<String>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.ctx.limits().clone();
        match self.ctx.staged.remove_tags(tags, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.ctx.refuse("remove-tags", r),
        }
    }

    async fn set_status(
        &mut self,
        status: actions::Status,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        self.ctx.staged.status = Some(match status {
            actions::Status::Open => StagedStatus::Open,
            actions::Status::Pending => StagedStatus::Pending,
            actions::Status::Solved => StagedStatus::Solved,
        });
        Ok(Ok(()))
    }
}

// The capabilities added in 0.2.0. A brand that configures none of them gets "not
// configured" from the model, an empty knowledge base and no settings.
impl llm::Host for RunState {
    async fn complete(
        &mut self,
        request: llm::CompletionRequest,
    ) -> wasmtime::Result<Result<llm::Completion, llm::LlmError>> {
        let Some(model) = self.ctx.capabilities.llm.clone() else {
            return Ok(Err(llm::LlmError::NotConfigured));
        };
        let budget = model.config().max_tokens_per_run;
        let remaining = budget.saturating_sub(self.ctx.llm_tokens_used);
        if remaining == 0 {
            return Ok(Err(llm::LlmError::BudgetExhausted));
        }
        let messages: Vec<ChatMessage> = request
            .messages
            .into_iter()
            .map(|m| ChatMessage {
                role: match m.role {
                    llm::Role::System => Role::System,
                    llm::Role::User => Role::User,
                    llm::Role::Assistant => Role::Assistant,
                },
                content: m.content,
            })
            .collect();
        let max_tokens = request.max_tokens.clamp(1, remaining);
        let result = model
            .complete(&messages, max_tokens, request.temperature)
            .await;
        Ok(match result {
            Ok(c) => {
                // A server that reports no usage is charged an estimate (4 bytes a
                // token), so the budget still bounds a run.
                let spent = if c.prompt_tokens + c.completion_tokens > 0 {
                    c.prompt_tokens + c.completion_tokens
                } else {
                    (c.text.len() as u32 / 4).max(1)
                };
                self.ctx.llm_tokens_used = self.ctx.llm_tokens_used.saturating_add(spent);
                Ok(llm::Completion {
                    text: c.text,
                    prompt_tokens: c.prompt_tokens,
                    completion_tokens: c.completion_tokens,
                })
            }
            Err(LlmFailure::Timeout(_)) => Err(llm::LlmError::Timeout),
            Err(LlmFailure::RateLimited(s)) => Err(llm::LlmError::RateLimited(s)),
            Err(LlmFailure::Unavailable(m)) => Err(llm::LlmError::Unavailable(m)),
            Err(LlmFailure::Invalid(m)) => Err(llm::LlmError::Invalid(m)),
        })
    }
}

impl knowledge::Host for RunState {
    async fn search(
        &mut self,
        query: String,
        limit: u32,
    ) -> wasmtime::Result<Vec<knowledge::Article>> {
        let Some(kb) = &self.ctx.capabilities.knowledge else {
            return Ok(Vec::new());
        };
        Ok(kb
            .index()
            .search(&query, limit as usize)
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

impl settings::Host for RunState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.capabilities.settings.get(&key).cloned())
    }
}

/// Longest plugin log message kept; the rest is cut, so one call cannot flood the log.
const MAX_LOG_MESSAGE: usize = 2048;

impl log::Host for RunState {
    async fn log(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let c = &mut self.ctx;
        if c.log_lines >= c.limits().max_log_lines {
            c.dropped_log_lines += 1;
            return Ok(());
        }
        c.log_lines += 1;
        let message = truncate(&message, MAX_LOG_MESSAGE);
        let joined = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let fields = truncate(&joined, MAX_LOG_MESSAGE);
        let (brand, ticket, version) = (&*c.brand.name, c.ticket_id, &*c.plugin_version);
        match level {
            log::Level::Debug => {
                tracing::debug!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "plugin", brand, ticket, plugin_version = version, fields, "{message}")
            }
        }
        Ok(())
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn ticket_info(t: &Ticket) -> ticket::TicketInfo {
    ticket::TicketInfo {
        id: t.id,
        subject: t.subject.clone().unwrap_or_default(),
        description: t.description.clone().unwrap_or_default(),
        status: t.status.clone(),
        priority: t.priority.clone(),
        ticket_type: t.ticket_type.clone(),
        requester_id: t.requester_id.unwrap_or(0),
        assignee_id: t.assignee_id,
        group_id: t.group_id,
        brand_id: t.brand_id,
        tags: t.tags.clone(),
        channel: t
            .via
            .as_ref()
            .and_then(|v| v.channel.clone())
            .unwrap_or_default(),
        created_at: t.created_at.clone().unwrap_or_default(),
        updated_at: t.updated_at.clone().unwrap_or_default(),
    }
}

fn comment_info(c: &Comment) -> ticket::Comment {
    ticket::Comment {
        id: c.id,
        author_id: c.author_id,
        body: c.text().to_string(),
        public: c.public,
        created_at: c.created_at.clone().unwrap_or_default(),
    }
}

fn user_info(u: &User, id: u64) -> ticket::User {
    ticket::User {
        id,
        name: u.name.clone(),
        email: u.email.clone(),
        role: u.role.clone(),
    }
}

fn seat_info(s: &Seat) -> ticket::User {
    ticket::User {
        id: s.id,
        name: s.name.clone(),
        email: Some(s.email.clone()),
        role: s.role.clone(),
    }
}
