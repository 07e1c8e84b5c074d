//! Workers that take tickets from the inbox and handle them. Many tickets run in
//! parallel (up to `gateway.concurrency`); the inbox guarantees one run per ticket at a
//! time.

use crate::gateway::Gateway;
use crate::pipeline::handling::{handle, Report};
use crate::store::inbox::Claimed;
use crate::telemetry::metrics::{BrandLabels, RunLabels};
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

async fn worker_loop(gw: Arc<Gateway>, worker: usize) {
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
    let report = handle(gw, claimed).instrument(span).await;
    let gw2 = gw.clone();
    let claimed = claimed.clone();
    let result = tokio::task::spawn_blocking(move || record(&gw2, &claimed, &report)).await;
    if let Err(e) = result.map_err(anyhow::Error::from).and_then(|r| r) {
        tracing::error!(error = %format!("{e:#}"), "cannot record the end of a run in the inbox");
    }
}

/// Records a report: the inbox learns the ticket is done (or when to retry), the audit
/// trail and the metrics get the run. Blocking: runs off the async threads.
fn record(gw: &Gateway, claimed: &Claimed, report: &Report) -> anyhow::Result<()> {
    let record = &report.record;
    match report.retry_after {
        None => gw.inbox.complete_blocking(claimed)?,
        Some(wait) => {
            let at = now_ms() + wait.as_millis() as i64;
            gw.inbox.retry_blocking(claimed, at, &record.reason)?
        }
    }
    gw.audit.record(record)?;
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
