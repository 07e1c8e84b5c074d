//! An in-process stand-in for the part of the Zendesk Support API the gateway uses.
//!
//! The gateway is tested only against this simulator, so it imitates the real
//! Zendesk as closely as the shared notes (`shared/zendesk-api.md`) and Zendesk's
//! own OpenAPI description allow: the same JSON shapes, the same error bodies and
//! headers, the same quirks (an anonymous `users/me`, safe-update conflicts,
//! cursor paging of comments, rate-limit headers). Where the notes are silent the
//! code says what it assumed.
//!
//! Besides the Zendesk API under `/api/v2/` it serves an unauthenticated admin API
//! under `/_sim/` for tests, the demo and humans (create tickets, write customer
//! comments, make a human agent's edit, read the call log, inject faults).
//!
//! Like Zendesk, it runs the account's triggers after every ticket create and update;
//! a trigger's `notification_webhook` action calls the webhook's endpoint with the
//! rendered body, signed with the webhook's signing secret (see `delivery.rs`), and
//! as best effort: a ~12 s timeout, only some answers retried, and a circuit breaker
//! that pauses a failing webhook and drops its notifications meanwhile
//! ([`WebhookPolicy`]; `GET /_sim/webhooks/{id}/breaker` shows its state).
//!
//! Authentication and limits as in Zendesk: the seat (an agent) and an administrator
//! each have an API token; wrong credentials get 401 (the anonymous `users/me` only
//! without credentials); webhooks, triggers and automations need the administrator
//! (403 for an agent); `PUT /api/v2/tickets/{id}` has the Update Ticket limits (per
//! account per minute, shared with human agents' edits made through
//! `PUT /_sim/tickets/{id}`, and per user per ticket in 10 minutes).
//!
//! # Faults
//!
//! [`Simulator::inject_fault`] and `POST /_sim/faults` make matching API requests
//! misbehave ([`Fault`]; all fields optional in JSON):
//! - `status`: answer this error (with Zendesk's body) instead of processing;
//!   `retry_after` (seconds) or `retry_after_raw` (any text, sent verbatim, e.g.
//!   `"1e20"`, `"soon"`) sets `Retry-After`. `0` serves the request normally.
//! - `hold_before_ms`: wait before reading or changing any state, so a test can
//!   change the world (e.g. add a customer comment) while the request is held.
//! - `hold_after_ms`: process and commit, then hold the answer.
//! - `drop_after_commit`: process and commit, then close the connection without an
//!   answer (logged with status `0`).
//! - `times` (default 1) and/or `for_ms` (a window from injection; alone it has no
//!   count limit): the fault ends with whichever runs out first.
//!
//! Holds sleep without the state lock, so other requests and the admin API carry on.
//! A fault that would change nothing (no status, hold or drop) is refused (400).
//!
//! # Modules
//!
//! Each module imports only modules listed before it; nothing imports this file.
//!
//! - `common/`: shared helpers: `ApiError`, times and values, query parameters and
//!   paging, and the update events tickets hand to triggers.
//! - `config.rs`, `model.rs`: the public records (the account's set-up; tickets,
//!   comments, edits, the call log).
//! - `faults.rs`: [`Fault`] and the pending faults requests use up (by count or
//!   time window).
//! - `quota.rs`: the per-minute quota over a sliding minute.
//! - `directory.rs`: brands, groups and group memberships.
//! - `roles.rs`: custom agent roles and which ticket updates they refuse.
//! - `breaker.rs`: Zendesk's circuit breaker for one webhook.
//! - `catalog.rs`: ticket fields, ticket forms and business hours schedules.
//! - `help_center.rs`: each brand's Help Center: articles, the incremental export,
//!   locales (the default brand's at the base URL, any brand's under
//!   `/brands/<subdomain>/`).
//! - `rules/`: webhooks, triggers and automations, their validation, and trigger
//!   evaluation (which webhooks one ticket update calls).
//! - `tickets/`: users, tickets, comments, safe update, tags and comment paging.
//! - `state.rs`: the account as one value; runs triggers on every ticket change.
//! - `shared.rs`: the state behind its mutex, shared by handlers and the delivery task.
//! - `delivery.rs`: calling webhooks, signed, off the request path, with Zendesk's
//!   timeout, retries and circuit breaker.
//! - `connection.rs`: connections a fault can cut, so an answer is lost.
//! - `api/`: the Zendesk API under `/api/v2/` (edge: faults and their holds, quota,
//!   auth, headers, call log; routes; Zendesk's error replies).
//! - `admin.rs`: the admin API under `/_sim/`.
//! - `simulator.rs`: the [`Simulator`] handle and [`run`].
//! - `shop.rs`: not Zendesk: a shop's order API ([`shop::ShopApi`]), the brand's own
//!   system that plugins call through the gateway's outbound HTTP.

#![deny(missing_docs)]

mod admin;
mod api;
mod breaker;
mod catalog;
mod common;
mod config;
mod connection;
mod delivery;
mod directory;
mod faults;
mod help_center;
mod model;
mod quota;
mod roles;
mod rules;
mod shared;
pub mod shop;
mod simulator;
mod state;
mod tickets;

pub use config::{
    default_triggers, SimBrand, SimCustomRole, SimGroup, SimSchedule, SimTicketField,
    SimTicketForm, SimUser, SimulatorConfig, WebhookPolicy, DEFAULT_BRAND_ID,
};
pub use faults::Fault;
pub use help_center::SimArticle;
pub use model::{
    AgentComment, AgentEdit, ApiCall, CustomField, NewComment, NewTicket, SimTicket, TicketState,
    WebhookAttempt, WebhookDelivery,
};
pub use simulator::{run, Simulator};
