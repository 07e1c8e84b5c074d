//! Settling an update whose fate is unknown. The commit records its intent (the update
//! it is about to send) before the PUT; when the gateway dies before it learns the
//! answer, or the answer is lost, the next run of the ticket finds the intent here.
//! Zendesk's safe-update stamp has one-second resolution, so sending the same update
//! again could post the same reply twice: instead the conversation is read, and an
//! intended comment already there by the seat means the update landed. That is recorded
//! as what was sent; otherwise the ticket is handled afresh (the guards apply).

use super::{Attempt, End, Job};
use crate::outcome::Outcome;
use crate::zendesk::ReadCache;

/// The settled attempt when the intended update is found on the ticket.
pub(crate) async fn settle(job: &Job<'_>) -> Option<Attempt> {
    let intent = job.claim.intent.as_deref()?;
    let update: serde_json::Value = serde_json::from_str(intent).ok()?;
    let body = update["comment"]["body"].as_str()?.trim().to_string();
    let mut reads = ReadCache::default();
    let comments = match reads.comments(&job.env.client, job.ticket_id).await {
        Ok(c) => c,
        // Unknown still: handled afresh, where the guard reads the conversation again.
        Err(_) => return None,
    };
    let landed = comments
        .iter()
        .any(|c| c.author_id == job.env.seat.id && c.text().trim() == body);
    if !landed {
        tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id,
            "an update whose answer was lost did not reach Zendesk; handling the ticket afresh");
        return None;
    }
    tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id,
        "an update whose answer was lost had reached Zendesk; recorded as sent");
    Some(Attempt {
        end: End::Finished(
            Outcome::Handled,
            "settled: the update sent before the gateway lost its answer (a restart or a \
             lost connection) had reached Zendesk"
                .into(),
        ),
        staged: serde_json::Value::Null,
        committed: Some(update),
    })
}
