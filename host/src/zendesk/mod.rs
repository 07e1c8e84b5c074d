//! The Zendesk Support API client: typed requests and answers, typed errors, token
//! authentication, a client-side rate limiter and bounded retries.
//!
//! Shapes follow `shared/zendesk-api.md` and Zendesk's OpenAPI description.

mod client;
mod error;
mod types;

pub use client::{ClientOptions, ZendeskClient};
pub use error::{ZendeskError, ZendeskErrorKind};
pub use types::{Comment, Ticket, TicketUpdate, TicketUpdateComment, User, Via};
