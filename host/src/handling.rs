//! Handling one ticket from the inbox: the loop guard, the plugin run, and the one
//! commit to Zendesk (or the hand-off to humans when anything went wrong).
//!
//! Zendesk calls per handled ticket: at most one GET of the comments (with their
//! authors), one GET of the ticket, and one PUT.

use crate::audit::AuditRecord;
use crate::gateway::{BrandRuntime, EnvironmentRuntime, Gateway};
use crate::inbox::Claimed;
use crate::runtime::host::{ReadCache, RunContext};
use crate::runtime::run::{run_plugin, RunFailure, RunOutcome, RunRequest};
use crate::zendesk::{Comment, TicketUpdate, TicketUpdateComment, ZendeskError, ZendeskErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tag put on tickets the gateway hands to humans because the plugin or Zendesk failed.
pub const HANDOFF_ERROR_TAG: &str = "ai_handoff_error";

/// What became of a claimed ticket.
#[derive(Debug)]
pub enum Disposition {
    /// Finished (handled, handed off, skipped or failed for good).
    Done(Box<AuditRecord>),
    /// A passing failure (Zendesk quota or outage): run it again after this delay.
    RetryAfter(Duration, Box<AuditRecord>),
}

/// Handles one claimed ticket end to end.
pub async fn handle(gw: &Gateway, claimed: &Claimed) -> Disposition {
    let started = Instant::now();
    let n = &claimed.notification;
    let config = gw.config();
    let mut record = AuditRecord {
        at: String::new(),
        ticket_id: n.ticket_id,
        brand: String::new(),
        environment: n.environment.clone(),
        endpoint: n.endpoint.clone(),
        mode: String::new(),
        plugin_version: String::new(),
        outcome: "failed".into(),
        reason: String::new(),
        staged: serde_json::Value::Null,
        committed: None,
        duration_ms: 0,
    };
    let finish = |mut record: AuditRecord, outcome: &str, reason: String| {
        record.outcome = outcome.to_string();
        record.reason = reason;
        record.at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        record.duration_ms = started.elapsed().as_millis() as u64;
        record
    };

    // The config may have changed since the notification was accepted.
    let Some(endpoint) = config.endpoints.get(&n.endpoint) else {
        let r = finish(
            record,
            "skipped",
            format!("endpoint {} no longer exists in the config", n.endpoint),
        );
        return Disposition::Done(Box::new(r));
    };
    let (Some(brand_rt), Some(env)) = (gw.brand(&endpoint.brand), gw.environment(&n.environment))
    else {
        let r = finish(
            record,
            "skipped",
            format!(
                "brand {} or environment {} is not loaded",
                endpoint.brand, n.environment
            ),
        );
        return Disposition::Done(Box::new(r));
    };
    let mode = endpoint.mode.unwrap_or(brand_rt.brand.mode);
    let span = tracing::Span::current();
    span.record("brand", brand_rt.brand.name.as_str());
    span.record("plugin_version", brand_rt.plugin.version.as_str());
    record.brand = brand_rt.brand.name.clone();
    record.mode = mode.to_string();
    record.plugin_version = brand_rt.plugin.version.clone();

    let max_conflicts = brand_rt.brand.limits.max_conflict_retries;
    let mut conflicts = 0;
    loop {
        match attempt(
            gw,
            &brand_rt,
            &env,
            n.ticket_id,
            &n.endpoint,
            mode,
            &mut record,
        )
        .await
        {
            Attempt::Finished(outcome, reason) => {
                return Disposition::Done(Box::new(finish(record, outcome, reason)));
            }
            Attempt::Conflict if conflicts < max_conflicts => {
                conflicts += 1;
                tracing::info!(brand = %record.brand, ticket = n.ticket_id, attempt = conflicts,
                    "ticket changed while the plugin ran (safe-update conflict); running again on fresh data");
            }
            Attempt::Conflict => {
                let reason = format!(
                    "the ticket kept changing while the AI worked on it ({} safe-update conflicts)",
                    conflicts + 1
                );
                return Disposition::Done(Box::new(finish(record, "skipped", reason)));
            }
            Attempt::Transient(e) => {
                let wait = e
                    .retry_after
                    .unwrap_or_else(|| retry_delay(claimed.attempts));
                let r = finish(
                    record,
                    "retry",
                    format!("{e}; will try again in {} s", wait.as_secs()),
                );
                return Disposition::RetryAfter(wait, Box::new(r));
            }
        }
    }
}

/// Backoff between attempts of a ticket that met a passing failure: 5 s doubling to 5 min.
fn retry_delay(attempts: u32) -> Duration {
    Duration::from_secs((5u64 << attempts.min(6)).min(300))
}

enum Attempt {
    Finished(&'static str, String),
    Conflict,
    Transient(ZendeskError),
}

async fn attempt(
    gw: &Gateway,
    brand_rt: &Arc<BrandRuntime>,
    env: &Arc<EnvironmentRuntime>,
    ticket_id: u64,
    endpoint: &str,
    mode: crate::config::Mode,
    record: &mut crate::audit::AuditRecord,
) -> Attempt {
    let brand = &brand_rt.brand;
    let plugin = brand_rt.plugin.clone();
    let client = &env.client;
    let mut reads = ReadCache::default();

    // Loop guard, enforced by the host whatever the plugin does: never answer our own
    // comments, never answer the same customer message twice.
    // Nor talk over a human agent who has taken the conversation.
    match reads.comments(client, ticket_id).await {
        Ok(_) => {
            if let Some(reason) = host_guard(&reads, env.seat.id) {
                tracing::info!(brand = %brand.name, ticket = ticket_id, "{reason}; skipped");
                return Attempt::Finished("skipped", reason);
            }
        }
        Err(e) => return zendesk_read_failed(e, brand, ticket_id),
    }

    // A plugin version that keeps failing is not run again until a new one is loaded.
    let quarantine_after = brand.limits.quarantine_after;
    let in_a_row = gw.failures_in_a_row(&brand.name, &plugin.version);
    if quarantine_after > 0 && in_a_row >= quarantine_after {
        let why = format!(
            "the {} plugin (version {}) is quarantined after {in_a_row} failed runs in a row",
            brand.name, plugin.version
        );
        let note = format!(
            "The AI did not handle this ticket: {why}. It stays quarantined until a new version is deployed. \
             Please take this ticket over."
        );
        return hand_off(env, &mut reads, ticket_id, record, &note, why).await;
    }

    let mut context = RunContext::new(
        ticket_id,
        brand.clone(),
        plugin.version.clone(),
        client.clone(),
        env.seat.clone(),
        brand_rt.capabilities.clone(),
    );
    context.reads = reads;
    let request = RunRequest {
        environment: env.config.name.clone(),
        endpoint: endpoint.to_string(),
        mode,
    };
    let result = run_plugin(&plugin, context, &request).await;
    let failures = gw.count_run(&brand.name, &plugin.version, result.outcome.is_err());
    if quarantine_after > 0 && failures == quarantine_after {
        tracing::error!(brand = %brand.name, plugin_version = %plugin.version, failures,
            "plugin quarantined: its tickets go to humans until a new version is loaded");
    }
    let mut ctx = result.context;
    record.staged = serde_json::to_value(&ctx.staged).unwrap_or_default();
    let refusals = if ctx.refusals.is_empty() {
        String::new()
    } else {
        format!(" (refused: {})", ctx.refusals.join("; "))
    };
    if ctx.dropped_log_lines > 0 {
        tracing::warn!(brand = %brand.name, ticket = ticket_id, dropped = ctx.dropped_log_lines,
            "plugin log lines over the limit were dropped");
    }
    if let Some(e) = ctx.transient_failure.take() {
        return Attempt::Transient(e);
    }
    let (outcome, reason, staged) = match result.outcome {
        Ok(RunOutcome::Handled(r)) => ("handled", r + &refusals, ctx.staged.clone()),
        Ok(RunOutcome::HandedOff(r)) => ("handed_off", r + &refusals, ctx.staged.clone()),
        Ok(RunOutcome::Skipped(r)) => ("skipped", r + &refusals, ctx.staged.clone()),
        Err(failure) => {
            tracing::warn!(brand = %brand.name, ticket = ticket_id, plugin_version = %plugin.version,
                failure = failure.kind(), elapsed_ms = result.elapsed.as_millis() as u64,
                "plugin run failed: {}; handing the ticket to humans", failure.describe());
            let reason = failure.describe() + &refusals;
            return hand_off(
                env,
                &mut ctx.reads,
                ticket_id,
                record,
                &failure_note(brand_rt, &failure),
                reason,
            )
            .await;
        }
    };
    tracing::info!(brand = %brand.name, ticket = ticket_id, plugin_version = %plugin.version, outcome,
        elapsed_ms = result.elapsed.as_millis() as u64, "{reason}");
    if staged.is_empty() {
        return Attempt::Finished(outcome, reason);
    }
    let ticket = match ctx.reads.ticket(client, ticket_id).await {
        Ok(t) => t.clone(),
        Err(e) => return zendesk_read_failed(e, brand, ticket_id),
    };
    if ticket.status == "closed" {
        return Attempt::Finished(
            "skipped",
            "the ticket is closed; Zendesk does not allow changes".into(),
        );
    }
    let update = staged.to_update(&ticket, env.seat.id, mode, brand.listening_drafts);
    if update.is_empty() {
        return Attempt::Finished(outcome, reason);
    }
    match commit(env, ticket_id, &update, record).await {
        Ok(()) => Attempt::Finished(outcome, reason),
        Err(e) if e.kind == ZendeskErrorKind::Conflict => Attempt::Conflict,
        Err(e) if e.is_transient() => Attempt::Transient(e),
        Err(e) => {
            // Zendesk refused what the plugin decided (a required field, a group the
            // seat is not in...): a human must look, with Zendesk's reason.
            let why = zendesk_refusal(&e);
            let note = format!(
                "The AI ({} plugin, version {}) could not update this ticket: Zendesk refused the change ({why}). \
                 Please take it over.",
                brand.name, plugin.version
            );
            hand_off(
                env,
                &mut ctx.reads,
                ticket_id,
                record,
                &note,
                format!("Zendesk refused the update: {why}"),
            )
            .await
        }
    }
}

/// The reason the host skips a run whatever the plugin would do, judged on the comments
/// (and their sideloaded authors) already read: [`loop_guard`], then [`human_guard`].
pub fn host_guard(reads: &ReadCache, seat_id: u64) -> Option<String> {
    let comments = reads.comments_if_read()?;
    loop_guard(comments, seat_id).or_else(|| {
        human_guard(comments, seat_id, |id| {
            reads.user_if_read(id).map(|u| u.role.clone())
        })
    })
}

/// The reason to skip a run because a human agent has taken the conversation over: the
/// newest public comment is by an agent or admin other than the seat, answering in a
/// conversation someone else started. The ticket is theirs; the AI does not talk over
/// them. (A ticket an agent opened publicly on a customer's behalf, whose only public
/// comment is the agent's, is still the AI's to handle.) `role_of` gives an author's
/// role when known; an author of unknown role counts as a customer.
pub fn human_guard(
    comments: &[Comment],
    seat_id: u64,
    role_of: impl Fn(u64) -> Option<String>,
) -> Option<String> {
    let public: Vec<&Comment> = comments.iter().filter(|c| c.public).collect();
    let (last, earlier) = public.split_last()?;
    if last.author_id == seat_id || earlier.is_empty() {
        return None;
    }
    let role = role_of(last.author_id)?;
    (role == "agent" || role == "admin").then(|| {
        format!(
            "a human agent (user {}) wrote the newest public comment (comment {}); the ticket is theirs",
            last.author_id, last.id
        )
    })
}

/// The reason to skip a run, if the AI already had the last word: the newest public
/// comment is the seat's, or the seat wrote (a reply or a listening-mode draft) after
/// the newest customer message.
pub fn loop_guard(comments: &[Comment], seat_id: u64) -> Option<String> {
    let last_public = comments.iter().rev().find(|c| c.public)?;
    if last_public.author_id == seat_id {
        return Some("the newest public comment was written by the AI seat".into());
    }
    let answered = comments
        .iter()
        .rev()
        .take_while(|c| c.id != last_public.id)
        .any(|c| c.author_id == seat_id);
    answered.then(|| {
        format!(
            "the AI already responded to the newest customer message (comment {})",
            last_public.id
        )
    })
}

async fn commit(
    env: &EnvironmentRuntime,
    ticket_id: u64,
    update: &TicketUpdate,
    record: &mut AuditRecord,
) -> Result<(), ZendeskError> {
    let result = env.client.update_ticket(ticket_id, update).await;
    if result.is_ok() {
        record.committed = serde_json::to_value(update).ok();
    }
    result.map(|_| ())
}

fn zendesk_refusal(e: &ZendeskError) -> String {
    if e.details.is_empty() {
        e.message.clone()
    } else {
        let details: Vec<String> = e.details.iter().map(|(f, d)| format!("{f}: {d}")).collect();
        format!("{}; {}", e.message, details.join("; "))
    }
}

fn failure_note(brand_rt: &BrandRuntime, failure: &RunFailure) -> String {
    format!(
        "The AI could not handle this ticket: the {} plugin (version {}) failed because {}. \
         Nothing it prepared was sent. Please take this ticket over.",
        brand_rt.brand.name,
        brand_rt.plugin.version,
        failure.describe()
    )
}

fn zendesk_read_failed(e: ZendeskError, brand: &crate::config::Brand, ticket_id: u64) -> Attempt {
    if e.is_transient() {
        return Attempt::Transient(e);
    }
    tracing::warn!(brand = %brand.name, ticket = ticket_id, error = %e, "cannot read the ticket; nothing to do");
    let reason = match e.kind {
        ZendeskErrorKind::NotFound => format!("ticket {ticket_id} does not exist in Zendesk (404)"),
        _ => format!("cannot read the ticket: {e}"),
    };
    Attempt::Finished("failed", reason)
}

/// Hands the ticket to humans: an internal note saying why, the error tag, and the AI
/// seat unassigned if it holds the ticket. One PUT, safe update; nothing the plugin
/// staged is sent.
async fn hand_off(
    env: &EnvironmentRuntime,
    reads: &mut ReadCache,
    ticket_id: u64,
    record: &mut AuditRecord,
    note: &str,
    reason: String,
) -> Attempt {
    let ticket = match reads.ticket(&env.client, ticket_id).await {
        Ok(t) => t.clone(),
        Err(e) if e.is_transient() => return Attempt::Transient(e),
        Err(e) => {
            return Attempt::Finished("failed", format!("{reason}; and the hand-off failed: {e}"))
        }
    };
    let mut tags = ticket.tags.clone();
    if !tags.iter().any(|t| t == HANDOFF_ERROR_TAG) {
        tags.push(HANDOFF_ERROR_TAG.to_string());
    }
    let update = TicketUpdate {
        comment: Some(TicketUpdateComment {
            body: note.to_string(),
            public: false,
        }),
        assignee_id: (ticket.assignee_id == Some(env.seat.id)).then_some(None),
        tags: Some(tags),
        safe_update: Some(true),
        updated_stamp: ticket.updated_at.clone(),
        ..Default::default()
    };
    match commit(env, ticket_id, &update, record).await {
        Ok(()) => Attempt::Finished("failed", reason),
        Err(e) if e.kind == ZendeskErrorKind::Conflict => Attempt::Conflict,
        Err(e) if e.is_transient() => Attempt::Transient(e),
        Err(e) => Attempt::Finished("failed", format!("{reason}; and the hand-off failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(id: u64, author_id: u64, public: bool) -> Comment {
        Comment {
            id,
            author_id,
            body: Some("text".into()),
            plain_body: None,
            public,
            created_at: None,
        }
    }

    const SEAT: u64 = 1;
    const CUSTOMER: u64 = 7;
    const AGENT: u64 = 9;

    fn role(id: u64) -> Option<String> {
        Some(if id == AGENT { "agent" } else { "end-user" }.to_string())
    }

    #[test]
    fn human_guard_skips_only_when_an_agent_joined_the_conversation() {
        let agent_replied = [said(1, CUSTOMER, true), said(2, AGENT, true)];
        assert!(human_guard(&agent_replied, SEAT, role)
            .is_some_and(|r| r.contains("human agent (user 9)")));
        // Opened by an agent for a customer: the agent's comment is the only public one.
        assert!(human_guard(&[said(1, AGENT, true)], SEAT, role).is_none());
        // An agent's internal note is not a reply to the customer.
        let noted = [said(1, CUSTOMER, true), said(2, AGENT, false)];
        assert!(human_guard(&noted, SEAT, role).is_none());
        // The customer spoke last.
        let answered = [
            said(1, CUSTOMER, true),
            said(2, AGENT, true),
            said(3, CUSTOMER, true),
        ];
        assert!(human_guard(&answered, SEAT, role).is_none());
        // Unknown author roles count as customers.
        assert!(human_guard(&agent_replied, SEAT, |_| None).is_none());
    }
}
