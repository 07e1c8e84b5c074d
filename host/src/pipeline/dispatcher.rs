//! Workers that take tickets from the inbox and handle them. Many tickets run in
//! parallel (up to `gateway.concurrency`); the inbox guarantees one run per ticket at a
//! time.

use crate::gateway::Gateway;
use crate::outcome::Outcome;
use crate::pipeline::handling::{handle, Next, Report};
use crate::store::audit::AuditRecord;
use crate::store::inbox::{Claimed, Finish};
use crate::telemetry::metrics::{BrandLabels, RunLabels};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Longest a worker sleeps without looking at the inbox (a backstop: new notifications
/// and due retries wake it sooner).
const IDLE_POLL: Duration = Duration::from_millis(500);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts `gateway.concurrency` workers. They stop once shutdown has begun and their
/// current ticket is done; tickets not yet started stay in the inbox.
pub fn spawn_workers(gw: Arc<Gateway>) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for worker in 0..gw.config().gateway.concurrency {
        let gw = gw.clone();
        set.spawn(async move { worker_loop(gw, worker).await });
    }
    set
}

/// Counts a worker that dies by a panic (outside a run: runs catch their own), so that
/// `/readyz` stops saying ready when tickets would be accepted and never handled.
struct Lifeline<'a> {
    gw: &'a Gateway,
    worker: usize,
}

impl Drop for Lifeline<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.gw.metrics.worker_deaths.inc();
            tracing::error!(
                worker = self.worker,
                "a worker died of a panic; the gateway reports unready (/readyz) until restarted"
            );
        }
    }
}

async fn worker_loop(gw: Arc<Gateway>, worker: usize) {
    let _lifeline = Lifeline { gw: &gw, worker };
    loop {
        if gw.is_shutting_down() {
            return;
        }
        // Register interest before looking, so a notification that lands between the
        // look and the wait still wakes us.
        let notified = gw.work_available.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match gw.inbox.claim(now_ms()).await {
            Ok(Some(c)) => {
                process(&gw, &c).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(worker, error = %format!("{e:#}"), "cannot read the inbox"),
        }
        let wait = match gw.inbox.next_due().await {
            Ok(Some(due)) => {
                Duration::from_millis((due - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64)
            }
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn process(gw: &Arc<Gateway>, claimed: &Claimed) {
    use tracing::Instrument;
    let n = &claimed.notification;
    // Every log line of this run carries these fields (JSON logs put them in `span`).
    let span = tracing::info_span!(
        "run",
        ticket = n.ticket_id,
        environment = %n.environment,
        endpoint = %n.endpoint,
        brand = tracing::field::Empty,
        plugin_version = tracing::field::Empty,
    );
    // The lease is renewed while the run lives, so a slow run keeps its ticket and a
    // dead worker's ticket is rescued by another claim once the lease runs out. A run
    // whose lease cannot be confirmed (the claim was rescued, or the database is out of
    // reach until the lease is nearly over) is stopped: another replica may take the
    // ticket once the lease runs out, and two runs of one ticket must never overlap.
    let lease = gw.inbox.lease();
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let renewal = {
        let gw = gw.clone();
        let claimed = claimed.clone();
        tokio::spawn(async move {
            let mut confirmed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(lease / 3).await;
                match gw.inbox.renew(&claimed, now_ms()).await {
                    Ok(true) => confirmed = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::warn!(
                            ticket = claimed.notification.ticket_id,
                            environment = %claimed.notification.environment,
                            "the ticket's claim was lost (its lease ran out); another run took it: stopping this run"
                        );
                        let _ = lost_tx.send(());
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(ticket = claimed.notification.ticket_id,
                            error = %format!("{e:#}"), "cannot renew a claim's lease");
                        // The next renewal would come after the lease ran out.
                        if confirmed.elapsed() + lease / 3 >= lease * 5 / 6 {
                            tracing::warn!(
                                ticket = claimed.notification.ticket_id,
                                environment = %claimed.notification.environment,
                                "the claim's lease runs out unrenewed: stopping this run, the ticket stays in the inbox"
                            );
                            let _ = lost_tx.send(());
                            return;
                        }
                    }
                }
            }
        })
    };
    // A panic anywhere in a run (a bug, in the gateway or a library) must not kill the
    // worker with the ticket still claimed: it is caught, counted and retried.
    let run = async {
        let handled = AssertUnwindSafe(handle(gw, claimed).instrument(span.clone()))
            .catch_unwind()
            .await;
        match handled {
            Ok(report) => report,
            Err(panic) => span.in_scope(|| panicked(gw, claimed, panic_message(panic.as_ref()))),
        }
    };
    tokio::select! {
        // Recorded while the lease is still renewed.
        report = run => record_until_done(gw, claimed, &report).await,
        Ok(()) = lost_rx => {
            // Nothing is recorded: the claim is no longer ours to finish. An update the
            // run may have sent was recorded as its intent and is settled by the next run.
            gw.metrics.bookkeeping_failures.inc();
        }
    }
    renewal.abort();
}

/// Records a report, retrying while the database refuses (disk full, a lock held past
/// the busy timeout): the lease is still renewed meanwhile. Gives up only when the
/// gateway stops; the ticket's lease then runs out and it is rescued, and the guards
/// keep a second reply from being sent.
async fn record_until_done(gw: &Arc<Gateway>, claimed: &Claimed, report: &Report) {
    let mut wait = Duration::from_millis(100);
    loop {
        let gw2 = gw.clone();
        let c = claimed.clone();
        let r = Report {
            record: report.record.clone(),
            next: report.next.clone(),
        };
        let result = tokio::task::spawn_blocking(move || record(&gw2, &c, &r)).await;
        match result.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(()) => return,
            Err(e) => {
                gw.metrics.bookkeeping_failures.inc();
                tracing::error!(ticket = claimed.notification.ticket_id, error = %format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64, "cannot record the end of a run; retrying");
            }
        }
        if gw.is_shutting_down() {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// The text of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Wait before running a ticket again after a panic: 30 s doubling to 8 min, so a
/// ticket that panics every time does not spin a worker.
fn panic_retry_delay(attempts: u32) -> Duration {
    Duration::from_secs((30u64 << attempts.min(4)).min(480))
}

/// The report of a run that panicked: retried later, audited as `retry` with the panic.
fn panicked(gw: &Gateway, claimed: &Claimed, message: String) -> Report {
    gw.metrics.run_panics.inc();
    let n = &claimed.notification;
    let brand = gw
        .config()
        .endpoints
        .get(&n.endpoint)
        .map(|e| e.brand.clone())
        .unwrap_or_default();
    let wait = panic_retry_delay(claimed.attempts);
    // Bounded: a panic message may quote data of any size.
    let message: String = message.chars().take(500).collect();
    tracing::error!(ticket = n.ticket_id, %brand, panic = %message, retry_in_secs = wait.as_secs(),
        "the gateway panicked while handling a ticket (a bug); the ticket is retried, the worker lives on");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Report {
        record: AuditRecord {
            at: now.clone(),
            started_at: now,
            ticket_id: n.ticket_id,
            brand,
            environment: n.environment.clone(),
            endpoint: n.endpoint.clone(),
            mode: String::new(),
            plugin_version: String::new(),
            outcome: Outcome::Retry,
            reason: format!(
                "the gateway panicked while handling the ticket ({message}); will try again in {} s",
                wait.as_secs()
            ),
            staged: serde_json::Value::Null,
            committed: None,
            duration_ms: 0,
            received_at: chrono::DateTime::from_timestamp_millis(claimed.received_at_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        },
        next: Next::RetryAfter(wait),
    }
}

/// Records a report: the inbox learns the ticket is done (or when to retry, or that it
/// is a dead letter) and the audit trail gets the run, in one transaction; then the
/// metrics. Blocking: runs off the async threads.
fn record(gw: &Gateway, claimed: &Claimed, report: &Report) -> anyhow::Result<()> {
    let record = &report.record;
    let now = now_ms();
    let how = match &report.next {
        Next::Done => Finish::Done,
        Next::RetryAfter(wait) => Finish::RetryAt {
            at_ms: now + wait.as_millis() as i64,
            reason: record.reason.clone(),
        },
        Next::DeadLetter => Finish::Dead {
            reason: record.reason.clone(),
        },
    };
    gw.inbox.finish_blocking(claimed, &how, record, now)?;
    if report.next == Next::DeadLetter {
        gw.metrics.dead_letters.inc();
    }
    let brand = if record.brand.is_empty() {
        "unknown"
    } else {
        record.brand.as_str()
    };
    gw.metrics
        .runs
        .get_or_create(&RunLabels {
            brand: brand.to_string(),
            outcome: record.outcome.to_string(),
        })
        .inc();
    gw.metrics
        .run_duration
        .get_or_create(&BrandLabels {
            brand: brand.to_string(),
        })
        .observe(record.duration_ms as f64 / 1000.0);
    // Another notification may have come in during the run.
    gw.work_available.notify_one();
    Ok(())
}
