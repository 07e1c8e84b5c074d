//! The account's rules: webhooks, triggers and automations, which `zendesk-gateway
//! setup` manages, and trigger evaluation (which conditions hold for one ticket update,
//! which webhooks to call).
//!
//! - [`registry`]: the records ([`Rules`], webhooks, rules, [`Delivery`]) and their JSON.
//! - [`webhooks`]: the webhooks API and signing secrets.
//! - [`invocations`]: the webhook invocations and their attempts.
//! - [`validate`]: reading and checking trigger and automation bodies.
//! - [`triggers`]: the triggers and automations APIs.
//! - [`evaluate`]: conditions, rendering, and the webhook calls an update makes.
//!
//! The rules know nothing of the ticket store: a ticket update reaches them as
//! `common::{TicketFacts, UpdateEvent}`.

mod evaluate;
mod invocations;
mod registry;
mod triggers;
mod validate;
mod webhook_test;
mod webhooks;

pub(crate) use registry::{Delivery, Rules};
pub(crate) use webhook_test::{send as send_webhook_test, PREPARED as PREPARED_WEBHOOK_TEST};
pub(crate) use webhooks::ulid;
