//! The Zendesk Support API client: typed requests and answers, typed errors, token
//! authentication, a client-side rate limiter and bounded retries.
//!
//! Shapes follow `shared/zendesk-api.md` and Zendesk's OpenAPI description. [`reads`]
//! holds the AI seat and what one run has read, shared by the host's guards and the
//! plugin. [`budget`] keeps ticket updates within Zendesk's Update Ticket limits.

pub mod account;
pub mod budget;
mod client;
mod error;
pub mod help_center;
pub mod quota;
pub mod reads;
mod types;

pub use reads::{ReadCache, Seat};

pub use client::{ClientOptions, SearchPage, ZendeskClient};
pub use error::{ZendeskError, ZendeskErrorKind};
pub use types::{Comment, CustomFieldValue, Ticket, TicketUpdate, TicketUpdateComment, User, Via};
