//! The run step: the brand's plugin on the ticket, in a fresh sandbox, with the reads the
//! guard already made. A plugin failure hands the ticket off here; a decision goes on to
//! the commit.

use super::{hand_off, Attempt, End, Job, Transient};
use crate::capabilities::RunContext;
use crate::outcome::Outcome;
use crate::runtime::run::{run_on_plugin_threads, RunFailure, RunRequest};
use crate::zendesk::ReadCache;

/// The longest reason written into one log line, in bytes (the audit keeps more).
const LOG_REASON_BYTES: usize = 512;

/// What the run step produced. (Moved once per run, never stored: the size difference
/// between the variants costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Ran {
    /// The plugin decided; what it staged waits in `ctx`.
    Decided(Decided),
    /// The attempt ended here (a failure handed off, or a passing Zendesk failure).
    Ended(Attempt),
}

/// A plugin's decision and the run's state.
pub(crate) struct Decided {
    pub outcome: Outcome,
    pub reason: String,
    pub ctx: RunContext,
}

/// Runs the plugin; counts the run towards quarantine.
pub(crate) async fn run(job: &Job<'_>, reads: ReadCache) -> Ran {
    let brand = &job.brand.brand;
    let plugin = job.brand.plugin.clone();
    let mut context = RunContext::new(
        job.ticket_id,
        brand.clone(),
        plugin.version.clone(),
        job.env.client.clone(),
        job.env.seat.clone(),
        job.brand.capabilities.clone(),
    );
    context.reads = reads;
    // Requests that change something reach the brand's systems only in a live run.
    context.http.listening = job.mode != crate::config::Mode::Live;
    context.account = job.account.clone();
    let request = RunRequest {
        environment: job.env.config.name.clone(),
        endpoint: job.endpoint.to_string(),
        mode: job.mode,
    };
    let result = run_on_plugin_threads(plugin.clone(), context, request).await;
    let mut ctx = result.context;
    // Only the plugin's own faults count towards quarantine; a run that ended because
    // Zendesk or the model failed says nothing about the plugin.
    let plugin_fault = match &result.outcome {
        Err(failure) => failure.is_plugin_fault(ctx.host_call_failed),
        Ok(_) => false,
    };
    if ctx.service_failure.is_none() || plugin_fault {
        job.gw
            .quarantine()
            .count_run(brand, &plugin.version, plugin_fault);
    }
    let staged = audit_staged(&ctx);
    let refusals = if ctx.refusals.is_empty() {
        String::new()
    } else {
        let more = match ctx.refusals_dropped {
            0 => String::new(),
            n => format!("; and {n} more"),
        };
        let joined = ctx.refusals.join("; ");
        format!(" (refused: {}{more})", crate::runtime::run::bounded(joined))
    };
    if ctx.dropped_log_lines > 0 {
        tracing::warn!(brand = %brand.name, ticket = job.ticket_id, dropped = ctx.dropped_log_lines,
            "plugin log lines over the limit were dropped");
    }
    let gateway_failure = match (&result.outcome, ctx.service_failure.take()) {
        (Err(f), _) if f.is_gateways() => Some(Transient {
            reason: f.describe(),
            retry_after: None,
        }),
        (_, Some(f)) if !plugin_fault => Some(Transient {
            reason: f.message,
            retry_after: f.retry_after,
        }),
        _ => None,
    };
    if let Some(t) = gateway_failure {
        tracing::info!(brand = %brand.name, ticket = job.ticket_id, plugin_version = %plugin.version,
            reason = %t.reason, "the run met a passing failure of the gateway's services; it runs again later");
        return Ran::Ended(Attempt {
            end: End::Transient(t),
            staged,
            committed: None,
        });
    }
    let (outcome, reason) = match result.outcome {
        Ok(decision) => {
            let (outcome, reason) = decision.into_parts();
            (outcome, reason + &refusals)
        }
        Err(failure) => {
            tracing::warn!(brand = %brand.name, ticket = job.ticket_id, plugin_version = %plugin.version,
                failure = failure.kind(), elapsed_ms = result.elapsed.as_millis() as u64,
                "plugin run failed: {}; handing the ticket to humans",
                crate::text::truncate(&failure.describe(), LOG_REASON_BYTES));
            let reason = failure.describe() + &refusals;
            let note = failure_note(job, &failure);
            let attempt = hand_off::hand_off(job, &mut ctx.reads, &note, reason).await;
            return Ran::Ended(Attempt { staged, ..attempt });
        }
    };
    tracing::info!(brand = %brand.name, ticket = job.ticket_id, plugin_version = %plugin.version,
        outcome = %outcome, elapsed_ms = result.elapsed.as_millis() as u64,
        "{}", crate::text::truncate(&reason, LOG_REASON_BYTES));
    Ran::Decided(Decided {
        outcome,
        reason,
        ctx,
    })
}

/// What a run did, for the audit record: what it staged and, when it called the brand's
/// own systems, each call (method, origin, path without query values, status, time,
/// bytes).
pub(crate) fn audit_staged(ctx: &RunContext) -> serde_json::Value {
    let mut staged = serde_json::to_value(&ctx.staged).unwrap_or_default();
    let http_calls = ctx.http.calls();
    if let (false, Some(object)) = (http_calls.is_empty(), staged.as_object_mut()) {
        object.insert(
            "http_calls".into(),
            serde_json::to_value(&http_calls).unwrap_or_default(),
        );
    }
    staged
}

fn failure_note(job: &Job<'_>, failure: &RunFailure) -> String {
    format!(
        "The AI could not handle this ticket: the {} plugin (version {}) failed because {}. \
         Nothing it prepared was sent. Please take this ticket over.",
        job.brand.brand.name,
        job.brand.plugin.version,
        failure.describe()
    )
}
