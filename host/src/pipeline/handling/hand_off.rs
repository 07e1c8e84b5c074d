//! The hand-off step: the ticket goes to humans with an internal note saying why, the
//! error tag, and the AI seat unassigned if it held it (the update is built by staging,
//! the one place that builds updates). Nothing the plugin staged is sent.

use super::commit::put;
use super::{Attempt, End, Job};
use crate::capabilities::actions::staging::hand_off_update;
use crate::outcome::Outcome;
use crate::zendesk::{ReadCache, ZendeskErrorKind};

/// Hands the ticket off, in one safe-update PUT.
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
        Err(e) if e.is_transient() => return ended(End::Transient(e)),
        Err(e) => {
            let why = format!("{reason}; and the hand-off failed: {e}");
            return ended(End::Finished(Outcome::Failed, why));
        }
    };
    let update = hand_off_update(&ticket, job.env.seat.id, note);
    match put(job, &update).await {
        Ok(()) => Attempt {
            end: End::Finished(Outcome::Failed, reason),
            staged: serde_json::Value::Null,
            committed: Some(update),
        },
        Err(e) if e.kind == ZendeskErrorKind::Conflict => ended(End::Conflict),
        Err(e) if e.is_transient() => ended(End::Transient(e)),
        Err(e) => {
            let why = format!("{reason}; and the hand-off failed: {e}");
            ended(End::Finished(Outcome::Failed, why))
        }
    }
}
