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
pub mod run;

use crate::config::Mode;
use crate::gateway::{BrandRuntime, EnvironmentRuntime, Gateway};
use crate::outcome::Outcome;
use crate::store::audit::AuditRecord;
use crate::store::inbox::Claimed;
use crate::zendesk::{TicketUpdate, ZendeskError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::capabilities::actions::staging::HANDOFF_ERROR_TAG;
pub use guard::{host_guard, human_guard, loop_guard};

/// What became of a claimed ticket: the audit record of the handling, and when to run
/// it again if it met a passing failure.
#[derive(Debug)]
pub struct Report {
    /// The record, ready for the audit trail.
    pub record: AuditRecord,
    /// `Some` when the ticket stays in the inbox and runs again after this delay.
    pub retry_after: Option<Duration>,
}

/// The ticket being handled and everything resolved for it.
pub(crate) struct Job<'a> {
    pub gw: &'a Gateway,
    pub brand: Arc<BrandRuntime>,
    pub env: Arc<EnvironmentRuntime>,
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
    /// A passing Zendesk failure (quota, outage): try again later.
    Transient(ZendeskError),
}

/// One attempt: how it ended, what the plugin staged (JSON, for the audit) and the
/// update that reached Zendesk, if one did.
pub(crate) struct Attempt {
    pub end: End,
    pub staged: serde_json::Value,
    pub committed: Option<TicketUpdate>,
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
    };
    let (attempt, retry_after) = match resolve(gw, claimed) {
        Err(reason) => (
            Attempt::ended(End::Finished(Outcome::Skipped, reason)),
            None,
        ),
        Ok(job) => {
            record.brand = job.brand.brand.name.clone();
            record.mode = job.mode.to_string();
            record.plugin_version = job.brand.plugin.version.clone();
            let span = tracing::Span::current();
            span.record("brand", job.brand.brand.name.as_str());
            span.record("plugin_version", job.brand.plugin.version.as_str());
            attempts(&job, claimed.attempts).await
        }
    };
    let (outcome, reason) = match attempt.end {
        End::Finished(outcome, reason) => (outcome, reason),
        End::Transient(e) => {
            let wait = retry_after.unwrap_or_default();
            (
                Outcome::Retry,
                format!("{e}; will try again in {} s", wait.as_secs()),
            )
        }
        End::Conflict => unreachable!("attempts() resolves conflicts"),
    };
    record.outcome = outcome;
    record.reason = reason;
    record.staged = attempt.staged;
    record.committed = attempt.committed.and_then(|u| serde_json::to_value(u).ok());
    record.at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    record.duration_ms = started.elapsed().as_millis() as u64;
    Report {
        record,
        retry_after,
    }
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
    let mode = endpoint.mode.unwrap_or(brand.brand.mode);
    Ok(Job {
        gw,
        brand,
        env,
        ticket_id: n.ticket_id,
        endpoint: &n.endpoint,
        mode,
    })
}

/// Attempts the ticket, again on fresh data after each safe-update conflict, a bounded
/// number of times. Returns the last attempt and, for a passing failure, the delay.
async fn attempts(job: &Job<'_>, earlier_attempts: u32) -> (Attempt, Option<Duration>) {
    let max_conflicts = job.brand.brand.limits.max_conflict_retries;
    let mut conflicts = 0;
    loop {
        let attempt = attempt(job).await;
        match attempt.end {
            End::Finished(..) => return (attempt, None),
            End::Conflict if conflicts < max_conflicts => {
                conflicts += 1;
                tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id, attempt = conflicts,
                    "ticket changed while the plugin ran (safe-update conflict); running again on fresh data");
            }
            End::Conflict => {
                let reason = format!(
                    "the ticket kept changing while the AI worked on it ({} safe-update conflicts)",
                    conflicts + 1
                );
                let end = End::Finished(Outcome::Skipped, reason);
                return (Attempt { end, ..attempt }, None);
            }
            End::Transient(ref e) => {
                let wait = e
                    .retry_after
                    .unwrap_or_else(|| retry_delay(earlier_attempts));
                return (attempt, Some(wait));
            }
        }
    }
}

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
        return End::Transient(e);
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
