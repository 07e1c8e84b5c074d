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
//! rendered body, signed with the webhook's signing secret (see `delivery.rs`).
//!
//! # Modules
//!
//! Imports only go downwards in this list; nothing imports this file's items.
//!
//! - `common/`: shared helpers: `ApiError`, times and values, query parameters and
//!   paging, and the update events tickets hand to triggers.
//! - `config.rs`, `model.rs`: the public records (the account's set-up; tickets,
//!   comments, edits, the call log).
//! - `faults.rs`: [`Fault`] and the pending faults requests use up.
//! - `quota.rs`: the per-minute quota over a sliding minute.
//! - `directory.rs`: brands, groups and group memberships.
//! - `rules/`: webhooks, triggers and automations, their validation, and trigger
//!   evaluation (which webhooks one ticket update calls).
//! - `tickets/`: users, tickets, comments, safe update, tags and comment paging.
//! - `state.rs`: the account as one value; runs triggers on every ticket change.
//! - `shared.rs`: the state behind its mutex, shared by handlers and the delivery task.
//! - `delivery.rs`: calling webhooks, signed, off the request path.
//! - `api/`: the Zendesk API under `/api/v2/` (edge: faults, quota, auth, headers,
//!   call log; routes; Zendesk's error replies).
//! - `admin.rs`: the admin API under `/_sim/`.
//! - `simulator.rs`: the [`Simulator`] handle and [`run`].

#![deny(missing_docs)]

mod admin;
mod api;
mod common;
mod config;
mod delivery;
mod directory;
mod faults;
mod model;
mod quota;
mod rules;
mod shared;
mod simulator;
mod state;
mod tickets;

pub use config::{
    default_triggers, SimBrand, SimGroup, SimUser, SimulatorConfig, DEFAULT_BRAND_ID,
};
pub use faults::Fault;
pub use model::{
    AgentComment, AgentEdit, ApiCall, CustomField, NewComment, NewTicket, SimTicket, TicketState,
    WebhookDelivery,
};
pub use simulator::{run, Simulator};
