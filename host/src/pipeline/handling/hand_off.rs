//! The hand-off step: the ticket goes to humans with an internal note saying why, the
//! error tag, and the AI seat unassigned if it held it (the update is built by staging,
//! the one place that builds updates). Nothing the plugin staged is sent.

use super::commit::{put, PutError};
use super::{Attempt, End, Job, Transient};
use crate::capabilities::actions::staging::hand_off_update;
use crate::outcome::Outcome;
use crate::zendesk::{ReadCache, ZendeskErrorKind};

/// Hands the ticket off, in one safe-update PUT. When Zendesk refuses the update with
/// the note (too large, invalid), the minimal hand-off follows: the tag and the seat
/// unassigned, without the note, and the audit says so.
pub(crate) async fn hand_off(
    job: &Job<'_>,
    reads: &mut ReadCache,
    note: &str,
    reason: String,
) -> Attempt {
    let ended = |end: End| Attempt {
        end,
        staged: serde_json::Value::Null,
        committed: None,
    };
    let ticket = match reads.ticket(&job.env.client, job.ticket_id).await {
        Ok(t) => t.clone(),
        Err(e) if e.is_transient() => return ended(End::Transient(e.into())),
        Err(e) => {
            let why = format!("{reason}; and the hand-off failed: {e}");
            return ended(End::Finished(Outcome::Failed, why));
        }
    };
    let max_note = job.brand.brand.limits.max_note_bytes;
    let update = hand_off_update(&ticket, job.env.seat.id, Some(note), max_note);
    let first = put(job, &update).await;
    let (update, result, reason) = match first {
        Err(PutError::Zendesk(e)) if !e.is_transient() && e.kind != ZendeskErrorKind::Conflict => {
            tracing::warn!(brand = %job.brand.brand.name, ticket = job.ticket_id, error = %e,
                "Zendesk refused the hand-off note; handing off without it");
            let minimal = hand_off_update(&ticket, job.env.seat.id, None, max_note);
            let result = put(job, &minimal).await;
            let reason = format!("{reason}; Zendesk refused the hand-off note ({e}), so the ticket was only tagged and unassigned");
            (minimal, result, reason)
        }
        other => (update, other, reason),
    };
    match result {
        Ok(()) => Attempt {
            end: End::Finished(Outcome::Failed, reason),
            staged: serde_json::Value::Null,
            committed: serde_json::to_value(&update).ok(),
        },
        Err(PutError::NotRecorded(why)) => ended(End::Transient(Transient {
            reason: why,
            retry_after: None,
        })),
        Err(PutError::Zendesk(e)) if e.kind == ZendeskErrorKind::Conflict => ended(End::Conflict),
        Err(PutError::Zendesk(e)) if e.is_transient() => ended(End::Transient(e.into())),
        Err(PutError::Zendesk(e)) => {
            let why = format!("{reason}; and the hand-off failed: {e}");
            ended(End::Finished(Outcome::Failed, why))
        }
    }
}
