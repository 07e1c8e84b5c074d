//! Handling one ticket from the inbox, as separate steps: [`guard`] (the host's own
//! checks), the plugin [`run`], the [`commit`] of what it staged in one update, or the
//! [`hand_off`] to humans when anything went wrong. Each step returns what it found; this
//! module strings them together, retries on safe-update conflicts, and returns one
//! [`Report`] that the dispatcher records.
//!
//! Zendesk calls per handled ticket: at most one GET of the comments (with their
//! authors), one GET of the ticket, and one PUT.

pub mod commit;
pub mod guard;
pub mod hand_off;
pub mod put;
pub mod run;
pub mod settle;

use crate::config::Mode;
use crate::gateway::{BrandRuntime, EnvironmentRuntime, Gateway};
use crate::outcome::Outcome;
use crate::store::audit::AuditRecord;
use crate::store::inbox::Claimed;
use crate::zendesk::ZendeskError;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::capabilities::actions::staging::HANDOFF_ERROR_TAG;
pub use guard::{host_guard, human_guard, loop_guard};

/// What became of a claimed ticket: the audit record of the handling, and what the
/// inbox does with it next.
#[derive(Debug)]
pub struct Report {
    /// The record, ready for the audit trail.
    pub record: AuditRecord,
    /// What the inbox does with the ticket.
    pub next: Next,
}

/// What the inbox does with a ticket after a handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Done with it (until the next notification).
    Done,
    /// A passing failure: run it again after this delay.
    RetryAfter(Duration),
    /// Given up, and not even the hand-off could be written: keep it as a dead letter,
    /// visible on `/admin/dead-letters` and in the metrics, retryable by an operator.
    DeadLetter,
}

/// The ticket being handled and everything resolved for it.
pub(crate) struct Job<'a> {
    pub gw: &'a Gateway,
    pub claim: &'a Claimed,
    pub brand: Arc<BrandRuntime>,
    pub env: Arc<EnvironmentRuntime>,
    /// The brand's fields and business hours in this environment.
    pub account: Arc<crate::capabilities::BrandAccount>,
    pub ticket_id: u64,
    pub endpoint: &'a str,
    pub mode: Mode,
}

/// How one attempt at a ticket ended.
pub(crate) enum End {
    /// For good, with this outcome and reason.
    Finished(Outcome, String),
    /// Zendesk's safe update refused the commit: the ticket changed meanwhile.
    Conflict,
    /// A passing failure of the gateway's services (Zendesk's quota or outage, a slow
    /// or failing model): try again later.
    Transient(Transient),
}

/// A passing failure, and when the failing service asked to be called again.
#[derive(Debug, Clone)]
pub(crate) struct Transient {
    pub reason: String,
    pub retry_after: Option<Duration>,
}

impl From<ZendeskError> for Transient {
    fn from(e: ZendeskError) -> Self {
        Transient {
            retry_after: e.retry_after,
            reason: e.to_string(),
        }
    }
}

/// One attempt: how it ended, what the plugin staged (JSON, for the audit) and the
/// update that reached Zendesk, if one did.
pub(crate) struct Attempt {
    pub end: End,
    pub staged: serde_json::Value,
    /// The update that reached Zendesk (JSON), if one did.
    pub committed: Option<serde_json::Value>,
}

impl Attempt {
    fn ended(end: End) -> Attempt {
        Attempt {
            end,
            staged: serde_json::Value::Null,
            committed: None,
        }
    }
}

/// Handles one claimed ticket end to end.
pub async fn handle(gw: &Gateway, claimed: &Claimed) -> Report {
    let started = Instant::now();
    let n = &claimed.notification;
    let mut record = AuditRecord {
        at: String::new(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ticket_id: n.ticket_id,
        brand: String::new(),
        environment: n.environment.clone(),
        endpoint: n.endpoint.clone(),
        mode: String::new(),
        plugin_version: String::new(),
        outcome: Outcome::Failed,
        reason: String::new(),
        staged: serde_json::Value::Null,
        committed: None,
        duration_ms: 0,
        received_at: chrono::DateTime::from_timestamp_millis(claimed.received_at_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    };
    let (attempt, next) = match resolve(gw, claimed) {
        Err(reason) => (
            Attempt::ended(End::Finished(Outcome::Skipped, reason)),
            Next::Done,
        ),
        Ok(job) => {
            record.brand = job.brand.brand.name.clone();
            record.mode = job.mode.to_string();
            record.plugin_version = job.brand.plugin.version.clone();
            let span = tracing::Span::current();
            span.record("brand", job.brand.brand.name.as_str());
            span.record("plugin_version", job.brand.plugin.version.as_str());
            match settle::settle(&job).await {
                Some(settled) => (settled, Next::Done),
                None => attempts(&job, claimed.attempts).await,
            }
        }
    };
    let (outcome, reason) = match attempt.end {
        End::Finished(outcome, reason) => (outcome, reason),
        End::Transient(t) => match &next {
            Next::RetryAfter(wait) => (
                Outcome::Retry,
                format!("{}; will try again in {} s", t.reason, wait.as_secs()),
            ),
            _ => (
                Outcome::Failed,
                format!(
                    "{}; given up after {} attempts, and the hand-off could not be written: \
                     kept as a dead letter",
                    t.reason,
                    claimed.attempts + 1
                ),
            ),
        },
        End::Conflict => unreachable!("attempts() resolves conflicts"),
    };
    record.outcome = outcome;
    record.reason = reason;
    record.staged = attempt.staged;
    record.committed = attempt.committed.and_then(|u| serde_json::to_value(u).ok());
    record.at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    record.duration_ms = started.elapsed().as_millis() as u64;
    Report { record, next }
}

/// The endpoint, brand and environment of a notification, as the config has them now
/// (it may have changed since the notification was accepted).
fn resolve<'a>(gw: &'a Gateway, claimed: &'a Claimed) -> Result<Job<'a>, String> {
    let n = &claimed.notification;
    let config = gw.config();
    let Some(endpoint) = config.endpoints.get(&n.endpoint) else {
        return Err(format!(
            "endpoint {} no longer exists in the config",
            n.endpoint
        ));
    };
    let (Some(brand), Some(env)) = (gw.brand(&endpoint.brand), gw.environment(&n.environment))
    else {
        return Err(format!(
            "brand {} or environment {} is not loaded",
            endpoint.brand, n.environment
        ));
    };
    // An operator's Listening/Live switch (the console) wins over the config.
    let mode = gw.effective_mode(endpoint, &brand.brand);
    let account = gw.account(&endpoint.brand, &n.environment);
    Ok(Job {
        gw,
        claim: claimed,
        brand,
        env,
        account,
        ticket_id: n.ticket_id,
        endpoint: &n.endpoint,
        mode,
    })
}

/// Attempts the ticket, again on fresh data after each safe-update conflict, a bounded
/// number of times; conflicts past that are a passing failure like any other. A ticket
/// that keeps meeting passing failures is retried with backoff until `max_attempts` or
/// `max_retry_secs` since its first failure, then handed to humans; when even the
/// hand-off cannot be written it becomes a dead letter.
async fn attempts(job: &Job<'_>, earlier_attempts: u32) -> (Attempt, Next) {
    let limits = &job.brand.brand.limits;
    let mut conflicts = 0;
    let mut attempt = loop {
        let attempt = attempt(job).await;
        match attempt.end {
            End::Conflict if conflicts < limits.max_conflict_retries => {
                conflicts += 1;
                tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id, attempt = conflicts,
                    "ticket changed while the plugin ran (safe-update conflict); running again on fresh data");
            }
            End::Conflict => {
                let reason = format!(
                    "the ticket kept changing while the AI worked on it ({} safe-update conflicts in a row)",
                    conflicts + 1
                );
                let end = End::Transient(Transient {
                    reason,
                    retry_after: None,
                });
                break Attempt { end, ..attempt };
            }
            _ => break attempt,
        }
    };
    let End::Transient(t) = &attempt.end else {
        return (attempt, Next::Done);
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let failing_for = Duration::from_millis(
        (now_ms - job.claim.first_failure_at_ms.unwrap_or(now_ms)).max(0) as u64,
    );
    let out_of_attempts = earlier_attempts + 1 >= limits.max_attempts;
    let out_of_time = failing_for >= Duration::from_secs(limits.max_retry_secs);
    if !out_of_attempts && !out_of_time {
        let wait = t
            .retry_after
            .unwrap_or_else(|| retry_delay(earlier_attempts))
            .min(MAX_RETRY_DELAY);
        return (attempt, Next::RetryAfter(wait));
    }
    let why = format!(
        "{} (after {} attempts over {} min)",
        t.reason,
        earlier_attempts + 1,
        failing_for.as_secs() / 60
    );
    tracing::warn!(brand = %job.brand.brand.name, ticket = job.ticket_id, reason = %why,
        "giving up on the ticket after repeated passing failures; handing it to humans");
    let note = format!(
        "The AI could not handle this ticket: {}. It kept trying and gave up. Please take this ticket over.",
        why
    );
    let mut reads = crate::zendesk::ReadCache::default();
    let handed = hand_off::hand_off(job, &mut reads, &note, format!("given up: {why}")).await;
    attempt = Attempt {
        staged: attempt.staged,
        ..handed
    };
    match attempt.end {
        End::Finished(..) => (attempt, Next::Done),
        _ => (attempt, Next::DeadLetter),
    }
}

/// The longest wait between two attempts, whatever a service asked for.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Backoff between attempts of a ticket that met a passing failure: 5 s doubling to 5 min.
fn retry_delay(attempts: u32) -> Duration {
    Duration::from_secs((5u64 << attempts.min(6)).min(300))
}

/// One attempt: guard -> quarantine -> run -> commit, or hand-off.
async fn attempt(job: &Job<'_>) -> Attempt {
    let mut reads = crate::zendesk::ReadCache::default();
    if let Err(end) = guard::check(job, &mut reads).await {
        return Attempt::ended(end);
    }
    if let Some(why) = job
        .gw
        .quarantine()
        .holds(&job.brand.brand, &job.brand.plugin.version)
    {
        let note = format!(
            "The AI did not handle this ticket: {why}. It stays quarantined until a new version is deployed. \
             Please take this ticket over."
        );
        return hand_off::hand_off(job, &mut reads, &note, why).await;
    }
    let ran = match run::run(job, reads).await {
        run::Ran::Decided(decided) => decided,
        run::Ran::Ended(attempt) => return attempt,
    };
    commit::commit_decision(job, ran).await
}

/// The end of an attempt whose read of the ticket failed: later for a passing failure,
/// failed for good otherwise (a ticket deleted meanwhile, a permission).
pub(crate) fn read_failed(e: ZendeskError, job: &Job<'_>) -> End {
    if e.is_transient() {
        return End::Transient(e.into());
    }
    tracing::warn!(brand = %job.brand.brand.name, ticket = job.ticket_id, error = %e,
        "cannot read the ticket; nothing to do");
    let reason = match e.kind {
        crate::zendesk::ZendeskErrorKind::NotFound => {
            format!("ticket {} does not exist in Zendesk (404)", job.ticket_id)
        }
        _ => format!("cannot read the ticket: {e}"),
    };
    End::Finished(Outcome::Failed, reason)
}

/// An operator hands a dead letter to humans (the console): the hand-off step as the
/// gateway would have done it (an internal note, the error tag, the seat unassigned),
/// recorded in the audit; then the inbox forgets the ticket. `Err` says why the ticket
/// could not be handed off; it then stays a dead letter.
pub async fn hand_off_dead_letter(
    gw: &Gateway,
    dead: &crate::store::inbox::DeadLetter,
    by: &str,
) -> Result<(), String> {
    let started = Instant::now();
    // Not a claim of the inbox: the row stays dead (no worker takes it) while this runs.
    let claimed = Claimed {
        notification: crate::store::inbox::Notification {
            environment: dead.environment.clone(),
            ticket_id: dead.ticket_id,
            endpoint: dead.endpoint.clone(),
        },
        attempts: dead.attempts,
        claim_id: 0,
        first_failure_at_ms: None,
        intent: None,
        received_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let job = resolve(gw, &claimed)?;
    let note = format!(
        "The AI could not handle this ticket ({}); an operator ({by}) handed it to humans. \
         Please take this ticket over.",
        dead.reason
    );
    let reason = format!(
        "handed to humans by an operator ({by}) after: {}",
        dead.reason
    );
    let mut reads = crate::zendesk::ReadCache::default();
    let attempt = hand_off::hand_off(&job, &mut reads, &note, reason).await;
    let End::Finished(outcome, reason) = attempt.end else {
        return Err(format!(
            "Zendesk did not take the hand-off of ticket {} now; it stays a dead letter",
            dead.ticket_id
        ));
    };
    if attempt.committed.is_none() {
        return Err(reason);
    }
    let now = chrono::Utc::now();
    let began = now - chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    let record = AuditRecord {
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        started_at: began.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ticket_id: dead.ticket_id,
        brand: job.brand.brand.name.clone(),
        environment: dead.environment.clone(),
        endpoint: dead.endpoint.clone(),
        mode: job.mode.to_string(),
        plugin_version: job.brand.plugin.version.clone(),
        outcome,
        reason,
        staged: serde_json::Value::Null,
        committed: attempt.committed,
        duration_ms: started.elapsed().as_millis() as u64,
        received_at: None,
    };
    let audit = gw.audit.clone();
    tokio::task::spawn_blocking(move || audit.record(&record))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the hand-off was written but not recorded in the audit: {e:#}"))?;
    gw.inbox
        .discard_dead(&dead.environment, dead.ticket_id)
        .await
        .map_err(|e| format!("cannot forget the dead letter: {e:#}"))?;
    Ok(())
}
