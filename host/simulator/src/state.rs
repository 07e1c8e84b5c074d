//! The simulated account as one value behind the state mutex: the help desk, the
//! directory, the rules, the quota, the pending faults, the call log and the webhook
//! calls waiting to be sent.
//!
//! This is where the resources meet: every ticket change the desk makes comes back as
//! an update event, which is run through the account's triggers here, as Zendesk does
//! after every ticket create and update.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::breaker::Breaker;
use crate::catalog::Catalog;
use crate::common::{now_secs, ApiError, UpdateEvent};
use crate::config::SimulatorConfig;
use crate::directory::Directory;
use crate::faults::Faults;
use crate::help_center::HelpCenter;
use crate::model::{AgentEdit, ApiCall, NewComment, NewTicket};
use crate::quota::{Quota, UpdateLimits};
use crate::roles::Roles;
use crate::rules::{Delivery, Rules};
use crate::tickets::Desk;

/// Why a human agent's edit did not happen.
#[derive(Debug)]
pub(crate) enum EditError {
    /// The Update Ticket limits are used up: Zendesk would answer 429 with this
    /// `Retry-After` (seconds).
    Limited {
        /// Seconds until the edit would be accepted.
        retry_after: u64,
    },
    /// No such ticket, a closed ticket, an unknown status.
    Refused(anyhow::Error),
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Limited { retry_after } => write!(
                f,
                "429 Too Many Requests: the Update Ticket limit is used up; retry after {retry_after} s"
            ),
            EditError::Refused(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EditError {}

/// The whole simulated account.
pub(crate) struct State {
    /// Users, tickets and comments.
    pub(crate) desk: Desk,
    /// Brands, groups and memberships.
    pub(crate) directory: Directory,
    /// Custom agent roles and who has which.
    pub(crate) roles: Roles,
    /// Webhooks, triggers and automations.
    pub(crate) rules: Rules,
    /// Ticket fields, forms and schedules.
    pub(crate) catalog: Catalog,
    /// Every brand's Help Center articles.
    pub(crate) help_center: HelpCenter,
    /// The per-minute API quota.
    pub(crate) quota: Quota,
    /// The Update Ticket endpoint's limits (API updates and human agents' saves).
    pub(crate) updates: UpdateLimits,
    /// Injected faults not used up yet.
    pub(crate) faults: Faults,
    /// The API calls received, in the order they were answered.
    pub(crate) calls: Vec<ApiCall>,
    /// Webhook calls decided by triggers, waiting to be sent once the lock is released.
    pub(crate) outbox: Vec<Delivery>,
    /// Each webhook's circuit breaker, by webhook id.
    pub(crate) breakers: BTreeMap<String, Breaker>,
}

impl State {
    /// A new account set up as `config` says.
    pub(crate) fn new(config: SimulatorConfig) -> State {
        let created_at = now_secs();
        let catalog = Catalog::new(
            config.ticket_fields.clone(),
            config.ticket_forms.clone(),
            config.schedules.clone(),
            &config.required_on_solve,
            created_at,
        );
        let mut desk = Desk::new(&config, created_at);
        desk.use_fields(
            catalog.fields.iter().map(|f| f.id).collect(),
            catalog.required_ids(),
        );
        let roles = Roles::new(
            config.custom_roles.clone(),
            config.seat.id,
            config.seat_custom_role_id,
        );
        let directory = Directory::new(
            config.brands,
            config.groups,
            config.seat.id,
            config.seat_group_ids.as_deref(),
            created_at,
        );
        let mut rules = Rules::new();
        for t in &config.triggers {
            if let Err(e) = rules.seed_trigger(t) {
                // A bad seed is a bug in the caller's config: say so loudly, but keep
                // the simulator usable.
                tracing::error!("{e}");
            }
        }
        State {
            desk,
            directory,
            roles,
            rules,
            catalog,
            help_center: HelpCenter::default(),
            quota: Quota::new(config.rate_limit_per_minute),
            updates: UpdateLimits::new(
                config.ticket_updates_per_minute,
                config.ticket_updates_per_user_per_ticket,
            ),
            faults: Faults::default(),
            calls: Vec::new(),
            outbox: Vec::new(),
            breakers: BTreeMap::new(),
        }
    }

    /// Runs the account's triggers on one update of ticket `id`; their webhook calls
    /// wait in `outbox`.
    fn fire_triggers(&mut self, id: u64, event: UpdateEvent) {
        let Some(facts) = self.desk.facts(id) else {
            return;
        };
        let deliveries = self.rules.fire(&facts, &event);
        self.outbox.extend(deliveries);
    }

    /// Opens a ticket as its requester would.
    pub(crate) fn create_ticket(&mut self, t: NewTicket) -> u64 {
        let (id, event) = self.desk.create_ticket(t);
        self.fire_triggers(id, event);
        id
    }

    /// A comment by a customer or an agent, written outside the API.
    pub(crate) fn add_comment(&mut self, ticket_id: u64, c: NewComment) -> anyhow::Result<()> {
        let event = self.desk.add_comment(ticket_id, c)?;
        self.fire_triggers(ticket_id, event);
        Ok(())
    }

    /// A human agent's edit in the Zendesk UI. It counts against the Update Ticket
    /// limits like an API update (Zendesk counts the UI's saves there too).
    pub(crate) fn agent_edit(&mut self, id: u64, edit: AgentEdit) -> Result<(), EditError> {
        let author = self.desk.edit_author(&edit);
        if self.desk.ticket_ids().contains(&id) {
            self.updates
                .take(author, id, std::time::Instant::now())
                .map_err(|retry_after| EditError::Limited { retry_after })?;
        }
        let event = self.desk.agent_edit(id, edit).map_err(EditError::Refused)?;
        self.fire_triggers(id, event);
        Ok(())
    }

    /// `PUT /api/v2/tickets/{id}` by `actor`.
    pub(crate) fn api_update_ticket(
        &mut self,
        id: u64,
        body: Option<&Value>,
        base: &str,
        actor: u64,
    ) -> Result<Value, ApiError> {
        let directory = &self.directory;
        let is_member = |user: u64, group: u64| directory.is_member(user, group);
        // The actor's custom role first: Zendesk refuses (403) an agent whose role does
        // not cover the ticket's group, or the group the update moves it to.
        if let Some(facts) = self.desk.facts(id) {
            let new_group = body
                .and_then(|b| b["ticket"].get("group_id"))
                .and_then(Value::as_u64);
            self.roles
                .check_update(actor, &facts, new_group, &is_member)?;
        }
        let (answer, event) = self
            .desk
            .api_update_ticket(id, body, base, actor, &is_member)?;
        if let Some(event) = event {
            self.fire_triggers(id, event);
        }
        Ok(answer)
    }

    /// `GET|PUT|POST|DELETE /api/v2/tickets/{id}/tags`.
    pub(crate) fn api_tags(
        &mut self,
        id: u64,
        method: &str,
        body: Option<&Value>,
        query: &[(String, String)],
    ) -> Result<(u16, Value), ApiError> {
        let (status, answer, event) = self.desk.api_tags(id, method, body, query)?;
        if let Some(event) = event {
            self.fire_triggers(id, event);
        }
        Ok((status, answer))
    }
}
