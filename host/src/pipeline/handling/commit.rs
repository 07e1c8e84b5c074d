//! The commit step: everything the plugin staged, as one safe-update PUT against the
//! ticket as read (Listening Mode applied by staging). Zendesk refusing it hands off.

use super::put::{put, PutError};
use super::run::Decided;
use super::{hand_off, read_failed, Attempt, End, Job, Transient};
use crate::outcome::Outcome;
use crate::zendesk::{TicketUpdate, ZendeskError, ZendeskErrorKind};

/// Commits a plugin's decision.
pub(crate) async fn commit_decision(job: &Job<'_>, decided: Decided) -> Attempt {
    let Decided {
        outcome,
        reason,
        mut ctx,
    } = decided;
    let staged_json = super::run::audit_staged(&ctx);
    let done = |end: End, committed: Option<TicketUpdate>| Attempt {
        end,
        staged: staged_json.clone(),
        committed: committed.and_then(|u| serde_json::to_value(u).ok()),
    };
    if ctx.staged.is_empty() {
        return done(End::Finished(outcome, reason), None);
    }
    let ticket = match ctx.reads.ticket(&job.env.client, job.ticket_id).await {
        Ok(t) => t.clone(),
        Err(e) => return done(read_failed(e, job), None),
    };
    if ticket.status == "closed" {
        let why = "the ticket is closed; Zendesk does not allow changes".to_string();
        return done(End::Finished(Outcome::Skipped, why), None);
    }
    let brand = &job.brand.brand;
    let update = ctx
        .staged
        .to_update(&ticket, job.env.seat.id, job.mode, brand.listening_drafts);
    if update.is_empty() {
        return done(End::Finished(outcome, reason), None);
    }
    match put(job, &update).await {
        Ok(()) => done(End::Finished(outcome, reason), Some(update)),
        Err(PutError::NotRecorded(why)) => done(
            End::Transient(Transient {
                reason: why,
                retry_after: None,
            }),
            None,
        ),
        Err(PutError::Zendesk(e)) if e.kind == ZendeskErrorKind::Conflict => {
            done(End::Conflict, None)
        }
        Err(PutError::Zendesk(e)) if e.is_transient() => done(End::Transient(e.into()), None),
        Err(PutError::Zendesk(e)) => {
            // Zendesk refused what the plugin decided (a required field, a group the
            // seat is not in...): a human must look, with Zendesk's reason.
            let why = zendesk_refusal(&e);
            let note = format!(
                "The AI ({} plugin, version {}) could not update this ticket: Zendesk refused the change ({why}). \
                 Please take it over.",
                brand.name, job.brand.plugin.version
            );
            let reason = format!("Zendesk refused the update: {why}");
            let attempt = hand_off::hand_off(job, &mut ctx.reads, &note, reason).await;
            Attempt {
                staged: staged_json,
                ..attempt
            }
        }
    }
}

fn zendesk_refusal(e: &ZendeskError) -> String {
    if e.details.is_empty() {
        e.message.clone()
    } else {
        let details: Vec<String> = e.details.iter().map(|(f, d)| format!("{f}: {d}")).collect();
        format!("{}; {}", e.message, details.join("; "))
    }
}
