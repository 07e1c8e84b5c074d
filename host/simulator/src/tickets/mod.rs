//! The help desk: users, tickets and their comments, as the API and the people
//! outside it (customers, human agents) read and change them.
//!
//! - `desk`: the records ([`Desk`], tickets, comments, users) and the ticket's JSON.
//! - `users`: users, `users/me` and API-token authentication.
//! - `outside`: a ticket opened, a comment written, a human agent's edit.
//! - `checks`: what every API write checks first (safe update, closed tickets).
//! - `update`: `PUT /api/v2/tickets/{id}`, everything in one audit.
//! - `tags`: the tags endpoints and how tag lists are read.
//! - `comments`: reading comments with cursor or offset paging.
//! - `search`: the ticket search (`search.json`).
//!
//! Every change returns the `common::UpdateEvent` triggers must see; the desk does not
//! run triggers itself (`state::State` hands the event to the rules).

mod checks;
mod comments;
mod desk;
mod outside;
mod search;
mod tags;
mod update;
mod users;

pub(crate) use desk::Desk;
