//! Audit retention: records (which quote customer text) older than
//! `gateway.audit_retention_days` are deleted, in small batches so that the inbox's
//! writers never wait long for the database. The same on SQLite and on PostgreSQL
//! ([`super::audit::AuditStore::prune_batch`]); with replicas, any of them may prune:
//! deleting what another already deleted deletes nothing.

use super::audit::AuditLog;

/// Records deleted per transaction.
const BATCH: usize = 1000;

impl AuditLog {
    /// Deletes the records of runs that ended before `cutoff`; returns how many
    /// (blocking).
    pub fn prune_before(&self, cutoff: chrono::DateTime<chrono::Utc>) -> anyhow::Result<u64> {
        // `at` is written as RFC 3339 in UTC with milliseconds, so text order is time order.
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut total = 0u64;
        loop {
            let deleted = self.store().prune_batch(&cutoff, BATCH)?;
            total += deleted as u64;
            if deleted < BATCH {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::store::audit::AuditRecord;

    fn record(at: chrono::DateTime<chrono::Utc>, ticket_id: u64) -> AuditRecord {
        AuditRecord {
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            started_at: String::new(),
            ticket_id,
            brand: "b".into(),
            environment: "e".into(),
            endpoint: "ep".into(),
            mode: "live".into(),
            plugin_version: "v".into(),
            outcome: Outcome::Handled,
            reason: "r".into(),
            staged: serde_json::Value::Null,
            committed: None,
            duration_ms: 1,
            received_at: None,
        }
    }

    #[test]
    fn prunes_only_records_older_than_the_cutoff() {
        let dir = std::env::temp_dir().join(format!(
            "retention-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let log = AuditLog::open(&dir.join("gateway.db")).unwrap();
        let now = chrono::Utc::now();
        for t in 0..2500 {
            log.record(&record(now - chrono::Duration::days(100), t))
                .unwrap();
        }
        log.record(&record(now - chrono::Duration::days(1), 9999))
            .unwrap();
        let pruned = log.prune_before(now - chrono::Duration::days(90)).unwrap();
        assert_eq!(pruned, 2500);
        let left = log.query(None, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].ticket_id, 9999);
        let _ = std::fs::remove_dir_all(dir);
    }
}
