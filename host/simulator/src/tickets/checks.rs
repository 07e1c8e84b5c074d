//! What every API write to a ticket checks first: the safe-update stamp, a closed
//! ticket, a missing parameter.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use super::desk::Ticket;
use crate::common::ApiError;

/// Checks `safe_update` + `updated_stamp` against the ticket's `updated_at`.
///
/// Zendesk's OAS says any `safe_update` value (even false) turns the check on
/// and only omitting it turns it off; the check needs `updated_stamp` too.
pub(super) fn check_safe_update(params: &Map<String, Value>, t: &Ticket) -> Result<(), ApiError> {
    let wants = params.get("safe_update").is_some_and(|v| !v.is_null());
    let Some(stamp) = params.get("updated_stamp").filter(|_| wants) else {
        return Ok(());
    };
    let matches = stamp
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .is_some_and(|s| s.with_timezone(&Utc).trunc_subsecs(0) == t.updated_at);
    if matches {
        Ok(())
    } else {
        Err(ApiError::Conflict)
    }
}

/// 422: a closed ticket takes no more updates.
pub(super) fn closed_error() -> ApiError {
    ApiError::Invalid(vec![(
        "status".to_string(),
        "Status: closed prevents ticket update".to_string(),
    )])
}

/// 400: a required parameter is absent or empty.
pub(super) fn missing_param(name: &str) -> ApiError {
    ApiError::BadRequest(
        "ParameterMissing",
        format!("param is missing or the value is empty: {name}"),
    )
}

/// 400: the body has no `ticket` object.
pub(super) fn missing_ticket_param() -> ApiError {
    missing_param("ticket")
}
