//! The bottom layer: what every resource module shares. Nothing here imports any other
//! module of the crate.
//!
//! - [`error`]: [`ApiError`], the errors the API answers (rendered by `api::reply`).
//! - [`values`]: times and JSON values as Zendesk writes and reads them.
//! - [`paging`]: query parameters, page sizes, offset pages and cursors.
//! - [`events`]: the words tickets and triggers share (statuses, via ids, one update).

mod error;
mod events;
mod paging;
mod values;

pub(crate) use error::ApiError;
pub(crate) use events::{via_id, TicketFacts, UpdateEvent, STATUSES};
pub(crate) use paging::{decode_cursor, encode_cursor, offset_page, parse_page_size, query_param};
pub(crate) use values::{
    as_id, audit_value, fmt_time, html_escape, is_empty_value, now_secs, stored_value, value_text,
    via,
};
