//! The background task that applies `gateway.audit_retention_days`: at start and then
//! every hour, audit records older than that are deleted (store/retention.rs).

use crate::gateway::Gateway;
use std::sync::Arc;
use std::time::Duration;

/// How often the audit is pruned.
const EVERY: Duration = Duration::from_secs(3600);

/// Prunes now and every hour, for as long as the gateway runs. The setting is read
/// each time, so a reloaded config applies from the next round.
pub async fn run(gw: Arc<Gateway>) {
    loop {
        let days = gw.config().gateway.audit_retention_days;
        if days > 0 {
            let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
            let audit = gw.audit.clone();
            match tokio::task::spawn_blocking(move || audit.prune_before(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    gw.metrics.audit_pruned.inc_by(n);
                    tracing::info!(
                        records = n,
                        retention_days = days,
                        "pruned old audit records"
                    );
                }
                Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"),
                    "cannot prune old audit records; trying again in an hour"),
                Err(e) => tracing::warn!(error = %e, "the audit pruning task failed"),
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}
