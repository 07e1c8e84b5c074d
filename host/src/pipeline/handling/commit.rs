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
    let on_solve: Vec<(u64, serde_json::Value)> = job
        .account
        .fields
        .on_solve
        .iter()
        .map(|(f, v)| (f.field.id, v.clone()))
        .collect();
    let update = ctx.staged.to_update(
        &ticket,
        job.env.seat.id,
        job.mode,
        brand.listening_drafts,
        &on_solve,
    );
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
            let why = name_fields(job, &zendesk_refusal(&e)).await;
            let fix = if why.contains("(\"") && update.status.as_deref() == Some("solved") {
                format!(
                    " To let the AI solve such tickets, give the field a default in [brands.{}.fields] on_solve \
                     (or let the plugin set it: [brands.{}.fields] allowed).",
                    brand.name, brand.name
                )
            } else {
                String::new()
            };
            let note = format!(
                "The AI ({} plugin, version {}) could not update this ticket: Zendesk refused the change ({why}). \
                 Please take it over.{fix}",
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

/// Zendesk's refusal with each field id it mentions followed by the field's name, so
/// the agent reading the hand-off knows which field to fill. The brand's resolved
/// fields know the names; without them the ticket fields are read once (this is a
/// rare path: a refused commit).
async fn name_fields(job: &Job<'_>, why: &str) -> String {
    let mentions_id = why
        .split(|c: char| !c.is_ascii_digit())
        .any(|d| d.len() >= 3);
    if !mentions_id {
        return why.to_string();
    }
    let named = job.account.catalog.name_ids_in(why);
    if named != why {
        return named;
    }
    match job.env.client.ticket_fields().await {
        Ok(fields) => {
            crate::capabilities::fields::FieldCatalog::new(fields, Vec::new()).name_ids_in(why)
        }
        Err(e) => {
            tracing::warn!(brand = %job.brand.brand.name, ticket = job.ticket_id, error = %e,
                "cannot read the ticket fields to name the field Zendesk refused");
            why.to_string()
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
