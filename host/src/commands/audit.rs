//! `zendesk-gateway audit`: print the audit trail, what the AI did per run.

use crate::config::Config;
use crate::store::audit::AuditLog;
use anyhow::Context;
use std::sync::Arc;

/// The audit trail of the gateway `config` describes, for reading (blocking): the
/// PostgreSQL database when `gateway.database` names one, else the SQLite file in
/// `data_dir`, which must exist already. `audit` and `report` read through it, so on
/// a fleet they read the shared trail, never a stale local file.
pub(crate) fn open_audit(config: &Config) -> anyhow::Result<AuditLog> {
    let g = &config.gateway;
    match &g.database {
        Some(url) => {
            let db = crate::store::Database::postgres(url.expose(), g.database_tls, "audit", 1)
                .context("reading the audit trail from PostgreSQL")?;
            Arc::try_unwrap(db.audit)
                .map_err(|_| anyhow::anyhow!("the audit trail is shared unexpectedly"))
        }
        None => {
            let db = g.data_dir.join("gateway.db");
            anyhow::ensure!(
                db.exists(),
                "no gateway database at {} yet: has the gateway run with this config?",
                db.display()
            );
            AuditLog::open(&db).with_context(|| format!("reading {}", db.display()))
        }
    }
}

/// Prints at most `limit` records (of `ticket` only, if given) from the gateway's database.
pub fn run(path: &std::path::Path, ticket: Option<u64>, limit: usize) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let records = open_audit(&config)?.query(ticket, limit)?;
    if records.is_empty() {
        println!("no runs recorded");
    }
    for r in records {
        println!(
            "{}  ticket {:<6} {:<12} {:<10} {:<9} v{}  {}  {}",
            r.at,
            r.ticket_id,
            r.brand,
            r.environment,
            r.mode,
            r.plugin_version,
            r.outcome,
            r.reason
        );
    }
    Ok(())
}
