//! The one PUT of an attempt (a commit or a hand-off), with its intent recorded first.

use super::Job;
use crate::zendesk::{TicketUpdate, ZendeskError};

/// The one PUT, with its intent recorded first: if the gateway dies before it learns
/// the answer, the next run of the ticket finds the intent and settles it (see
/// [`super::settle`]) instead of guessing. Without a recorded intent nothing is sent.
pub(crate) async fn put(job: &Job<'_>, update: &TicketUpdate) -> Result<(), PutError> {
    let intent = serde_json::to_string(update).unwrap_or_default();
    if let Err(e) = job.gw.inbox.record_intent(job.claim, intent).await {
        return Err(PutError::NotRecorded(format!(
            "cannot record the update before sending it: {e:#}"
        )));
    }
    job.env
        .client
        .update_ticket(job.ticket_id, update)
        .await
        .map(|_| ())
        .map_err(PutError::Zendesk)
}

/// Why the one PUT did not happen.
pub(crate) enum PutError {
    /// The intent could not be recorded (the database refuses writes): not sent.
    NotRecorded(String),
    /// Zendesk's answer.
    Zendesk(ZendeskError),
}
